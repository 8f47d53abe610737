"""The waiting-room number display (issue 5).

    settings.py   the device's [display] section, validated
    model.py      what the screen shows, as plain data: calls, highlight, zones, staleness
    announce.py   the spoken call: chime, then Finnish, Swedish (and English) through uikit.speech
    hub_link.py   the only module that knows how the hub's live messages arrive
    app.py        the Kivy screen (landscape or portrait)

Everything but app.py runs without Kivy, so the logic is tested without a window.
"""

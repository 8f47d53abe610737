"""The check-in kiosk: a Kivy app at the entrance that hands out numbers and checks in bookings.

    flow.py      the screen flow as a pure state machine (no Kivy, no network): tested on its own
    texts.py     what each screen says (and what speech reads out), through gettext domain "kiosk"
    settings.py  the [kiosk] section of the device configuration
    hub_link.py  the only module that talks to the hub (bus.hubclient), off the UI thread
    printing.py  the printer worker thread: prints, polls status, stores printer.fault/recovered
    app.py       the Kivy app: touches, the barcode reader, idle reset, speech, effects
    screens.py   each screen built from the flow state (widgets.py: buttons, text, icons, QR view)
    qr.py        QR codes as Kivy textures
    technician.py the hidden technician screen (uikit.techoverlay), its data handed in by the command
"""

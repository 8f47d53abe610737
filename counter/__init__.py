"""The clerk's side of a call (issue 5): a Kivy panel and the CLI, both sending commands to the
hub over the site bus.

    model.py      what the panel shows (services, current customer, needs, help requests, parked
                  customers, today's no-shows), which buttons can be tapped, what Finish offers
                  (the service's outcomes), the number keypad, and the words for the hub's error
                  codes — plain data, no Kivy
    hub_link.py   the only module that knows the hub client's API
    app.py        the Kivy panel
"""

"""Simulated customers at the kiosk, for the headless demo (`make demo` without a screen).

Handed to the kiosk as a driver (`python -m sim.apps kiosk --customers-every S`), it plays one
customer every S seconds while the kiosk is free: they choose a language, take a number for a service (now and then with a need,
now and then via "I don't know which service"), read the ticket and tap "Done". Every step is
the same flow action a finger triggers, paced like a person, so the ticket is really issued by
the hub and printed on the (emulated) printer.
"""
from __future__ import annotations

import random

from kiosk import flow as F


class DemoCustomers:
    STEP_S = 1.2   # reading time between taps
    TICKET_S = 4.0  # time spent reading the ticket screen

    def __init__(self, app, every_s: float, seed: int = 4) -> None:
        self.app = app
        self.every_s = max(3.0, every_s)
        self.rng = random.Random(seed)
        self.served = 0

    def start(self) -> "DemoCustomers":
        from kivy.clock import Clock

        Clock.schedule_interval(self._maybe_start, self.every_s)
        return self

    def _maybe_start(self, _dt) -> None:
        if self.app.flow.pristine:
            self._play(self._script())

    def _script(self) -> list[tuple[str, tuple]]:
        r = self.rng
        flow = self.app.flow
        steps: list[tuple[str, tuple]] = []
        lang = r.choice(flow.languages[:3] * 3 + flow.languages)
        if lang != flow.lang:
            steps.append(("set_language", (lang,)))
        steps.append(("take_number", ()))
        if r.random() < 0.2:
            steps.append(("dont_know", ()))
        else:
            steps.append(("choose_service", (r.choice(flow.services()),)))
        if r.random() < 0.25:
            steps.append(("toggle_need", (r.choice(F.NEED_FLAGS),)))
        steps.append(("get_number", ()))
        steps.append(("done", ()))
        return steps

    def _play(self, steps: list[tuple[str, tuple]]) -> None:
        from kivy.clock import Clock

        if not steps:
            self.served += 1
            return
        name, args = steps[0]
        flow = self.app.flow
        if name == "done" and (flow.screen != F.TICKET or flow.busy is not None):
            if flow.screen in (F.NEEDS, F.TICKET):  # still waiting for the number
                Clock.schedule_once(lambda _dt: self._play(steps), self.STEP_S)
            return
        self.app.touch()
        self.app.act(name, *args)
        delay = self.TICKET_S if steps[1:] and steps[1][0] == "done" else self.STEP_S
        Clock.schedule_once(lambda _dt: self._play(steps[1:]), delay)

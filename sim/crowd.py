"""Simulated customers and clerks for the demo, talking to the hub like real devices do.

Customers take numbers as the device "sim-kiosk"; clerks call and finish them as "sim-clerk"
on every counter. Time runs `speed` times faster than real time: a 12-minute service takes
12 s at speed 60.
"""
from __future__ import annotations

import logging
import random
import threading
from collections import Counter
from typing import Any

log = logging.getLogger("demo.crowd")

MEAN_ARRIVAL_S = 75.0  # simulated seconds between customers


class Crowd:
    def __init__(self, site, site_url: str, passwords: dict[str, str], *, speed: float = 60.0, seed: int = 1,
                 feedback=None) -> None:
        self.site = site
        self.url = site_url
        self.passwords = passwords
        self.speed = max(speed, 1.0)
        self.rng = random.Random(seed)
        self.feedback = feedback  # callable(rating) or None: leaves feedback at the exit
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _client(self, device: str):
        from bus.hubclient import HubClient

        c = HubClient(self.url, self.site.id, device, password=self.passwords[device])
        c.start()
        c.wait_connected(10)
        return c

    def _count(self, key: str) -> None:
        with self._lock:
            self.counts[key] += 1

    def start(self) -> None:
        for target in (self._customers, self._clerks):
            t = threading.Thread(target=target, name=target.__name__, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(10)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)

    def _customers(self) -> None:
        client = self._client("sim-kiosk")
        services = list(self.site.services)
        weights = [5 if s in ("kela", "poliisi", "neuvonta") else 2 if s in ("vero", "dvv", "te", "migri") else 1
                   for s in services]
        langs = list(self.site.languages)
        lang_w = [10 if l == "fi" else 3 if l in ("sv", "en") else 1 for l in langs]
        try:
            while not self._stop.wait(self.rng.expovariate(self.speed / MEAN_ARRIVAL_S)):
                needs: dict[str, Any] = {}
                r = self.rng.random()
                if r < 0.08:
                    needs["interpreter"] = self.rng.choice(["ar", "so", "ru", "fa"])
                elif r < 0.12:
                    needs["hearing_loop"] = True
                elif r < 0.15:
                    needs["accessible_room"] = True
                reply = client.request({"cmd": "take", "service": self.rng.choices(services, weights)[0],
                                        "lang": self.rng.choices(langs, lang_w)[0], "needs": needs})
                self._count("tickets" if reply.get("ok") else f"take_{reply.get('error')}")
        finally:
            client.close()

    def _clerks(self) -> None:
        client = self._client("sim-clerk")
        counters = list(self.site.counters)
        busy_until = {c: 0.0 for c in counters}
        serving: dict[str, str | None] = {c: None for c in counters}
        import time

        try:
            for c in counters:
                client.request({"cmd": "open", "counter": c})
            while not self._stop.wait(0.25):
                now = time.monotonic()
                for c in counters:
                    if busy_until[c] > now:
                        continue
                    reply = client.request({"cmd": "call", "counter": c})
                    if reply.get("ok"):
                        self._count("calls")
                        if serving[c] is not None:
                            self._leave_feedback()
                        serving[c] = reply.get("service")
                        mean = self.site.services[reply["service"]].default_service_min * 60 / self.speed
                        busy_until[c] = now + max(1.0, self.rng.expovariate(1 / mean))
                    elif serving[c] is not None:
                        if client.request({"cmd": "finish", "counter": c}).get("ok"):
                            self._count("finished")
                            self._leave_feedback()
                        serving[c] = None
                    if self._stop.is_set():
                        return
        finally:
            client.close()

    def _leave_feedback(self) -> None:
        if self.feedback is None or self.rng.random() > 0.4:
            return
        rating = self.rng.choices([1, 2, 3, 4, 5], [1, 1, 2, 5, 6])[0]
        try:
            self.feedback(rating)
            self._count("feedback")
        except Exception as exc:
            log.warning("simulated feedback failed: %s", exc)

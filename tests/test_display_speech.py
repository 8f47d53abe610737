"""The spoken call, end to end without a window: calls made on the real hub (over a real
Mosquitto) reach the display's link and model, and the display's announcer renders chime + Finnish
+ Swedish with espeak-ng. The WAV files are measured with sox: real speech (not silent, a plausible
length), two quick calls give two complete announcements in order, and a recall is spoken again."""
from __future__ import annotations

import queue
import shutil
import subprocess
import threading
import time
import wave

import pytest

from bus.hubclient import HubClient
from display.announce import Announcer
from display.hub_link import DisplayLink
from display.model import DisplayModel
from display.settings import DisplaySettings
from tests.ui_scenarios.display_support import Hub

pytestmark = [pytest.mark.broker,
              pytest.mark.skipif(not (shutil.which("espeak-ng") and shutil.which("sox")),
                                 reason="espeak-ng and sox are needed")]


def sox_stat(path) -> dict[str, float]:
    out = subprocess.run(["sox", str(path), "-n", "stat"], capture_output=True, text=True, timeout=20).stderr
    stats = {}
    for line in out.splitlines():
        if ":" in line:
            k, v = line.rsplit(":", 1)
            try:
                stats[k.strip()] = float(v)
            except ValueError:
                pass
    return stats


def test_calls_are_spoken_in_finnish_and_swedish_in_order(tmp_path, broker, example_site):
    done: list[tuple[str, tuple, list]] = []
    finished = threading.Event()

    def on_done(u, files):
        done.append((u.tag, u.parts, [str(f) for f in files]))
        if len(done) >= 3:
            finished.set()

    settings = DisplaySettings(languages=("fi", "sv"), chime=True)
    model = DisplayModel(example_site, settings, started=time.monotonic())
    announcer = Announcer(example_site, settings.languages, tmp_path / "speech", chime=True, player=None,
                          on_done=on_done, keep_files=True)
    events: queue.Queue = queue.Queue()
    with Hub(tmp_path / "hub", broker.url):
        link = DisplayLink(broker.url, example_site, "display-1", events.put).start()
        clerk = HubClient(broker.url, example_site.id, "counter-1").start()
        kiosk = HubClient(broker.url, example_site.id, "kiosk-1").start()
        try:
            assert clerk.request({"cmd": "open", "counter": "1"})["ok"]
            for _ in range(2):
                assert kiosk.request({"cmd": "take", "service": "kela"})["ok"]
            deadline = time.monotonic() + 10
            while not model.had_state and time.monotonic() < deadline:  # the display is listening
                _pump(events, model, announcer, 0.05)
            assert model.had_state
            # two quick calls, then a recall of the second
            for cmd in ("call", "call", "recall"):
                assert clerk.request({"cmd": cmd, "counter": "1"})["ok"]
            deadline = time.monotonic() + 30
            while not finished.is_set() and time.monotonic() < deadline:
                _pump(events, model, announcer, 0.05)
            assert finished.wait(1), f"only {len(done)} announcements: {done}"
        finally:
            link.close()
            clerk.close()
            kiosk.close()
            announcer.close(timeout=30)

    assert [d[0].split("#")[0] for d in done] == ["K001@1", "K002@1", "K002@1 recall"]
    assert done[0][1] == (("fi", "Numero K 1, Tiski 1"), ("sv", "Nummer K 1, Lucka 1"))
    for tag, _parts, files in done:
        assert len(files) == 3, (tag, files)  # chime, Finnish, Swedish
        chime, fi, sv = files
        assert chime.endswith("chime.wav")
        for f in (fi, sv):
            with wave.open(f) as w:  # a complete file: the header's frame count matches the data
                secs = w.getnframes() / w.getframerate()
                assert w.getnframes() > 0 and w.getnchannels() == 1
            st = sox_stat(f)
            assert 0.8 < st["Length (seconds)"] < 6.0, (f, st)
            assert abs(st["Length (seconds)"] - secs) < 0.05
            assert st["RMS     amplitude"] > 0.02, (f, st)      # not silence
            assert st["Maximum amplitude"] > 0.2, (f, st)
            assert 80 < st["Rough   frequency"] < 4000, (f, st)  # in the range of a voice
        assert sox_stat(fi)["Length (seconds)"] != sox_stat(sv)["Length (seconds)"]


def _pump(events, model, announcer, timeout):
    """What the app's UI thread does with the link's events (display/app.py DisplayApp._drain)."""
    try:
        kind, data = events.get(timeout=timeout)
    except queue.Empty:
        return
    now = time.monotonic()
    if kind == "call":
        c = model.on_call(data, now)
        if c is not None:
            announcer.announce(c)
    elif kind == "state":
        for c in model.on_state(data, now):
            announcer.announce(c)
    elif kind == "link":
        model.on_link(bool(data), now)
    elif kind == "hub":
        model.on_hub_availability(bool(data), now)

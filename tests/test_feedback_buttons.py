"""Physical smiley buttons: config, decoder, reader with a fake device, evdev device selection."""

from __future__ import annotations

import asyncio
import errno
import os
import threading
import time
import tomllib
from contextlib import aclosing

import evdev
import pytest
from evdev import InputEvent, ecodes
from hypothesis import given, settings
from hypothesis import strategies as st

from feedback_terminal import button_source
from feedback_terminal.button_source import ButtonReader, DeviceDown, DeviceUp, EvdevSource, ReaderThread
from feedback_terminal.buttons import ButtonConfig, ButtonDecoder, Press, Stuck, Unstuck, key_code, key_name
from sim.fake_buttons import FakeSource

K1, K2, K3, K4, K5 = (ecodes.KEY_1, ecodes.KEY_2, ecodes.KEY_3, ecodes.KEY_4, ecodes.KEY_5)
KEYMAP = {K1: 1, K2: 2, K3: 3, K4: 4, K5: 5}
TIMEOUT = 5.0


def config(**kw) -> ButtonConfig:
    base = dict(device_name="Smiley", device_path=None, keymap=KEYMAP, debounce_s=0.0)
    return ButtonConfig(**(base | kw))


def ev(t: float, code: int, value: int, type_: int = ecodes.EV_KEY) -> InputEvent:
    return InputEvent(int(t), int(round(t % 1 * 1_000_000)), type_, code, value)


def syn(t: float, code: int = ecodes.SYN_REPORT) -> InputEvent:
    return ev(t, code, 0, ecodes.EV_SYN)


# --- configuration -------------------------------------------------------------------------


def test_config_from_toml_with_names_and_numbers():
    section = tomllib.loads(
        """
        device_path = "/dev/input/by-id/usb-Smiley-event-kbd"
        stuck_after_s = 8
        [keymap]
        KEY_1 = 1
        BTN_TRIGGER = 5
        "4" = 3
        key_b = 2
        """
    )
    cfg = ButtonConfig.from_dict(section)
    assert cfg.keymap == {ecodes.KEY_1: 1, ecodes.BTN_TRIGGER: 5, ecodes.KEY_3: 3, ecodes.KEY_B: 2}
    assert cfg.device_path.endswith("event-kbd") and cfg.device_name is None
    assert cfg.stuck_after_s == 8.0 and isinstance(cfg.stuck_after_s, float)


def test_config_accepts_int_keys_from_python_dicts():
    cfg = ButtonConfig.from_dict({"device_name": "gpio-keys", "keymap": {2: 1, 288: 5}})
    assert cfg.keymap == {ecodes.KEY_1: 1, ecodes.BTN_TRIGGER: 5}
    assert cfg.stuck_after_s == 10.0


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"device_name": "x", "keymap": {"KEY_NOPE": 1}}, "'KEY_NOPE'.*unknown key name"),
        ({"device_name": "x", "keymap": {"ABS_X": 1}}, "'ABS_X'"),
        ({"device_name": "x", "keymap": {"KEY_1": 6}}, "'KEY_1'.*1..5.*6"),
        ({"device_name": "x", "keymap": {"KEY_1": 0}}, "'KEY_1'.*1..5"),
        ({"device_name": "x", "keymap": {"KEY_1": True}}, "'KEY_1'.*1..5"),
        ({"device_name": "x", "keymap": {"KEY_1": "1"}}, "'KEY_1'.*1..5"),
        ({"device_name": "x", "keymap": {"99999": 1}}, "'99999'.*out of range"),
        ({"device_name": "x", "keymap": {"KEY_1": 1, "2": 2}}, "'2'.*KEY_1 is mapped twice"),
        ({"keymap": {"KEY_1": 1}}, "device_name or device_path"),
        ({"device_name": "", "keymap": {"KEY_1": 1}}, "device_name"),
        ({"device_name": "x", "keymap": {}}, "keymap"),
        ({"device_name": "x", "keymap": {"KEY_1": 1}, "stuck_after_s": 0}, "stuck_after_s"),
        ({"device_name": "x", "keymap": {"KEY_1": 1}, "stuck_afer_s": 3}, "unknown setting.*stuck_afer_s"),
    ],
)
def test_config_errors_name_the_bad_entry(section, message):
    with pytest.raises(ValueError, match=message):
        ButtonConfig.from_dict(section)


def test_key_names_for_status():
    assert key_name(ecodes.BTN_TRIGGER) in ("BTN_JOYSTICK", "BTN_TRIGGER")  # aliases share a code
    assert key_name(ecodes.BTN_0) in ("BTN_0", "BTN_MISC")  # not in ecodes.KEY, only in ecodes.keys
    assert key_code("BTN_0") == 256


# --- decoder -------------------------------------------------------------------------------


def test_only_key_down_of_mapped_keys_counts():
    d = ButtonDecoder(config())
    assert d.feed(ev(1.0, K3, 1)) == [Press(3, 1.0)]
    assert d.feed(syn(1.0)) == []
    assert d.feed(ev(1.2, K3, 2)) == []  # auto-repeat
    assert d.feed(ev(1.3, K3, 2)) == []
    assert d.feed(ev(1.4, K3, 0)) == []  # release
    assert d.feed(ev(2.0, ecodes.KEY_A, 1)) == []  # unmapped
    assert d.feed(ev(2.0, K5, 1, type_=ecodes.EV_MSC)) == []  # not a key event
    assert d.feed(ev(3.0, K1, 1)) == [Press(1, 3.0)]


def test_stuck_key_reported_once_and_ignored_until_release():
    d = ButtonDecoder(config(stuck_after_s=10.0))
    assert d.feed(ev(100.0, K2, 1)) == [Press(2, 100.0)]
    assert d.feed(ev(105.0, K2, 2)) == []
    assert d.feed(ev(110.5, K2, 2)) == [Stuck(K2)]  # noticed when an event arrives
    assert d.stuck_keys == {K2}
    assert d.feed(ev(111.0, K2, 2)) == []
    assert d.tick(500.0) == []  # reported once only
    assert d.feed(ev(112.0, K4, 1)) == [Press(4, 112.0)]  # other keys still work
    assert d.feed(ev(113.0, K2, 0)) == [Unstuck(K2)]
    assert d.stuck_keys == frozenset()
    assert d.feed(ev(114.0, K2, 1)) == [Press(2, 114.0)]


def test_stuck_detected_by_tick_without_events():
    d = ButtonDecoder(config(stuck_after_s=10.0))
    d.feed(ev(50.0, K5, 1))
    assert d.tick(59.9) == []
    assert d.tick(60.0) == [Stuck(K5)]
    assert d.tick(70.0) == []
    assert d.stuck_keys == {K5}
    assert d.tick(10.0) == []  # a clock behind the key-down time changes nothing


def test_key_down_while_stuck_means_the_release_was_lost():
    d = ButtonDecoder(config(stuck_after_s=1.0))
    d.feed(ev(0.0, K1, 1))
    assert d.tick(2.0) == [Stuck(K1)]
    assert d.feed(ev(3.0, K1, 1)) == [Unstuck(K1), Press(1, 3.0)]


def test_syn_dropped_forgets_held_keys_instead_of_reporting_them_stuck():
    d = ButtonDecoder(config(stuck_after_s=1.0))
    d.feed(ev(0.0, K1, 1))
    d.feed(syn(0.1, ecodes.SYN_DROPPED))  # the release may be among the dropped events
    assert d.tick(5.0) == []


def test_contact_bounce_is_one_press():
    d = ButtonDecoder(config(debounce_s=0.03, stuck_after_s=1.0))
    bouncy = [ev(1.000, K4, 1), ev(1.002, K4, 0), ev(1.004, K4, 1), ev(1.300, K4, 0), ev(1.302, K4, 1), ev(1.303, K4, 0)]
    assert [p for e in bouncy for p in d.feed(e)] == [Press(4, 1.0)]
    assert d.feed(ev(1.5, K4, 1)) == [Press(4, 1.5)]
    # a bounced key-down still times the hold, so a key stuck after bouncing is noticed
    d.feed(ev(1.502, K4, 0))
    d.feed(ev(1.504, K4, 1))
    assert d.tick(3.0) == [Stuck(K4)]


def test_reset_ends_stuck_and_times_keys_held_at_open():
    d = ButtonDecoder(config(stuck_after_s=2.0))
    d.feed(ev(0.0, K1, 1))
    d.tick(5.0)
    assert d.reset(6.0, held=[K3, ecodes.KEY_A]) == [Unstuck(K1)]
    assert d.stuck_keys == frozenset()
    assert d.tick(7.9) == []
    assert d.tick(8.0) == [Stuck(K3)]  # held from the start: never a press, but stuck


EVENT_TYPES = st.sampled_from([ecodes.EV_KEY, ecodes.EV_KEY, ecodes.EV_SYN, ecodes.EV_MSC])
CODES = st.sampled_from([K1, K2, K5, ecodes.KEY_A, ecodes.SYN_REPORT, ecodes.SYN_DROPPED])
steps = st.lists(
    st.one_of(
        st.tuples(st.just("event"), EVENT_TYPES, CODES, st.sampled_from([0, 1, 2, 3, -1]), st.floats(0, 5)),
        st.tuples(st.just("tick"), st.floats(-1, 30)),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(steps=steps, debounce=st.sampled_from([0.0, 0.03, 1.0]), stuck_after=st.sampled_from([0.5, 10.0]))
def test_decoder_never_invents_presses(steps, debounce, stuck_after):
    d = ButtonDecoder(config(debounce_s=debounce, stuck_after_s=stuck_after))
    t, downs, presses = 1000.0, 0, 0
    stuck: set[int] = set()
    for step in steps:
        if step[0] == "tick":
            out = d.tick(t + step[1])
        else:
            _, type_, code, value, dt = step
            t += dt
            out = d.feed(ev(t, code, value, type_))
            is_down = type_ == ecodes.EV_KEY and code in KEYMAP and value == 1
            downs += is_down
            if not is_down:
                assert not any(isinstance(o, Press) for o in out)  # never for value 2, 0, ...
        presses += sum(isinstance(o, Press) for o in out)
        for o in out:  # stuck and unstuck alternate per key
            if isinstance(o, Stuck):
                assert o.code not in stuck
                stuck.add(o.code)
            elif isinstance(o, Unstuck):
                stuck.remove(o.code)
        assert d.stuck_keys == stuck
        assert presses <= downs


# --- reader with the fake device ---------------------------------------------------------


class Recorder:
    """Collects callbacks from the reader thread; wait() blocks on a condition with a timeout."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self._cond = threading.Condition()

    def _add(self, *call) -> None:
        with self._cond:
            self.calls.append(call)
            self._cond.notify_all()

    def on_press(self, rating, t):
        self._add("press", rating, t)

    def on_stuck(self, code):
        self._add("stuck", code)

    def on_unstuck(self, code):
        self._add("unstuck", code)

    def on_device(self, present):
        self._add("device", present)

    def kinds(self, kind: str) -> list[tuple]:
        with self._cond:
            return [c[1:] for c in self.calls if c[0] == kind]

    def wait(self, predicate, timeout: float = TIMEOUT) -> None:
        with self._cond:
            assert self._cond.wait_for(predicate, timeout), f"timed out; calls so far: {self.calls}"

    def wait_calls(self, *expected: tuple) -> None:
        self.wait(lambda: self.calls[: len(expected)] == list(expected))


def start_reader(source: FakeSource, rec: Recorder, **kw) -> ReaderThread:
    reader = ButtonReader(
        source,
        ButtonDecoder(config(**kw)),
        on_press=rec.on_press,
        on_stuck=rec.on_stuck,
        on_unstuck=rec.on_unstuck,
        on_device=rec.on_device,
        tick_interval_s=0.01,
    )
    return ReaderThread(reader).start()


def test_reader_grabs_and_reports_presses():
    source, rec = FakeSource(), Recorder()
    thread = start_reader(source, rec)
    try:
        rec.wait_calls(("device", True))
        assert source.grabs == 1
        source.tap(K1)
        source.key(K5, 1)
        source.key(K5, 2)
        source.key(K5, 2)
        source.key(K5, 0)
        source.tap(ecodes.KEY_A)
        source.tap(K3)
        rec.wait(lambda: len(rec.kinds("press")) == 3)
        assert [r for r, _ in rec.kinds("press")] == [1, 5, 3]
        assert thread.reader.present is True and "fake buttons" in thread.reader.detail
    finally:
        assert thread.stop()
    assert source._device is not None and source._device.closed  # the device is let go on stop


def test_device_vanishes_and_comes_back_without_restart():
    source, rec = FakeSource(), Recorder()
    thread = start_reader(source, rec)
    try:
        rec.wait_calls(("device", True))
        source.tap(K2)
        rec.wait(lambda: len(rec.kinds("press")) == 1)
        source.unplug()
        rec.wait(lambda: rec.kinds("device") == [(True,), (False,)])
        assert thread.reader.present is False
        assert "No such device" in thread.reader.detail
        with pytest.raises(RuntimeError):
            source.tap(K3)  # nothing is open while unplugged
        source.plug()
        rec.wait(lambda: rec.kinds("device") == [(True,), (False,), (True,)])
        assert source.grabs == 2  # grabbed again on reappearing
        source.tap(K4)
        rec.wait(lambda: len(rec.kinds("press")) == 2)
        assert [r for r, _ in rec.kinds("press")] == [2, 4]
        assert rec.kinds("device") == [(True,), (False,), (True,)]
    finally:
        assert thread.stop()


def test_missing_at_start_then_plugged_in():
    source, rec = FakeSource(plugged=False), Recorder()
    thread = start_reader(source, rec)
    try:
        rec.wait_calls(("device", False))
        source.plug()
        rec.wait_calls(("device", False), ("device", True))
        source.tap(K5)
        rec.wait(lambda: rec.kinds("press") and rec.kinds("press")[0][0] == 5)
    finally:
        assert thread.stop()


def test_grab_refused_counts_as_absent_and_is_retried():
    source, rec = FakeSource(), Recorder()
    source.grab_error = OSError(errno.EBUSY, "Device or resource busy")
    thread = start_reader(source, rec)
    try:
        rec.wait_calls(("device", False))
        assert "busy" in thread.reader.detail
        source.grab_error = None
        rec.wait_calls(("device", False), ("device", True))
        assert source.opens >= 2
    finally:
        assert thread.stop()


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_stuck_key_through_reader_by_tick_and_release():
    clock = FakeClock()
    source, rec = FakeSource(clock=clock), Recorder()
    thread = start_reader(source, rec, stuck_after_s=10.0)
    try:
        rec.wait_calls(("device", True))
        source.key(K3, 1)
        rec.wait(lambda: len(rec.kinds("press")) == 1)
        clock.t += 11  # no events: only the ticker can notice
        rec.wait(lambda: rec.kinds("stuck") == [(K3,)])
        assert thread.reader.stuck_keys == {K3}
        source.key(K3, 2)
        source.key(K1, 1)
        rec.wait(lambda: len(rec.kinds("press")) == 2)
        source.key(K3, 0)
        rec.wait(lambda: rec.kinds("unstuck") == [(K3,)])
        assert thread.reader.stuck_keys == frozenset()
        assert [r for r, _ in rec.kinds("press")] == [3, 1]
    finally:
        assert thread.stop()


def test_key_held_at_plug_in_is_no_press_but_reported_stuck():
    clock = FakeClock()
    source, rec = FakeSource(clock=clock, held=[K2]), Recorder()
    thread = start_reader(source, rec, stuck_after_s=10.0)
    try:
        rec.wait_calls(("device", True))
        clock.t += 10
        rec.wait(lambda: rec.kinds("stuck") == [(K2,)])
        source.unplug()  # a vanished device has no stuck keys any more
        rec.wait(lambda: rec.kinds("unstuck") == [(K2,)] and rec.kinds("device")[-1] == (False,))
        assert rec.kinds("press") == []
    finally:
        assert thread.stop()


def test_failing_callback_does_not_stop_the_reader():
    source, seen = FakeSource(), []
    got_two = threading.Event()

    def on_press(rating, t):
        seen.append(rating)
        if len(seen) == 2:
            got_two.set()
        raise RuntimeError("UI bug")

    present = threading.Event()
    reader = ButtonReader(source, ButtonDecoder(config()), on_press=on_press, on_device=lambda p: p and present.set())
    with ReaderThread(reader) as thread:
        assert present.wait(TIMEOUT)
        source.tap(K1)
        source.tap(K2)
        assert got_two.wait(TIMEOUT)
        assert thread.is_alive()
    assert not thread.is_alive()
    assert seen == [1, 2]


def test_reader_runs_in_a_callers_loop_too():
    async def main():
        source, presses = FakeSource(), asyncio.Queue()
        up = asyncio.Event()
        reader = ButtonReader(source, ButtonDecoder(config()), on_press=lambda r, t: presses.put_nowait(r), on_device=lambda p: up.set())
        task = asyncio.create_task(reader.run())
        await asyncio.wait_for(up.wait(), TIMEOUT)
        source.tap(K4)
        assert await asyncio.wait_for(presses.get(), TIMEOUT) == 4
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def test_stop_before_start_and_twice():
    thread = ReaderThread(ButtonReader(FakeSource(), ButtonDecoder(config())))
    assert thread.stop()
    thread.start()
    assert thread.stop() and thread.stop()


# --- EvdevSource device selection (no /dev/input here: a stand-in for InputDevice) -------------


class StandIn:
    """Just enough of evdev.InputDevice for EvdevSource.open() and the read loop."""

    def __init__(self, path, name, keys, events=()):
        self.path, self.name, self._keys, self._events = path, name, list(keys), list(events)
        self.closed = self.grabbed = False
        self._fd = os.open(os.devnull, os.O_RDONLY)  # a real fd on which the clock ioctl fails

    def capabilities(self):
        return {ecodes.EV_SYN: [0], ecodes.EV_KEY: self._keys}

    def fileno(self):
        return self._fd

    def grab(self):
        self.grabbed = True

    def active_keys(self):
        return []

    async def async_read_loop(self):
        for e in self._events:
            yield e
        raise OSError(errno.ENODEV, "No such device")

    def close(self):
        if not self.closed:
            os.close(self._fd)
        self.closed = True


@pytest.fixture
def fake_dev_input(monkeypatch):
    """Patch evdev's device listing and opening; returns the dict path -> StandIn to fill."""
    devices: dict[str, StandIn] = {}
    opened: list[StandIn] = []
    list_calls: list[dict] = []

    def list_devices(input_device_dir="/dev/input", writable=True):
        list_calls.append({"writable": writable})
        return [p for p in devices if p.startswith("/dev/input/event")]

    def input_device(path):
        if path not in devices:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        template = devices[path]
        dev = StandIn(template.path, template.name, template._keys, template._events)
        opened.append(dev)
        return dev

    monkeypatch.setattr(evdev, "list_devices", list_devices)
    monkeypatch.setattr(evdev, "InputDevice", input_device)
    yield devices, opened, list_calls
    for dev in opened:
        dev.close()


def test_evdev_source_picks_the_named_node_with_mapped_keys(fake_dev_input):
    devices, opened, list_calls = fake_dev_input
    devices["/dev/input/event0"] = StandIn("/dev/input/event0", "AT Translated Set 2 keyboard", [K1, K2])
    devices["/dev/input/event3"] = StandIn("/dev/input/event3", "Smiley", [ecodes.KEY_VOLUMEUP])  # consumer node
    devices["/dev/input/event4"] = StandIn("/dev/input/event4", "Smiley", [K1, K5])
    device, label = EvdevSource(config()).open()
    assert label == "Smiley at /dev/input/event4"
    assert list_calls == [{"writable": False}]
    assert [d.closed for d in opened] == [True, True, False]  # the others are not kept open
    assert isinstance(device, button_source._Restamped)  # /dev/null refuses the clock ioctl


def test_evdev_source_by_stable_path(fake_dev_input):
    devices, opened, list_calls = fake_dev_input
    path = "/dev/input/by-id/usb-Smiley-event-kbd"
    devices[path] = StandIn(path, "Whatever", [K3])
    _, label = EvdevSource(config(device_name=None, device_path=path)).open()
    assert label == f"Whatever at {path}"
    assert list_calls == []


def test_evdev_source_path_missing_falls_back_to_name(fake_dev_input):
    devices, _, _ = fake_dev_input
    devices["/dev/input/event7"] = StandIn("/dev/input/event7", "Smiley", [K1])
    _, label = EvdevSource(config(device_path="/dev/input/by-id/gone")).open()
    assert label == "Smiley at /dev/input/event7"


def test_evdev_source_reports_why_nothing_was_found(fake_dev_input):
    devices, _, _ = fake_dev_input
    devices["/dev/input/event1"] = StandIn("/dev/input/event1", "Smiley", [ecodes.KEY_A])
    with pytest.raises(LookupError, match="'Smiley' with the mapped keys"):
        EvdevSource(config()).open()
    with pytest.raises(FileNotFoundError):
        EvdevSource(config(device_name=None, device_path="/dev/input/by-id/gone")).open()
    with pytest.raises(LookupError, match="none of the mapped keys"):
        EvdevSource(config(device_name=None, device_path="/dev/input/event1")).open()


def test_evdev_source_runs_the_shared_reconnect_loop(fake_dev_input):
    devices, opened, _ = fake_dev_input
    devices["/dev/input/event2"] = StandIn("/dev/input/event2", "Smiley", [K1], events=[ev(5.0, K1, 1), syn(5.0)])

    async def first_items(n):
        got = []
        async with aclosing(EvdevSource(config(rescan_interval_s=0.01)).items()) as items:
            async for item in items:
                got.append(item)
                if len(got) == n:
                    return got

    before = time.monotonic()
    items = asyncio.run(first_items(5))
    assert items[0] == DeviceUp("Smiley at /dev/input/event2")
    assert (items[1].type, items[1].code, items[1].value) == (ecodes.EV_KEY, K1, 1)
    assert items[1].timestamp() >= before  # restamped on arrival with the monotonic clock
    assert items[3] == DeviceDown("Smiley at /dev/input/event2: No such device")
    assert items[4] == DeviceUp("Smiley at /dev/input/event2")  # rescanned and reopened
    assert opened[0].grabbed and opened[0].closed

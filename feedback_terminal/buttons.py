"""Physical smiley buttons: configuration and event decoding. Pure logic, no I/O.

The decoder turns raw evdev events into decisions (Press, Stuck, Unstuck). It works on the
events' own timestamps and on the `now` passed to tick(); both must come from the same clock.
The button sources deliver CLOCK_MONOTONIC timestamps (see button_source.py), so a caller
ticks with time.monotonic().
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Protocol

from evdev import ecodes

RATINGS = range(1, 6)
_FIELDS = {"device_name", "device_path", "keymap", "stuck_after_s", "debounce_s", "rescan_interval_s"}


def key_code(name_or_code: str | int) -> int:
    """Resolve "KEY_1", "BTN_TRIGGER", "2" or 2 to an evdev key code; ValueError if not a key."""
    if isinstance(name_or_code, bool):  # bool is an int in Python; True is no key code
        raise ValueError(f"not a key: {name_or_code!r}")
    if isinstance(name_or_code, int):
        code = name_or_code
    elif isinstance(name_or_code, str) and name_or_code.strip().isdigit():
        # TOML table keys are always strings, so a numeric code arrives as "2".
        code = int(name_or_code)
    elif isinstance(name_or_code, str) and name_or_code.upper().startswith(("KEY_", "BTN_")):
        if name_or_code.upper() not in ecodes.ecodes:
            raise ValueError(f"unknown key name {name_or_code!r}")
        code = ecodes.ecodes[name_or_code.upper()]
    else:
        raise ValueError(f"not a key name or code: {name_or_code!r} (use e.g. 'KEY_1' or 'BTN_TRIGGER')")
    # KEY_CNT is a name in ecodes too, but beyond any key code.
    if not 0 < code <= ecodes.KEY_MAX:
        raise ValueError(f"key code out of range: {name_or_code!r}")
    return code


def key_name(code: int) -> str:
    """Readable name of a key code for status and logs ("KEY_1"; aliases give the first name)."""
    name = ecodes.keys.get(code)  # ecodes.KEY lacks the BTN_* codes; ecodes.keys has both
    if isinstance(name, tuple):
        name = name[0]
    return name or f"key {code}"


@dataclass(frozen=True)
class ButtonConfig:
    device_name: str | None
    device_path: str | None  # a stable path such as /dev/input/by-id/...-event-kbd
    keymap: dict[int, int]  # evdev key code -> rating 1..5
    stuck_after_s: float = 10.0
    # The Pi gpio-key overlay cannot debounce, so contact bounce is dropped here.
    debounce_s: float = 0.03
    rescan_interval_s: float = 2.0

    @classmethod
    def from_dict(cls, section: dict[str, Any]) -> ButtonConfig:
        """Build from a TOML section; ValueError names the bad entry."""
        unknown = set(section) - _FIELDS
        if unknown:
            raise ValueError(f"buttons: unknown setting(s) {', '.join(sorted(unknown))}")
        name, path = section.get("device_name"), section.get("device_path")
        for label, value in (("device_name", name), ("device_path", path)):
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ValueError(f"buttons: {label} must be a non-empty string, got {value!r}")
        if not name and not path:
            raise ValueError("buttons: give device_name or device_path")
        raw = section.get("keymap")
        if not isinstance(raw, dict) or not raw:
            raise ValueError("buttons: keymap must be a table of key = rating, e.g. KEY_1 = 1")
        keymap: dict[int, int] = {}
        for key, rating in raw.items():
            try:
                code = key_code(key)
            except ValueError as e:
                raise ValueError(f"buttons: keymap entry {key!r}: {e}") from None
            if isinstance(rating, bool) or not isinstance(rating, int) or rating not in RATINGS:
                raise ValueError(f"buttons: keymap entry {key!r}: rating must be 1..5, got {rating!r}")
            if code in keymap:
                raise ValueError(f"buttons: keymap entry {key!r}: key {key_name(code)} is mapped twice")
            keymap[code] = rating
        return cls(
            device_name=name,
            device_path=path,
            keymap=keymap,
            stuck_after_s=_seconds(section, "stuck_after_s", 10.0, minimum=0.0, strict=True),
            debounce_s=_seconds(section, "debounce_s", 0.03, minimum=0.0),
            rescan_interval_s=_seconds(section, "rescan_interval_s", 2.0, minimum=0.0, strict=True),
        )


def _seconds(section: dict, key: str, default: float, *, minimum: float, strict: bool = False) -> float:
    value = section.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"buttons: {key} must be a number of seconds, got {value!r}")
    if value < minimum or (strict and value == minimum):
        raise ValueError(f"buttons: {key} must be {'>' if strict else '>='} {minimum}, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Press:
    rating: int
    t: float


@dataclass(frozen=True)
class Stuck:
    code: int


@dataclass(frozen=True)
class Unstuck:
    code: int


Decision = Press | Stuck | Unstuck


class Event(Protocol):
    """What the decoder reads of an evdev.InputEvent."""

    sec: int
    usec: int
    type: int
    code: int
    value: int


@dataclass
class ButtonDecoder:
    config: ButtonConfig
    _down: dict[int, float] = field(default_factory=dict, init=False)  # held mapped key -> since
    _last_edge: dict[int, float] = field(default_factory=dict, init=False)  # for debounce
    _stuck: set[int] = field(default_factory=set, init=False)

    @property
    def stuck_keys(self) -> frozenset[int]:
        return frozenset(self._stuck)

    def feed(self, event: Event) -> list[Decision]:
        t = event.sec + event.usec / 1_000_000
        out: list[Decision] = self.tick(t)
        if event.type == ecodes.EV_SYN and event.code == ecodes.SYN_DROPPED:
            # The kernel dropped events, maybe a release: forget held keys so a lost release
            # cannot turn into a false Stuck. Stuck keys stay until their release or next press.
            self._down.clear()
            return out
        if event.type != ecodes.EV_KEY or event.code not in self.config.keymap:
            return out
        code, value = event.code, event.value
        if value == 1:
            if code in self._stuck:
                # A second key-down without a release between: the release was lost, so the
                # key is not stuck after all; this is a real press.
                self._stuck.discard(code)
                out.append(Unstuck(code))
            last = self._last_edge.get(code)
            self._last_edge[code] = t
            self._down[code] = t
            if last is None or not 0 <= t - last < self.config.debounce_s:
                out.append(Press(self.config.keymap[code], t))
        elif value == 0:
            self._last_edge[code] = t
            self._down.pop(code, None)
            if code in self._stuck:
                self._stuck.discard(code)
                out.append(Unstuck(code))
        # value 2 is the kernel's auto-repeat while held: never a new press.
        return out

    def tick(self, now: float) -> list[Decision]:
        """Report keys held longer than stuck_after_s; call it periodically with the event clock."""
        out: list[Decision] = []
        for code, since in list(self._down.items()):
            if now - since >= self.config.stuck_after_s:
                del self._down[code]
                self._stuck.add(code)
                out.append(Stuck(code))
        return out

    def reset(self, now: float, held: Iterable[int] = ()) -> list[Decision]:
        """Forget all key state (device vanished or was reopened).

        `held` are the keys already down when the device was opened: the kernel sends no
        key-down for them, so they are only timed for stuck detection, never counted as presses.
        Returns Unstuck for keys that were stuck, so callers' stuck reports stay balanced.
        """
        out: list[Decision] = [Unstuck(code) for code in sorted(self._stuck)]
        self._stuck.clear()
        self._last_edge.clear()
        self._down = {code: now for code in held if code in self.config.keymap}
        return out

"""The hidden technician gesture: five taps within three seconds in a corner of the screen.

Pure logic, no Kivy: the app feeds every touch-down (its position in window coordinates, the
window's size, the monotonic time) and is told when the gesture is complete.

    taps = CornerTaps(side_px=corner_side(px_per_mm, w, h))
    if taps.feed(touch.x, touch.y, w, h, time.monotonic()):
        open_the_technician_screen()

Kivy's coordinates: the origin is the bottom-left corner, y grows upwards, so "top-left" is
x <= side and y >= height - side.

Rules that keep it out of a customer's way:
  * only touches inside the corner square count (about 15 mm: a fingertip, where no button is);
  * a touch anywhere else starts the count again — a customer tapping about the screen never
    gets there by accident, and neither do four taps and a fifth later on;
  * the taps must fall within `within_s` (the first and the last of the `taps`);
  * once triggered, the count starts again from zero.
Nothing here shows anything: the taps that do not complete the gesture are ordinary touches.
"""
from __future__ import annotations

from dataclasses import dataclass, field

CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")
TAPS = 5
WITHIN_S = 3.0
SIDE_MM = 15.0


def corner_side(px_per_mm: float, width: float, height: float, side_mm: float = SIDE_MM) -> float:
    """The corner square's side in pixels: `side_mm` on the real screen, but at least 40 px (a
    screen that reports a tiny DPI) and at most a tenth of the shorter window side (a wrong,
    huge DPI must not turn a quarter of the screen into the corner)."""
    side = px_per_mm * side_mm
    return max(40.0, min(side, 0.1 * min(width, height)))


@dataclass
class CornerTaps:
    """Counts taps in one corner; `feed` returns True on the tap that completes the gesture."""

    taps: int = TAPS
    within_s: float = WITHIN_S
    side_px: float = 57.0
    corner: str = "top-left"
    _times: list[float] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if self.corner not in CORNERS:
            raise ValueError(f"corner must be one of {CORNERS}, not {self.corner!r}")
        if self.taps < 2:
            raise ValueError("a gesture of fewer than two taps would open by accident")
        if self.within_s <= 0 or self.side_px <= 0:
            raise ValueError("within_s and side_px must be positive")

    @property
    def count(self) -> int:
        """Taps counted so far towards the gesture."""
        return len(self._times)

    def reset(self) -> None:
        self._times.clear()

    def in_corner(self, x: float, y: float, width: float, height: float) -> bool:
        s = self.side_px
        if not (0 <= x <= width and 0 <= y <= height):
            return False
        vertical, horizontal = self.corner.split("-")
        in_x = x <= s if horizontal == "left" else x >= width - s
        in_y = y >= height - s if vertical == "top" else y <= s
        return in_x and in_y

    def feed(self, x: float, y: float, width: float, height: float, now: float) -> bool:
        """One touch-down. True when it completes the gesture (the count then starts again)."""
        if not self.in_corner(x, y, width, height):
            self._times.clear()
            return False
        if self._times and now < self._times[-1]:
            self._times.clear()  # the clock went backwards: start again rather than guess
        self._times.append(now)
        # Only the last `taps` matter; older ones that fell out of the time window are forgotten.
        self._times = [t for t in self._times[-self.taps:] if now - t <= self.within_s]
        if len(self._times) >= self.taps:
            self._times.clear()
            return True
        return False

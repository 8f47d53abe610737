"""Fixed histograms of durations (waits, service times): the mergeable form the central roll-ups
keep, so that the median and the 90th percentile of any union — a region, an authority across
every site, the nation, a quarter — come from adding counts, never from averaging medians.

Bins, in seconds: 15 s wide up to 30 min, 1 min up to 3 h, 5 min up to 12 h, then one bin for
anything longer. A quantile is read inside its bin by linear interpolation, so it is within one
bin's width of the exact value of the raw durations (15 s where most waits are).

The same arithmetic exists once more, in SQL, for the analysts' views (central/migrations.py
generates it from the constants here; tests/test_rollups.py checks the two agree).
"""
from __future__ import annotations

import math
from collections.abc import Mapping

#: (width of a bin in seconds, where that width ends in seconds), in order.
STEPS: tuple[tuple[int, int], ...] = ((15, 1800), (60, 3 * 3600), (300, 12 * 3600))
def _starts() -> list[tuple[int, int, int]]:
    """(first bin, start seconds, width) per step."""
    out, first, start = [], 0, 0
    for width, end in STEPS:
        out.append((first, start, width))
        first += (end - start) // width
        start = end
    return out


_STEP_STARTS = _starts()
#: The bin of everything from the last step's end on (the last one).
OVERFLOW = _STEP_STARTS[-1][0] + (STEPS[-1][1] - _STEP_STARTS[-1][1]) // STEPS[-1][0]


def bin_of(seconds: float) -> int:
    """The bin a duration falls in (negative durations are not measured: the caller drops them)."""
    s = max(0.0, seconds)
    for (first, start, width), (_, end) in zip(_STEP_STARTS, STEPS):
        if s < end:
            return first + int((s - start) // width)
    return OVERFLOW


def bounds(b: int) -> tuple[float, float]:
    """[low, high) seconds of a bin; the overflow bin is empty-width at the last step's end."""
    if b >= OVERFLOW:
        end = float(STEPS[-1][1])
        return end, end
    for first, start, width in reversed(_STEP_STARTS):
        if b >= first:
            lo = start + (b - first) * width
            return float(lo), float(lo + width)
    raise ValueError(b)


def quantile(counts: Mapping[int, int], q: float) -> float | None:
    """The q-quantile (0 < q ≤ 1) of the durations behind `counts` (bin → count), in seconds:
    the nearest-rank value, interpolated inside its bin. None when there are none."""
    n = sum(c for c in counts.values() if c > 0)
    if n == 0:
        return None
    rank = max(1, math.ceil(q * n))  # 1-based rank of the wanted value
    seen = 0
    for b in sorted(counts):
        c = counts[b]
        if c <= 0:
            continue
        if seen + c >= rank:
            lo, hi = bounds(b)
            return lo + (hi - lo) * (rank - seen - 0.5) / c
        seen += c
    raise AssertionError("unreachable")

"""Bookings from the authorities' booking systems (issue 17).

`ical` turns one iCalendar feed into bookings for one service of one site — no names, the code
only as the site's keyed reference — `table` does the same for a CSV or JSON list, and `delta`
works out what changed for the days the site needs; `feeds` declares them in central.toml,
`fetch`, `store` and `daemon` fetch, store and send. The names below are loaded on first use:
a device's installation has no icalendar (the central extras), and central.settings reads the
feeds' declarations without it.
"""
from __future__ import annotations

from typing import Any

_NAMES = {"Change": "delta", "apply_changes": "delta", "change_bytes": "delta", "change_from_json": "delta",
          "change_to_json": "delta", "changes_for_days": "delta", "Booking": "ical", "BookingFeedError": "ical",
          "FeedImport": "ical", "FeedMapping": "ical", "parse_feed": "ical"}
__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)

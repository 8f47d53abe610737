"""Bookings from the authorities' booking systems (issue 17): the pure core.

`ical` turns one iCalendar feed into bookings for one service of one site — no names, the code
only as the hub's keyed reference — and `delta` works out what changed for the days the site
needs. Nothing here fetches, stores or sends: those are the callers'.
"""
from .delta import Change, apply_changes, change_bytes, change_from_json, change_to_json, changes_for_days
from .ical import Booking, BookingFeedError, FeedImport, FeedMapping, parse_feed

__all__ = ["Booking", "BookingFeedError", "Change", "FeedImport", "FeedMapping", "apply_changes", "change_bytes",
           "change_from_json", "change_to_json",
           "changes_for_days", "parse_feed"]

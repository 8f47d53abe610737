"""When the service point and each counter are open: opening hours per weekday, dated exceptions
(a holiday, a closed afternoon), each counter's planned hours and breaks. Pure; times in UTC ms
in and out, the site's time zone in between (so a day with a clock change is still right).

    site_span(site, date)            the site's hours that day, or None (closed)
    counter_spans(site, cid, date)   the counter's planned working spans that day, breaks cut out
    is_open(site, now) / next_opening(site, now) / closing(site, now)
"""
from __future__ import annotations

import datetime as _dt

from .config import END_OF_DAY, WEEKDAYS, Site, Span

Interval = tuple[int, int]  # [start, end) in UTC ms

#: How far ahead next_opening looks (a site closed longer than this has no "opens at").
LOOKAHEAD_DAYS = 31


def local_date(site: Site, ms: int) -> _dt.date:
    return _dt.datetime.fromtimestamp(ms / 1000, tz=_dt.timezone.utc).astimezone(site.tz).date()


def _ms(site: Site, date: _dt.date, t: _dt.time) -> int:
    return int(_dt.datetime.combine(date, t, tzinfo=site.tz).timestamp() * 1000)


#: A site without [opening_hours] is open all day, every day (the estimates then follow the counters
#: as they are opened and closed).
ALL_DAY: Span = (_dt.time(0, 0), END_OF_DAY)


def site_span(site: Site, date: _dt.date) -> Span | None:
    if not site.hours_configured:
        return ALL_DAY
    iso = date.isoformat()
    if iso in site.opening_exceptions:
        return site.opening_exceptions[iso]
    return site.opening_hours.get(WEEKDAYS[date.weekday()])


def site_interval(site: Site, date: _dt.date) -> Interval | None:
    span = site_span(site, date)
    return None if span is None else (_ms(site, date, span[0]), _ms(site, date, span[1]))


def _cut(intervals: list[Interval], hole: Interval) -> list[Interval]:
    out = []
    for a, b in intervals:
        if hole[1] <= a or hole[0] >= b:
            out.append((a, b))
            continue
        if a < hole[0]:
            out.append((a, hole[0]))
        if hole[1] < b:
            out.append((hole[1], b))
    return out


def counter_spans(site: Site, counter_id: str, date: _dt.date) -> list[Interval]:
    """The counter's planned working time that day: its hours (the site's by default) within the
    site's, breaks cut out. Empty on a closed day, and for an unknown counter."""
    whole = site_interval(site, date)
    c = site.counters.get(counter_id)
    if whole is None or c is None:
        return []
    spans: list[Interval] = [whole]
    if c.hours is not None:
        day = WEEKDAYS[date.weekday()]
        own = c.hours[day] if day in c.hours else c.hours.get("*", site_span(site, date))
        if own is None:
            return []
        a, b = _ms(site, date, own[0]), _ms(site, date, own[1])
        spans = [(max(a, whole[0]), min(b, whole[1]))] if a < whole[1] and b > whole[0] else []
    for brk in c.breaks:
        spans = _cut(spans, (_ms(site, date, brk[0]), _ms(site, date, brk[1])))
    return spans


def is_open(site: Site, now: int) -> bool:
    span = site_interval(site, local_date(site, now))
    return span is not None and span[0] <= now < span[1]


def next_opening(site: Site, now: int) -> int | None:
    """When the site next opens after `now` (now itself if it is open), or None within LOOKAHEAD_DAYS."""
    d = local_date(site, now)
    for i in range(LOOKAHEAD_DAYS + 1):
        span = site_interval(site, d + _dt.timedelta(days=i))
        if span is not None and now < span[1]:
            return max(span[0], now)
    return None


def closing(site: Site, now: int) -> int | None:
    """When today's opening hours end, or None when the site is not open at `now`."""
    span = site_interval(site, local_date(site, now))
    return span[1] if span is not None and span[0] <= now < span[1] else None

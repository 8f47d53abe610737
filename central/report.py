"""What the central store holds, for `palvelupiste central report` and the figures: counts per site,
device and event type, acknowledgements, dead letters, the devices' last status."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.figures import Row


def rows_of(records: Iterable[Sequence[Any]]) -> Iterator[Row]:
    """(site, type, ts, data JSON) records as core.figures.Rows; a record whose data is no JSON is left out."""
    from core.figures import Row

    for s, etype, ts, data in records:
        try:
            yield Row(s, etype, ts, json.loads(data))
        except ValueError:
            continue


def build_report(execute: Callable[[str], Iterable[Sequence[Any]]]) -> dict[str, Any]:
    """Counts per site and device and per event type, watermarks, dead letters, device status.
`execute`: a connection's execute (sqlite3 or psycopg: the queries take no parameters)."""
    devices: dict[str, dict[str, Any]] = {}
    for site, device, n, lo, hi, last_ms in execute(
            "SELECT site, device, count(*), min(seq), max(seq), max(received_ms) FROM events "
            "GROUP BY site, device ORDER BY site, device"):
        devices[f"{site}/{device}"] = {"site": site, "device": device, "events": n, "min_seq": lo,
                                       "max_seq": hi, "last_received_ms": last_ms, "types": {}}
    for site, device, etype, n in execute(
            "SELECT site, device, type, count(*) FROM events GROUP BY site, device, type"):
        devices[f"{site}/{device}"]["types"][etype] = n
    for site, device, seq in execute("SELECT site, device, seq FROM watermarks"):
        d = devices.setdefault(f"{site}/{device}", {"site": site, "device": device, "events": 0, "types": {}})
        d["acked_seq"] = seq
    for site, device, status, status_ms, avail, avail_ms in execute(
            "SELECT site, device, status, status_ms, availability, availability_ms FROM device_status"):
        d = devices.setdefault(f"{site}/{device}", {"site": site, "device": device, "events": 0, "types": {}})
        try:
            d["status"] = json.loads(status) if status else None
        except ValueError:
            d["status"] = None
        d["availability"] = avail
        d["availability_ms"] = avail_ms
    for d in devices.values():
        d.setdefault("acked_seq", 0)
        d["beyond_watermark"] = max(0, (d.get("max_seq") or 0) - d["acked_seq"])
    sites: dict[str, dict[str, Any]] = {}
    for d in devices.values():
        s = sites.setdefault(d["site"], {"events": 0, "devices": 0, "types": {}})
        s["events"] += d["events"]
        s["devices"] += 1
        for t, n in d["types"].items():
            s["types"][t] = s["types"].get(t, 0) + n
    # int(): PostgreSQL sums to a Decimal.
    dead = [{"reason": r, "rows": n, "times": int(c)} for r, n, c in execute(
        "SELECT reason, count(*), sum(count) FROM dead_letter GROUP BY reason ORDER BY count(*) DESC LIMIT 50")]
    total_dead = list(execute("SELECT count(*), coalesce(sum(count), 0) FROM dead_letter"))[0]
    return {"sites": sites, "devices": list(devices.values()),
            "dead_letters": {"rows": total_dead[0], "times": int(total_dead[1]), "by_reason": dead}}

"""The monthly figures as the analysts' views give them (central/views.py), for the command line:
rows of one level, or, per site, the shape core/figures.py gives a device's own store
({site: {month: {"services": {service or "*": figures}, "printer_faults": n}}}), with
`withheld` naming what the small-cell rule held back.
"""
from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import psycopg

from core.figures import SITE_LEVEL

from .views import LEVELS


def plain(v: Any) -> Any:
    if isinstance(v, Decimal):
        exponent = v.as_tuple().exponent
        return int(v) if isinstance(exponent, int) and exponent >= 0 else float(v)
    return v


def add_withheld(total: dict[str, int | None], key: str, n: int | None) -> None:
    """Adds a count that may be withheld (None) to a total: a withheld part keeps the total
    withheld, else the difference between two totals would tell it."""
    prev = total.get(key, 0)
    total[key] = None if prev is None or n is None else prev + n


def rows(conn: psycopg.Connection, view: str, where: Sequence[tuple[str, Any]] = ()) -> list[dict[str, Any]]:
    """A view's rows as dicts, filtered by column = value pairs, in key order."""
    from psycopg import sql

    query = sql.SQL("SELECT * FROM {}").format(sql.Identifier(view))
    if where:
        query += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(
            sql.SQL("{} = {}").format(sql.Identifier(c), sql.Placeholder()) for c, _ in where)
    cur = conn.execute(query, [v for _, v in where])
    names = [c.name for c in cur.description or ()]
    out = [{k: plain(v) for k, v in zip(names, r)} for r in cur.fetchall()]
    keys = ["month", "day", *LEVELS.get(view.removeprefix("monthly_"), ())]
    return sorted(out, key=lambda r: tuple(str(r.get(k, "")) for k in keys))


def level_rows(conn: psycopg.Connection, level: str, month: str | None = None,
               site: str | None = None) -> list[dict[str, Any]]:
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}")
    where: list[tuple[str, Any]] = []
    if month:
        where.append(("month", month))
    if site and "site" in LEVELS[level]:
        where.append(("site", site))
    return rows(conn, f"monthly_{level}", where)


def _dist(r: dict[str, Any], prefix: str) -> dict[str, Any] | None:
    if r[f"{prefix}_n"] is None:
        return None  # withheld
    if not r[f"{prefix}_n"]:
        return None
    return {"n": r[f"{prefix}_n"], "mean_min": r[f"{prefix}_mean_min"], "median_min": r[f"{prefix}_median_min"],
            "p90_min": r[f"{prefix}_p90_min"]}


def shaped(r: dict[str, Any], outcomes: dict[str, int | None]) -> dict[str, Any]:
    """One view row in core/figures.py's shape."""
    return {
        "tickets": r["tickets"], "walk_in": r["walk_in"], "appointment": r["appointment"],
        "tickets_per_open_hour": r["tickets_per_open_hour"], "within_target_share": r["within_target_share"],
        "outcomes": dict(sorted(outcomes.items())),
        "waiting": _dist(r, "waiting"), "service": _dist(r, "service"),
        "no_show": r["no_show"], "cancelled": r["cancelled"], "transferred": r["transferred"],
        "satisfaction": {"n": r["responses"], "mean_of_5": r["satisfaction_mean"],
                         **{k: r[k] for k in ("positive", "neutral", "negative", "positive_share",
                                              "neutral_share", "negative_share")},
                         "flagged_left_out": r["flagged_left_out"]},
        "matter": {"n": r["matter_n"], **{k: r[k] for k in ("done", "started", "not_done", "done_share",
                                                            "started_share", "not_done_share")}},
        "could_do_it_yourself": {"n": r["self_service_n"], "yes": r["self_service_yes"], "no": r["self_service_no"],
                                 "yes_share": r["self_service_yes_share"], "no_share": r["self_service_no_share"]},
        "withheld": list(r["withheld"]),
    }


def per_site(conn: psycopg.Connection, month: str | None = None, site: str | None = None) -> dict[str, Any]:
    """{site: {month: {"services": {service or "*": figures}, "printer_faults": n}}}"""
    out: dict[str, Any] = {}
    outcomes: dict[tuple[str, str, str], dict[str, int | None]] = {}
    where: list[tuple[str, Any]] = [(c, v) for c, v in (("month", month), ("site", site)) if v]
    for o in rows(conn, "monthly_outcomes", where):
        for key in ((o["month"], o["site"], o["service"]), (o["month"], o["site"], SITE_LEVEL)):
            add_withheld(outcomes.setdefault(key, {}), o["outcome"], o["n"])
    for r in level_rows(conn, "site", month, site):
        m = out.setdefault(r["site"], {}).setdefault(r["month"], {"services": {}, "printer_faults": 0})
        m["services"][SITE_LEVEL] = shaped(r, outcomes.get((r["month"], r["site"], SITE_LEVEL), {}))
        m["printer_faults"] = r["printer_faults"]
    for r in level_rows(conn, "site_service", month, site):
        if r["service"] == "":
            continue  # what belongs to no service counts in the whole site only
        m = out.setdefault(r["site"], {}).setdefault(r["month"], {"services": {}, "printer_faults": 0})
        m["services"][r["service"]] = shaped(r, outcomes.get((r["month"], r["site"], r["service"]), {}))
    return out

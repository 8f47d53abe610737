"""What a monthly report page shows, read from the analysts' views (central/views.py): the
same numbers a BI tool and `central export` see, small cells withheld.

A report is for a month at one scope — the nation, a region, a site or an authority across the
nation — with a comparison month beside it (the previous month, or the same month a year
before), a breakdown (per authority, per site) and the clerks' outcomes.
"""
from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field
from typing import Any

import psycopg

from central.monthly import add_withheld, plain, rows

#: scope kind → (the view of its headline row, the column that names it)
SCOPES: dict[str, tuple[str, str | None]] = {
    "nation": ("monthly_nation", None),
    "region": ("monthly_region", "region"),
    "site": ("monthly_site", "site"),
    "authority": ("monthly_authority", "authority"),
}
COMPARISONS = ("previous", "year")


def _N(s: str) -> str:
    """Marks a label for the catalog; the page translates it."""
    return s


#: The headline figures, in the order shown: (column, label, kind). kind: "min" (minutes),
#: "share" (0–1 shown as %), "count", "rate" (a decimal), "mean5" (1–5).
FIGURES: tuple[tuple[str, str, str], ...] = (
    ("tickets", _N("Tickets"), "count"),
    ("tickets_per_open_hour", _N("Tickets per opening hour"), "rate"),
    ("waiting_median_min", _N("Waiting time, median (min)"), "min"),
    ("waiting_p90_min", _N("Waiting time, 90th percentile (min)"), "min"),
    ("within_target_share", _N("Served within the target wait"), "share"),
    ("service_median_min", _N("Service time, median (min)"), "min"),
    ("service_p90_min", _N("Service time, 90th percentile (min)"), "min"),
    ("no_show", _N("No-shows"), "count"),
    ("transferred", _N("Transfers to another authority"), "count"),
    ("responses", _N("Feedback responses"), "count"),
    ("response_rate", _N("Response rate (responses ÷ customers served)"), "share"),
    ("satisfaction_mean", _N("Satisfaction, mean (1–5)"), "mean5"),
    ("positive_share", _N("Positive"), "share"),
    ("neutral_share", _N("Neutral"), "share"),
    ("negative_share", _N("Negative"), "share"),
    ("done_share", _N("Matter done"), "share"),
    ("started_share", _N("Matter started"), "share"),
    ("not_done_share", _N("Matter not done"), "share"),
    ("self_service_yes_share", _N("Could do it themselves next time"), "share"),
)
#: The columns of the breakdown tables (a subset of FIGURES)
BREAKDOWN = ("tickets", "waiting_median_min", "waiting_p90_min", "within_target_share", "service_median_min",
             "satisfaction_mean", "responses")


def month_shift(month: str, months: int) -> str:
    y, m = int(month[:4]), int(month[5:7])
    n = y * 12 + (m - 1) + months
    return f"{n // 12:04d}-{n % 12 + 1:02d}"


def comparison_month(month: str, comparison: str) -> str:
    return month_shift(month, -12 if comparison == "year" else -1)


def _with_rate(r: dict[str, Any] | None) -> dict[str, Any] | None:
    """Adds the feedback response rate: responses ÷ customers served (withheld with either)."""
    if r is None:
        return None
    served, responses = r.get("service_n"), r.get("responses")
    r["response_rate"] = round(responses / served, 3) if served and responses is not None else None
    return r


@dataclass
class Report:
    scope: str
    key: str | None
    month: str
    compare: str
    compare_month: str
    headline: dict[str, Any] | None
    previous: dict[str, Any] | None
    breakdowns: list[tuple[str, str, list[dict[str, Any]]]] = field(default_factory=list)  # (id, label key, rows)
    previous_breakdowns: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # id → the comparison's
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    trend: list[dict[str, Any]] = field(default_factory=list)  # the last 12 months' headline rows
    transfers: list[dict[str, Any]] = field(default_factory=list)  # from service → to service, n
    #: arrivals and mean waits by ISO weekday (1–7) × hour: {(dow, hour): (tickets, mean wait min)}
    heat: dict[tuple[int, int], tuple[int | None, float | None]] = field(default_factory=dict)


def _breakdowns(conn: psycopg.Connection, scope: str, key: str | None,
                month: str) -> list[tuple[str, str, list[dict[str, Any]]]]:
    if scope == "nation":
        return [("authorities", "authority", rows(conn, "monthly_authority", [("month", month)])),
                ("regions", "region", rows(conn, "monthly_region", [("month", month)])),
                ("sites", "site", rows(conn, "monthly_site", [("month", month)]))]
    if scope == "region":
        return [("authorities", "authority", rows(conn, "monthly_region_authority", [("month", month), ("region", key)])),
                ("sites", "site", rows(conn, "monthly_site", [("month", month), ("region", key)]))]
    if scope == "site":
        return [("services", "service", [r for r in rows(conn, "monthly_site_service", [("month", month), ("site", key)])
                                         if r["service"]])]
    return [("sites", "site", rows(conn, "monthly_site_service", [("month", month), ("authority", key)]))]


def _headlines(conn: psycopg.Connection, scope: str, key: str | None, first: str,
               last: str) -> dict[str, dict[str, Any]]:
    """The scope's headline row of each month from `first` to `last`."""
    from psycopg import sql

    view, col = SCOPES[scope]
    query = sql.SQL("SELECT * FROM {} WHERE month BETWEEN %s AND %s").format(sql.Identifier(view))
    args: list[Any] = [first, last]
    if col:
        query += sql.SQL(" AND {} = %s").format(sql.Identifier(col))
        args.append(key)
    cur = conn.execute(query, args)
    names = [c.name for c in cur.description or ()]
    out = {}
    for r in cur.fetchall():
        row = _with_rate({k: plain(v) for k, v in zip(names, r)})
        assert row is not None
        out[row["month"]] = row
    return out


def report_months(month: str, compare: str) -> list[str]:
    """Every month a report of `month` reads: its trend (the last 12) and its comparison."""
    return [month_shift(month, -i) for i in range(11, -1, -1)] + [comparison_month(month, compare)]


def build(conn: psycopg.Connection, scope: str, key: str | None, month: str, compare: str = "previous",
          sites_of_region: list[str] | None = None) -> Report:
    if scope not in SCOPES:
        raise ValueError(scope)
    cmp_month = comparison_month(month, compare)
    # The headline of the month, of its comparison and of the last 12 months: one query.
    trend_months = report_months(month, compare)[:12]
    by_month = _headlines(conn, scope, key, min(cmp_month, trend_months[0]), month)
    rep = Report(scope, key, month, compare, cmp_month, by_month.get(month), by_month.get(cmp_month))
    rep.trend = [by_month.get(m) or {"month": m} for m in trend_months]
    rep.breakdowns = _breakdowns(conn, scope, key, month)
    rep.previous_breakdowns = {b[0]: b[2] for b in _breakdowns(conn, scope, key, cmp_month)}
    outcome_where: list[tuple[str, Any]] = [("month", month)] + (
        [("site", key)] if scope == "site" else [("authority", key)] if scope == "authority" else [])
    outcomes = rows(conn, "monthly_outcomes", outcome_where)
    if scope == "region":
        allowed = set(sites_of_region or ())
        outcomes = [o for o in outcomes if o["site"] in allowed]
    rep.outcomes = _sum_outcomes(outcomes)
    rep.heat = heat(conn, scope, key, month)
    rep.transfers = transfers(conn, scope, key, month)
    return rep


#: scope kind → the condition on pp_attr (alias a) that selects it
_SCOPE_WHERE = {"nation": "TRUE", "region": "a.region = %(key)s", "site": "a.site = %(key)s",
                "authority": "a.authority = %(key)s"}


def heat(conn: psycopg.Connection, scope: str, key: str | None, month: str,
         small_cell: int | None = None) -> dict[tuple[int, int], tuple[int | None, float | None]]:
    """Tickets and the mean wait per weekday × hour of the month, from the hourly roll-ups; a cell
    of fewer than the small-cell count of tickets (or waits) is withheld (None)."""
    if small_cell is None:
        row = conn.execute("SELECT pp_small_cell()").fetchone()
        small_cell = int(row[0]) if row else 5
    out: dict[tuple[int, int], tuple[int | None, float | None]] = {}
    for dow, hour, issued, waits, wait_ms in conn.execute(
            "SELECT extract(isodow FROM h.day)::int, h.hour, sum(h.issued), sum(h.waits), sum(h.wait_sum_ms) "
            "FROM rollup_hours h JOIN pp_attr a ON a.site = h.site AND a.service = h.service "
            f"WHERE h.month = %(month)s AND {_SCOPE_WHERE[scope]} GROUP BY 1, 2",
            {"month": month, "key": key}).fetchall():
        tickets = int(issued) if issued >= small_cell or issued == 0 else None
        # None: withheld (a few waits); NaN: no wait at all that hour
        mean = math.nan if not waits else round(float(wait_ms) / float(waits) / 60000, 1) \
            if waits >= small_cell else None
        out[(dow, hour)] = (tickets, mean)
    return out


def transfers(conn: psycopg.Connection, scope: str, key: str | None, month: str) -> list[dict[str, Any]]:
    """Transfers between authorities in the scope's month (from → to, the national authorities;
    at a site, its services); withheld below the small-cell count."""
    by_service = scope == "site"
    src = "t.from_service" if by_service else "coalesce(af.authority, pp_authority(t.from_service))"
    dst = "t.to_service" if by_service else "coalesce(at.authority, pp_authority(t.to_service))"
    where = {"nation": "TRUE", "region": "s.region = %(key)s", "site": "t.site = %(key)s",
             "authority": "(coalesce(af.authority, pp_authority(t.from_service)) = %(key)s "
                          "OR coalesce(at.authority, pp_authority(t.to_service)) = %(key)s)"}[scope]
    got = conn.execute(
        f"SELECT {src} AS source, {dst} AS target, sum(t.n) AS n, pp_small_cell() FROM rollup_transfers t "
        "LEFT JOIN sites s ON s.site = t.site "
        "LEFT JOIN site_services af ON af.site = t.site AND af.service = t.from_service "
        "LEFT JOIN site_services at ON at.site = t.site AND at.service = t.to_service "
        f"WHERE t.month = %(month)s AND {where} GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2",
        {"month": month, "key": key}).fetchall()
    return [{"from": a, "to": b, "n": int(n) if n >= small else None} for a, b, n, small in got]


def compare_sites(conn: psycopg.Connection, month: str, column: str, region: str | None = None) -> list[dict[str, Any]]:
    """One figure of every site (of a region) side by side, best first where that is clear."""
    where: list[tuple[str, Any]] = [("month", month)] + ([("region", region)] if region else [])
    got = rows(conn, "monthly_site", where)
    return sorted(got, key=lambda r: (r.get(column) is None, r.get(column) or 0, r["site"]))


def _sum_outcomes(outcomes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per outcome over the scope; a withheld count keeps the total withheld (else the difference
    between two totals would tell it)."""
    total: dict[str, int | None] = {}
    for o in outcomes:
        add_withheld(total, o["outcome"], o["n"])
    return [{"outcome": k, "n": v} for k, v in sorted(total.items())]


def site_region(conn: psycopg.Connection, site: str) -> str | None:
    row = conn.execute("SELECT region FROM sites WHERE site = %s", (site,)).fetchone()
    return row[0] if row else None


def sites_in(conn: psycopg.Connection, region: str | None = None) -> list[str]:
    if region is None:
        return [r[0] for r in conn.execute("SELECT site FROM sites ORDER BY site")]
    return [r[0] for r in conn.execute("SELECT site FROM sites WHERE region = %s ORDER BY site", (region,))]


def latest_month(conn: psycopg.Connection) -> str:
    row = conn.execute("SELECT max(month) FROM rollup_hours").fetchone()
    return row[0] if row and row[0] else _dt.date.today().strftime("%Y-%m")


SENTIMENTS = ("positive", "neutral", "negative")


def comments(conn: psycopg.Connection, scope: str, key: str | None, month: str, sentiment: str | None = None,
             service: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
    """The month's free-text comments (masked at the ingest), each with its face and service, from
    each response's last snapshot; misuse-flagged responses left out. Newest first."""
    sql = ("SELECT f.day, f.site, f.service, f.rating, f.scale, f.sentiment, e.data::json->>'comment' "
           "FROM feedback_responses f JOIN events e ON e.site = f.site AND e.device = f.device AND e.seq = f.seq "
           "JOIN pp_attr a ON a.site = f.site AND a.service = f.service "
           f"WHERE f.month = %(month)s AND NOT f.flagged AND {_SCOPE_WHERE[scope]} "
           "AND coalesce(e.data::json->>'comment', '') <> ''")
    args: dict[str, Any] = {"month": month, "key": key, "limit": limit}
    if sentiment in SENTIMENTS:
        sql += " AND f.sentiment = %(sentiment)s"
        args["sentiment"] = sentiment
    if service is not None:
        sql += " AND f.service = %(service)s"
        args["service"] = service
    out = []
    for day, site, svc, rating, scale, senti, text in conn.execute(
            sql + " ORDER BY f.day DESC, f.hour DESC, f.response LIMIT %(limit)s", args).fetchall():
        out.append({"day": day, "site": site, "service": svc, "rating": rating, "scale": scale,
                    "sentiment": senti, "comment": text})
    return out


def comment_services(conn: psycopg.Connection, scope: str, key: str | None, month: str) -> list[str]:
    """The services the month's comments in the scope are about (the page's filter choices)."""
    return [r[0] for r in conn.execute(
        "SELECT DISTINCT f.service FROM feedback_responses f JOIN events e ON e.site = f.site "
        "AND e.device = f.device AND e.seq = f.seq JOIN pp_attr a ON a.site = f.site AND a.service = f.service "
        f"WHERE f.month = %(month)s AND NOT f.flagged AND {_SCOPE_WHERE[scope]} AND f.service <> '' "
        "AND coalesce(e.data::json->>'comment', '') <> '' ORDER BY 1", {"month": month, "key": key}).fetchall()]

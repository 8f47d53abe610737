"""The analysts' views of the central database, and the SQL functions they use: the monthly
figures at every level (site, site × service, region, authority across the nation, region ×
authority, nation), daily visits, feedback responses per day, the clerks' outcomes and the
transfers between authorities. Every figure computed from fewer than `small_cell` tickets or
responses (the `settings` table; 5 unless changed with `palvelupiste central settings`) is NULL
and named in the row's `withheld` column: withheld, never shown as zero.

They hold no data: `install(conn)` drops and recreates them after the migrations on every start
(so they always match this code) and grants them again to the read-only roles recorded in
`settings`. The figures command and the export read these views, so a BI tool, a file export and
the command line show the same numbers.
"""
from __future__ import annotations

from core import histogram
from core.national import AUTHORITIES, FORMER, OTHER

#: level → the columns a row of its monthly view is keyed by (beside the month)
LEVELS: dict[str, tuple[str, ...]] = {
    "site": ("site",),
    "site_service": ("site", "service"),
    "region": ("region",),
    "authority": ("authority",),
    "region_authority": ("region", "authority"),
    "nation": (),
}
#: the views a read-only role may read (and the export writes), in the order the README lists them
VIEWS: tuple[str, ...] = (*(f"monthly_{level}" for level in LEVELS), "monthly_outcomes", "monthly_transfers",
                          "daily_visits", "daily_feedback")
#: what each figure is computed from: the figure's columns are withheld when that count is small
GROUPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "tickets": ("tickets", ("tickets", "walk_in", "appointment", "tickets_per_open_hour", "no_show", "cancelled",
                            "transferred")),
    "waiting": ("waiting_n", ("waiting_n", "waiting_mean_min", "waiting_median_min", "waiting_p90_min",
                              "within_target_share")),
    "service": ("service_n", ("service_n", "service_mean_min", "service_median_min", "service_p90_min")),
    "satisfaction": ("responses", ("responses", "satisfaction_mean", "positive", "neutral", "negative",
                                   "positive_share", "neutral_share", "negative_share")),
    "matter": ("matter_n", ("matter_n", "done", "started", "not_done", "done_share", "started_share",
                            "not_done_share")),
    "self_service": ("self_service_n", ("self_service_n", "self_service_yes", "self_service_no",
                                        "self_service_yes_share", "self_service_no_share")),
}


def _bin_bounds_sql() -> str:
    last = histogram.STEPS[-1][1]
    lo_cases, first, start = [f"WHEN b >= {histogram.OVERFLOW} THEN {last}"], 0, 0
    width_cases = [f"WHEN b >= {histogram.OVERFLOW} THEN 0"]
    steps = []
    for width, end in histogram.STEPS:
        steps.append((first, start, width))
        first += (end - start) // width
        start = end
    for first, start, width in reversed(steps):
        lo_cases.append(f"WHEN b >= {first} THEN {start} + (b - {first}) * {width}")
        width_cases.append(f"WHEN b >= {first} THEN {width}")
    lo_sql = "(CASE " + " ".join(lo_cases) + " END)::float8"
    width_sql = "(CASE " + " ".join(width_cases) + " END)::float8"
    return ("CREATE FUNCTION pp_bin_bounds(b integer, OUT lo float8, OUT hi float8) LANGUAGE sql IMMUTABLE AS $$ "
            f"SELECT {lo_sql}, {lo_sql} + {width_sql} $$;")


def _authority_sql() -> str:
    pairs = {**{a: a for a in AUTHORITIES}, **FORMER}
    whens = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in pairs.items())
    return (f"CREATE FUNCTION pp_authority(service text) RETURNS text LANGUAGE sql IMMUTABLE AS $$ "
            f"SELECT CASE service {whens} ELSE '{OTHER}' END $$;")


FUNCTIONS = (
    """CREATE FUNCTION pp_small_cell() RETURNS integer LANGUAGE sql STABLE SECURITY DEFINER
       SET search_path = public, pg_temp AS $$
       SELECT coalesce((SELECT value::integer FROM settings WHERE key = 'small_cell'), 5) $$;""",
    _bin_bounds_sql(),
    _authority_sql(),
    # The nearest-rank quantile, interpolated inside its bin: core.histogram.quantile, in SQL.
    """CREATE FUNCTION pp_quantile(bins integer[], ns bigint[], q float8) RETURNS float8
       LANGUAGE plpgsql IMMUTABLE AS $$
       DECLARE total bigint; wanted bigint; seen bigint := 0; b record;
       BEGIN
         SELECT sum(x) INTO total FROM unnest(ns) x WHERE x > 0;
         IF total IS NULL OR total = 0 THEN RETURN NULL; END IF;
         wanted := greatest(1, ceil(q * total));
         FOR i IN 1 .. coalesce(array_length(bins, 1), 0) LOOP
           CONTINUE WHEN ns[i] <= 0;
           IF seen + ns[i] >= wanted THEN
             SELECT * INTO b FROM pp_bin_bounds(bins[i]);
             RETURN b.lo + (b.hi - b.lo) * (wanted - seen - 0.5) / ns[i];
           END IF;
           seen := seen + ns[i];
         END LOOP;
         RETURN NULL;
       END $$;""",
    "CREATE FUNCTION pp_min(ms numeric, n numeric) RETURNS numeric LANGUAGE sql IMMUTABLE AS $$ "
    "SELECT CASE WHEN n > 0 THEN round(ms / n / 60000.0, 1) END $$;",
    "CREATE FUNCTION pp_share(part numeric, total numeric) RETURNS numeric LANGUAGE sql IMMUTABLE AS $$ "
    "SELECT CASE WHEN total > 0 THEN round(part / total, 3) END $$;",
)

#: Each (site, service) the roll-ups know, with the site's region and municipality ('' where the
#: site's configuration never came) and the service's national authority ('' for what belongs to
#: no service: printer faults, feedback not given about a service).
BASE_VIEWS = (
    """CREATE VIEW pp_attr AS
       SELECT k.site, k.service, coalesce(s.region, '') AS region, coalesce(s.municipality, '') AS municipality,
              CASE WHEN k.service = '' THEN '' ELSE coalesce(ss.authority, pp_authority(k.service)) END AS authority
       FROM rollup_keys k LEFT JOIN sites s ON s.site = k.site
       LEFT JOIN site_services ss ON ss.site = k.site AND ss.service = k.service""",
    # A site's opening hours in a month: the configured hours of the days it issued tickets,
    # or, for a site without [opening_hours], the hours in which a ticket was taken.
    """CREATE VIEW pp_site_open_hours AS
       SELECT d.month, d.site,
              CASE WHEN count(d.open_s) > 0 THEN sum(d.open_s) / 3600.0
                   ELSE (SELECT count(*) FROM (SELECT DISTINCT h.day, h.hour FROM rollup_hours h
                         WHERE h.site = d.site AND h.month = d.month AND h.issued > 0) x) END AS hours
       FROM rollup_days d GROUP BY d.month, d.site""",
)


def _keys(level: str, alias: str = "a") -> tuple[str, str]:
    """(select list, group by) of a level's key columns taken from pp_attr `alias`."""
    names = ", ".join(f"{alias}.{c}" for c in LEVELS[level])
    return names, names


def _join_on(level: str, left: str, right: str) -> str:
    return " AND ".join([f"{left}.month = {right}.month", *(f"{left}.{c} = {right}.{c}" for c in LEVELS[level])])


def monthly_view(level: str) -> str:
    sel, grp = _keys(level)
    cols = LEVELS[level]
    inner = f"""
      SELECT b.month{', ' if sel else ''}{sel},
             sum(b.issued) AS tickets, sum(b.walk_in) AS walk_in, sum(b.appointment) AS appointment,
             sum(b.no_show) AS no_show, sum(b.cancelled) AS cancelled, sum(b.transferred) AS transferred,
             sum(b.waits) AS waiting_n, sum(b.wait_sum_ms) AS wait_sum_ms, sum(b.within_target) AS within_target,
             sum(b.judged) AS judged, sum(b.served) AS service_n, sum(b.service_sum_ms) AS service_sum_ms,
             sum(b.printer_faults) AS printer_faults
      FROM rollup_month b JOIN pp_attr a ON a.site = b.site AND a.service = b.service
      GROUP BY b.month{', ' if grp else ''}{grp}"""
    open_hours = f"""
      SELECT g.month{''.join(f', g.{c}' for c in cols)}, sum(o.hours) AS hours
      FROM (SELECT DISTINCT b.month{''.join(f', a.{c}' for c in cols)}, b.site AS open_site
            FROM rollup_month b JOIN pp_attr a ON a.site = b.site AND a.service = b.service
            WHERE b.issued > 0) g
      JOIN pp_site_open_hours o ON o.month = g.month AND o.site = g.open_site
      GROUP BY g.month{''.join(f', g.{c}' for c in cols)}"""
    # Both histograms in one pass over the month's bins (the wait's and the service time's quantiles
    # side by side): reading them separately cost a second scan of every bin.
    def q(metric: str, p: float) -> str:
        return (f"pp_quantile(array_agg(x.bin ORDER BY x.bin) FILTER (WHERE x.metric = '{metric}'), "
                f"(array_agg(x.n ORDER BY x.bin) FILTER (WHERE x.metric = '{metric}'))::bigint[], {p})")

    hist = f"""
      SELECT x.month{''.join(f', x.{c}' for c in cols)},
             {q('wait', 0.5)} AS wait_median_s, {q('wait', 0.9)} AS wait_p90_s,
             {q('service', 0.5)} AS service_median_s, {q('service', 0.9)} AS service_p90_s
      FROM (SELECT h.month{''.join(f', a.{c}' for c in cols)}, h.metric, h.bin::integer AS bin, sum(h.n) AS n
            FROM rollup_hist h JOIN pp_attr a ON a.site = h.site AND a.service = h.service
            GROUP BY h.month{''.join(f', a.{c}' for c in cols)}, h.metric, h.bin) x
      GROUP BY x.month{''.join(f', x.{c}' for c in cols)}"""
    feedback = f"""
      SELECT f.month{''.join(f', a.{c}' for c in cols)},
             sum(f.responses) AS responses, sum(f.score_sum) / nullif(sum(f.score_n), 0) AS mean5,
             sum(f.positive) AS positive, sum(f.neutral) AS neutral, sum(f.negative) AS negative,
             sum(f.matter_n) AS matter_n, sum(f.done) AS done, sum(f.started) AS started,
             sum(f.not_done) AS not_done, sum(f.self_service_n) AS self_service_n,
             sum(f.self_service_yes) AS self_service_yes, sum(f.self_service_no) AS self_service_no,
             sum(f.flagged) AS flagged
      FROM feedback_month f JOIN pp_attr a ON a.site = f.site AND a.service = f.service
      GROUP BY f.month{''.join(f', a.{c}' for c in cols)}"""
    # Every group that has tickets or responses.
    keys = f"""
      SELECT month{''.join(f', {c}' for c in cols)} FROM ({inner}) t
      UNION SELECT month{''.join(f', {c}' for c in cols)} FROM ({feedback}) f"""
    raw = f"""
      SELECT k.month{''.join(f', k.{c}' for c in cols)},
             coalesce(t.tickets, 0) AS tickets, coalesce(t.walk_in, 0) AS walk_in,
             coalesce(t.appointment, 0) AS appointment,
             round(t.tickets / nullif(o.hours, 0), 1) AS tickets_per_open_hour,
             coalesce(t.no_show, 0) AS no_show, coalesce(t.cancelled, 0) AS cancelled,
             coalesce(t.transferred, 0) AS transferred,
             coalesce(t.waiting_n, 0) AS waiting_n, pp_min(t.wait_sum_ms, t.waiting_n) AS waiting_mean_min,
             round((hq.wait_median_s / 60)::numeric, 1) AS waiting_median_min,
             round((hq.wait_p90_s / 60)::numeric, 1) AS waiting_p90_min,
             pp_share(t.within_target, t.judged) AS within_target_share,
             coalesce(t.service_n, 0) AS service_n, pp_min(t.service_sum_ms, t.service_n) AS service_mean_min,
             round((hq.service_median_s / 60)::numeric, 1) AS service_median_min,
             round((hq.service_p90_s / 60)::numeric, 1) AS service_p90_min,
             coalesce(f.responses, 0) AS responses, round(f.mean5, 2) AS satisfaction_mean,
             coalesce(f.positive, 0) AS positive, coalesce(f.neutral, 0) AS neutral,
             coalesce(f.negative, 0) AS negative,
             pp_share(f.positive, f.responses) AS positive_share, pp_share(f.neutral, f.responses) AS neutral_share,
             pp_share(f.negative, f.responses) AS negative_share,
             coalesce(f.matter_n, 0) AS matter_n, coalesce(f.done, 0) AS done, coalesce(f.started, 0) AS started,
             coalesce(f.not_done, 0) AS not_done, pp_share(f.done, f.matter_n) AS done_share,
             pp_share(f.started, f.matter_n) AS started_share, pp_share(f.not_done, f.matter_n) AS not_done_share,
             coalesce(f.self_service_n, 0) AS self_service_n, coalesce(f.self_service_yes, 0) AS self_service_yes,
             coalesce(f.self_service_no, 0) AS self_service_no,
             pp_share(f.self_service_yes, f.self_service_n) AS self_service_yes_share,
             pp_share(f.self_service_no, f.self_service_n) AS self_service_no_share,
             coalesce(f.flagged, 0) AS flagged_left_out, coalesce(t.printer_faults, 0) AS printer_faults
      FROM ({keys}) k
      LEFT JOIN ({inner}) t ON {_join_on(level, 't', 'k')}
      LEFT JOIN ({open_hours}) o ON {_join_on(level, 'o', 'k')}
      LEFT JOIN ({hist}) hq ON {_join_on(level, 'hq', 'k')}
      LEFT JOIN ({feedback}) f ON {_join_on(level, 'f', 'k')}"""
    withheld_parts = []
    outer_cols = []
    for group, (base, columns) in GROUPS.items():
        # A figure from no tickets or responses at all is no figure (NULL, or a true 0 count), not withheld.
        small = f"r.{base} > 0 AND r.{base} < pp_small_cell()"
        withheld_parts.append(f"CASE WHEN {small} THEN '{group}' END")
        for c in columns:
            outer_cols.append(f"CASE WHEN {small} THEN NULL ELSE r.{c} END AS {c}")
    extra_keys = {"site": ["region", "municipality"], "site_service": ["region", "municipality", "authority"]}
    attr_join = ""
    if level in extra_keys:
        attr_join = (" LEFT JOIN (SELECT DISTINCT " + ", ".join(f"a.{c}" for c in (*cols, *extra_keys[level]))
                     + " FROM pp_attr a) c ON " + " AND ".join(f"c.{k} = r.{k}" for k in cols))
    keys_out = ", ".join(["r.month", *(f"r.{c}" for c in cols), *(f"c.{c}" for c in extra_keys.get(level, []))])
    return (f"CREATE VIEW monthly_{level} AS SELECT {keys_out}, " + ", ".join(outer_cols)
            + ", r.flagged_left_out, r.printer_faults, "
            f"array_remove(ARRAY[{', '.join(withheld_parts)}], NULL) AS withheld FROM ({raw}) r{attr_join}")


OTHER_VIEWS = (
    # The clerks' outcomes per site and service; withheld below the small-cell count.
    """CREATE VIEW monthly_outcomes AS
       SELECT o.month, o.site, o.service, a.authority, o.outcome,
              CASE WHEN sum(o.n) < pp_small_cell() THEN NULL ELSE sum(o.n) END AS n,
              sum(o.n) < pp_small_cell() AS withheld
       FROM rollup_outcomes o LEFT JOIN pp_attr a ON a.site = o.site AND a.service = o.service
       GROUP BY o.month, o.site, o.service, a.authority, o.outcome""",
    """CREATE VIEW monthly_transfers AS
       SELECT t.month, t.site, t.from_service, t.to_service,
              CASE WHEN sum(t.n) < pp_small_cell() THEN NULL ELSE sum(t.n) END AS n,
              sum(t.n) < pp_small_cell() AS withheld
       FROM rollup_transfers t GROUP BY t.month, t.site, t.from_service, t.to_service""",
    """CREATE VIEW daily_visits AS
       SELECT h.day, h.site, h.service, a.authority,
              CASE WHEN sum(h.issued) < pp_small_cell() THEN NULL ELSE sum(h.issued) END AS tickets,
              CASE WHEN sum(h.issued) < pp_small_cell() THEN NULL ELSE sum(h.waits) END AS called,
              CASE WHEN sum(h.issued) < pp_small_cell() THEN NULL ELSE sum(h.no_show) END AS no_show,
              sum(h.issued) < pp_small_cell() AS withheld
       FROM rollup_hours h LEFT JOIN pp_attr a ON a.site = h.site AND a.service = h.service
       WHERE h.service <> '' GROUP BY h.day, h.site, h.service, a.authority""",
    """CREATE VIEW daily_feedback AS
       SELECT f.day, f.site, f.service, a.authority,
              CASE WHEN count(f.rating) < pp_small_cell() THEN NULL ELSE count(f.rating) END AS responses,
              CASE WHEN count(f.rating) < pp_small_cell() THEN NULL
                   ELSE round(avg(1 + (f.rating - 1) * 4.0 / (f.scale - 1)), 2) END AS satisfaction_mean,
              CASE WHEN count(f.rating) < pp_small_cell() THEN NULL
                   ELSE count(*) FILTER (WHERE f.sentiment = 'positive') END AS positive,
              CASE WHEN count(f.rating) < pp_small_cell() THEN NULL
                   ELSE count(*) FILTER (WHERE f.sentiment = 'neutral') END AS neutral,
              CASE WHEN count(f.rating) < pp_small_cell() THEN NULL
                   ELSE count(*) FILTER (WHERE f.sentiment = 'negative') END AS negative,
              count(f.rating) < pp_small_cell() AS withheld
       FROM feedback_responses f LEFT JOIN pp_attr a ON a.site = f.site AND a.service = f.service
       GROUP BY f.day, f.site, f.service, a.authority""",
)

_FUNCTION_NAMES = ("pp_small_cell()", "pp_bin_bounds(integer)", "pp_authority(text)",
                   "pp_quantile(integer[], bigint[], float8)", "pp_min(numeric, numeric)",
                   "pp_share(numeric, numeric)")


def statements() -> list[str]:
    """Drop and create every view and function, in order (run in one transaction)."""
    out = [f"DROP VIEW IF EXISTS {v} CASCADE" for v in (*reversed(VIEWS), "pp_site_open_hours",
                                                         "pp_month_base",  # before migration 4
                                                         "pp_attr")]
    out += [f"DROP FUNCTION IF EXISTS {f} CASCADE" for f in _FUNCTION_NAMES]
    out += list(FUNCTIONS) + list(BASE_VIEWS) + [monthly_view(level) for level in LEVELS] + list(OTHER_VIEWS)
    return out

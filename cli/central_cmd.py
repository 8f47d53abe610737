"""palvelupiste central ... — the central side: ingest workers, publishing down the wire, reports."""
from __future__ import annotations

import json
import sys

from runtime import process


def _broker_opts(p, default_user: str) -> None:
    p.add_argument("--broker", required=True, help="central broker, e.g. mqtt://127.0.0.1:1883 or mqtts://central:8883")
    p.add_argument("--username", default=default_user, help=f"broker user name (default: {default_user})")
    p.add_argument("--password-file", help="file holding the broker password")
    p.add_argument("--ca-file", help="CA certificate that signed the broker's certificate (mqtts://)")
    p.add_argument("--cert-file", help="client certificate (when the broker requires one)")
    p.add_argument("--key-file", help="client key")
    p.add_argument("--client-id", metavar="INSTANCE",
                   help="this connection's instance; the client id is <username>/INSTANCE "
                        "(default: the host and process)")


def register(sub) -> None:
    p = sub.add_parser("central", help="central side: ingest, publish config/appointments, report")
    a = p.add_subparsers(dest="central_action", metavar="ACTION", required=True)

    i = a.add_parser("ingest", help="run an ingest worker (several may share one database and broker)")
    i.add_argument("--db", required=True, help="the central database: a PostgreSQL connection string "
                   "(postgresql://…), or a SQLite file (created if missing)")
    _broker_opts(i, "ingest")
    process.add_log_option(i)
    i.set_defaults(func=run_ingest)

    c = a.add_parser("publish-config", help="validate a site configuration and publish it (retained) to the site",
                     description="Refused whole (exit 2) when any field is wrong or the site id differs from SITE.")
    c.add_argument("site")
    c.add_argument("file")
    _broker_opts(c, "publisher")
    c.set_defaults(func=run_publish_config)

    ap = a.add_parser("publish-appointments", help="validate an appointment list (CSV or JSON) and publish it",
                      description="Refused whole (exit 2) naming the line that is wrong. The services are checked "
                                  "against --site-config, or against the configuration published on the broker.")
    ap.add_argument("site")
    ap.add_argument("file")
    ap.add_argument("--site-config", help="site configuration to check against (default: the retained one)")
    _broker_opts(ap, "publisher")
    ap.set_defaults(func=run_publish_appointments)

    r = a.add_parser("report", help="events per site, device and type; acknowledgements; dead letters")
    _db_opt(r)
    r.add_argument("--json", action="store_true", help="print the report as JSON")
    r.set_defaults(func=run_report)

    f = a.add_parser("figures", help="the monthly figures (the analysts' views): waiting and service time, tickets "
                                     "per opening hour, satisfaction, matter done, could do it yourself",
                     description="Read from the roll-ups through the analysts' views, so the numbers are those a BI "
                                 "tool and `central export` see; a figure from fewer than the small-cell count of "
                                 "tickets or responses is withheld (named under `withheld`, never shown as 0).")
    _db_opt(f)
    f.add_argument("--level", default="site", choices=tuple(LEVEL_NAMES),
                   help="site (with its services; the default), site_service, region, authority (across the "
                        "nation), region_authority or nation")
    f.add_argument("--site", help="only this site (levels site and site_service)")
    f.add_argument("--month", help="only this month, YYYY-MM (the site's local time)")
    f.add_argument("--json", action="store_true", help="print the figures as JSON")
    f.set_defaults(func=run_figures)

    s_ = a.add_parser("sites", help="register a site's configuration with the central store (region, municipality, "
                                    "authorities, targets, opening hours) and recompute its roll-ups",
                      description="The ingest registers every configuration published with `publish-config`; this "
                                  "registers one without publishing it (a site run before the centre knew it).")
    _db_opt(s_)
    s_.add_argument("file", nargs="+", help="site configuration files (TOML)")
    s_.set_defaults(func=run_sites)

    rb = a.add_parser("rebuild", help="recompute the roll-ups from the stored events (the same numbers as when "
                                      "they were added one batch at a time)")
    _db_opt(rb)
    rb.add_argument("--since", metavar="YYYY-MM", help="only this month and later (default: every month whose raw "
                                                       "events are all still kept)")
    rb.add_argument("--site", action="append", help="only this site (repeatable)")
    rb.set_defaults(func=run_rebuild)

    st = a.add_parser("settings", help="show or change the central settings: the small-cell count, raw-event "
                                       "retention")
    _db_opt(st)
    st.add_argument("--small-cell", type=int, metavar="N",
                    help="withhold every figure computed from fewer than N tickets or responses (default 5; "
                         "0 or 1 withholds nothing)")
    st.add_argument("--retention-days", type=int, metavar="DAYS",
                    help="keep raw events this many days (whole months are kept; roll-ups are kept forever); "
                         "0: keep every event")
    st.set_defaults(func=run_settings)

    pr = a.add_parser("prune", help="delete the raw events older than the retention (roll-ups stay)")
    _db_opt(pr)
    pr.set_defaults(func=run_prune)

    ex = a.add_parser("export", help="write the analysts' views of one month to files (CSV or Parquet)")
    _db_opt(ex)
    ex.add_argument("--month", required=True, metavar="YYYY-MM")
    ex.add_argument("--format", default="csv", choices=("csv", "parquet"))
    ex.add_argument("--out", default=".", metavar="DIR", help="where the files go (default: here)")
    ex.set_defaults(func=run_export)

    from . import central_admin_cmd, central_web_cmd

    central_admin_cmd.register(a)
    central_web_cmd.register(a)


LEVEL_NAMES = ("site", "site_service", "region", "authority", "region_authority", "nation")


def _db_opt(p) -> None:
    p.add_argument("--db", required=True, metavar="DSN",
                   help="the central PostgreSQL database, e.g. postgresql://palvelupiste@/palvelupiste")


def _month_ok(month: str | None) -> bool:
    import re

    if month and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
        print(f"--month {month!r}: must be YYYY-MM", file=sys.stderr)
        return False
    return True


def _open(args):
    """The store, or None after saying why not (exit 2)."""
    import psycopg

    from central.store import open_central

    try:
        return open_central(args.db)
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
    except psycopg.Error as exc:
        print(f"--db: cannot open the central database: {str(exc).strip()[:300]}", file=sys.stderr)
    return None


def _broker(args):
    from core.config import Broker

    return Broker(url=args.broker, username=args.username, password_file=args.password_file,
                  ca_file=args.ca_file, cert_file=args.cert_file, key_file=args.key_file)


def run_ingest(args) -> int:
    from bus import topics
    from bus.link import link_options
    from central.ingest import IngestWorker, default_client_id
    from core.config import Broker

    process.setup_logging(args.log_level)
    try:
        b = Broker(url=args.broker, username=args.username, password_file=args.password_file,
                   ca_file=args.ca_file, cert_file=args.cert_file, key_file=args.key_file)
        if b.tls and not args.ca_file:
            print("central ingest: mqtts:// needs --ca-file", file=sys.stderr)
            return 2
        cid = topics.client_id(b.username or "ingest", args.client_id) if args.client_id \
            else default_client_id(b.username)
        opts = link_options(b, cid, min_backoff_s=0.2, max_backoff_s=10.0)
    except (ValueError, OSError) as exc:
        print(f"central ingest: {exc}", file=sys.stderr)
        return 2
    stop = process.stop_on_signals()
    IngestWorker(args.db, opts).run(stop)
    return 0


def _publish(fn) -> int:
    from central.publish import DownwireError, PublishError

    try:
        print(fn())
    except PublishError as exc:
        print(f"not published: {exc}", file=sys.stderr)
        return 1
    except DownwireError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    except (ValueError, OSError) as exc:
        print(f"not published: {exc}", file=sys.stderr)
        return 1
    return 0


def _client_id(args) -> str | None:
    from bus import topics

    return topics.client_id(args.username, args.client_id) if args.client_id else None


def run_publish_config(args) -> int:
    from central.publish import publish_config

    def go() -> str:
        site = publish_config(args.site, args.file, _broker(args), client_id=_client_id(args))
        return (f"published the configuration of site {site.id} ({len(site.services)} services, "
                f"{len(site.counters)} counters)")
    return _publish(go)


def run_publish_appointments(args) -> int:
    from central.publish import publish_appointments

    def go() -> str:
        n = publish_appointments(args.site, args.file, _broker(args), args.site_config, client_id=_client_id(args))
        return f"published {n} appointments to site {args.site}"
    return _publish(go)


def run_report(args) -> int:
    db = _open(args)
    if db is None:
        return 2
    with db:
        rep = db.report()
    if args.json:
        print(json.dumps(rep, ensure_ascii=False, indent=2))
        return 0
    print(f"{'site/device':40} {'events':>9} {'acked':>9} {'beyond':>7}  availability")
    for d in rep["devices"]:
        print(f"{d['site'] + '/' + d['device']:40} {d['events']:>9} {d['acked_seq']:>9} "
              f"{d['beyond_watermark']:>7}  {d.get('availability') or '-'}")
    for site, s in sorted(rep["sites"].items()):
        types = ", ".join(f"{t} {n}" for t, n in sorted(s["types"].items()))
        print(f"site {site}: {s['events']} events from {s['devices']} devices — {types or 'none'}")
    dl = rep["dead_letters"]
    print(f"dead letters: {dl['rows']} distinct, received {dl['times']} times")
    for r in dl["by_reason"][:20]:
        print(f"  {r['rows']:>6} × {r['reason'][:100]}")
    return 0


def run_figures(args) -> int:
    from central import monthly
    from core.figures import SITE_LEVEL

    if not _month_ok(args.month):
        return 2
    db = _open(args)
    if db is None:
        return 2
    with db:
        if args.level != "site":
            rows = monthly.level_rows(db.conn, args.level, args.month, args.site)
            if args.json:
                print(json.dumps(rows, ensure_ascii=False, indent=2, default=str))
            else:
                _print_level(rows, args.level)
            return 0
        fig = monthly.per_site(db.conn, args.month, args.site)
    if args.json:
        print(json.dumps(fig, ensure_ascii=False, indent=2))
        return 0

    for site, months in sorted(fig.items()):
        for month, m in sorted(months.items()):
            print(f"\n{site} {month}   printer faults {m['printer_faults']}")
            print(_HEADER)
            for service, r in sorted(m["services"].items(), key=lambda kv: (kv[0] != SITE_LEVEL, kv[0])):
                print(_line("(whole site)" if service == SITE_LEVEL else service, r))
    if not fig:
        print("no figures" + (f" in {args.month}" if args.month else ""))
    return 0


_HEADER = (f"{'':14} {'tickets':>7} {'/hour':>6} {'wait med/p90 min':>17} {'service med/p90':>16} "
           f"{'no-show':>7} {'target':>6} {'rated':>5} {'mean':>5} {'pos':>5} {'neg':>5} {'done':>5} {'self':>5}")


def _line(name: str, r: dict) -> str:
    """One row of figures; a withheld figure shows as "withheld" in its place, never as 0."""
    held = set(r.get("withheld", ()))

    def v(x, group: str, fmt: str = "{}") -> str:
        return "withheld" if group in held else "-" if x is None else fmt.format(x)

    def dist(d, group: str) -> str:
        return "withheld" if group in held else "- / -" if d is None else f"{d['median_min']:>5} / {d['p90_min']:>5}"

    def pct(x, group: str) -> str:
        return "withheld" if group in held else "-" if x is None else f"{x * 100:4.0f}%"

    sat, mat, yes = r["satisfaction"], r["matter"], r["could_do_it_yourself"]
    return (f"{name:14} {v(r['tickets'], 'tickets'):>7} {v(r['tickets_per_open_hour'], 'tickets'):>6} "
            f"{dist(r['waiting'], 'waiting'):>17} {dist(r['service'], 'service'):>16} "
            f"{v(r['no_show'], 'tickets'):>7} {pct(r['within_target_share'], 'waiting'):>6} "
            f"{v(sat['n'], 'satisfaction'):>5} {v(sat['mean_of_5'], 'satisfaction'):>5} "
            f"{pct(sat['positive_share'], 'satisfaction'):>5} {pct(sat['negative_share'], 'satisfaction'):>5} "
            f"{pct(mat['done_share'], 'matter'):>5} {pct(yes['yes_share'], 'self_service'):>5}")


def _print_level(rows: list, level: str) -> None:
    from central.monthly import shaped
    from central.views import LEVELS

    if not rows:
        print("no figures")
        return
    print(_HEADER)
    for r in rows:
        name = " ".join(str(r[k]) or "-" for k in ("month", *LEVELS[level]))
        print(_line(name[:14] if len(name) <= 14 else name, shaped(r, {})))


def run_sites(args) -> int:
    from central import rollups
    from core.config import ConfigError, load_site

    sites = []
    for path in args.file:
        try:
            sites.append((load_site(path), open(path, encoding="utf-8").read()))
        except ConfigError as exc:
            print(str(exc), file=sys.stderr)
            return 2
    db = _open(args)
    if db is None:
        return 2
    with db:
        for site, text in sites:
            db.begin()
            db.register_site(site, text)
            db.commit()
            n = rollups.rebuild(db.conn, sites=[site.id], since_month=db.kept_from())
            print(f"registered site {site.id} (region {site.region or '-'}, {len(site.services)} services); "
                  f"roll-ups recomputed from {n} events")
    return 0


def run_rebuild(args) -> int:
    from central import rollups

    if not _month_ok(args.since):
        return 2
    db = _open(args)
    if db is None:
        return 2
    with db:
        kept = db.kept_from()
        if args.since and kept and args.since < kept:
            print(f"--since {args.since}: the raw events before {kept} were pruned (retention); "
                  f"their roll-ups are kept as they are", file=sys.stderr)
            return 2
        n = rollups.rebuild(db.conn, since_month=args.since or kept, sites=args.site)
    print(f"roll-ups recomputed from {n} events" + (f" (from {args.since or kept} on)" if args.since or kept else ""))
    return 0


def run_settings(args) -> int:
    for name, value in (("--small-cell", args.small_cell), ("--retention-days", args.retention_days)):
        if value is not None and value < 0:
            print(f"{name} must be 0 or more", file=sys.stderr)
            return 2
    db = _open(args)
    if db is None:
        return 2
    with db:
        if args.small_cell is not None:
            db.set_setting("small_cell", str(args.small_cell))
        if args.retention_days is not None:
            db.set_setting("retention_days", str(args.retention_days))
        print(json.dumps(db.settings(), indent=2))
    return 0


def run_prune(args) -> int:
    from central.store import SAMPLES_KEEP_MS

    db = _open(args)
    if db is None:
        return 2
    with db:
        n, kept = db.prune()
        samples = db.prune_samples()
    print(f"deleted {n} raw events" + (f"; raw events are kept from {kept} on" if kept else " (no retention set)")
          + f"; deleted {samples} backlog samples older than {SAMPLES_KEEP_MS // 86_400_000} days")
    return 0


def run_export(args) -> int:
    from central.export import export

    if not _month_ok(args.month):
        return 2
    db = _open(args)
    if db is None:
        return 2
    try:
        with db:
            paths = export(db.conn, args.month, args.format, args.out)
    except OSError as exc:
        print(f"export: {exc}", file=sys.stderr)
        return 1
    for p in paths:
        print(p)
    return 0

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
    r.add_argument("--db", required=True)
    r.add_argument("--json", action="store_true", help="print the report as JSON")
    r.set_defaults(func=run_report)

    f = a.add_parser("figures", help="the monthly figures per site and service: waiting and service time, "
                                     "tickets per hour, satisfaction, matter done, could do it yourself")
    f.add_argument("--db", required=True)
    f.add_argument("--site", help="only this site")
    f.add_argument("--month", help="only this month, YYYY-MM (local time)")
    f.add_argument("--tz", default="Europe/Helsinki")
    f.add_argument("--site-config", action="append", default=[], metavar="FILE",
                   help="a site's configuration (repeatable): with it, tickets per opening hour count the "
                        "configured hours and waits are judged against each service's target")
    f.add_argument("--json", action="store_true", help="print the figures as JSON")
    f.set_defaults(func=run_figures)


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
    from pathlib import Path

    from central.store import is_postgres, open_central

    if not is_postgres(args.db) and not Path(args.db).exists():
        print(f"{args.db}: no such database", file=sys.stderr)
        return 2
    with open_central(args.db) as db:
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
    import re
    from pathlib import Path

    from central.store import is_postgres, open_central
    from core.figures import SITE_LEVEL, figures

    if not is_postgres(args.db) and not Path(args.db).exists():
        print(f"{args.db}: no such database", file=sys.stderr)
        return 2
    if args.month and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", args.month):
        print(f"--month {args.month!r}: must be YYYY-MM", file=sys.stderr)
        return 2
    from core.config import ConfigError, load_site

    sites = {}
    for path in args.site_config:
        try:
            site = load_site(path)
        except ConfigError as exc:
            print(str(exc), file=sys.stderr)
            return 2
        sites[site.id] = site
    with open_central(args.db) as db:
        fig = figures(db.figure_rows(args.site), tz=args.tz, month=args.month, sites=sites)
    if args.json:
        print(json.dumps(fig, ensure_ascii=False, indent=2))
        return 0

    def dist(d):
        return f"{d['median_min']:>5} / {d['p90_min']:>5}" if d else f"{'-':>5} / {'-':>5}"

    def pct(x):
        return f"{x * 100:4.0f}%" if x is not None else "   -"

    for site, months in sorted(fig.items()):
        for month, m in sorted(months.items()):
            print(f"\n{site} {month}   printer faults {m['printer_faults']}")
            print(f"{'service':14} {'tickets':>7} {'/hour':>6} {'wait med/p90 min':>17} {'service med/p90':>16} "
                  f"{'no-show':>7} {'target':>6} {'rated':>5} {'mean':>5} {'pos':>5} {'neg':>5} {'done':>5} {'self':>5}")
            for service, r in sorted(m["services"].items(), key=lambda kv: (kv[0] != SITE_LEVEL, kv[0])):
                sat, mat, yes = r["satisfaction"], r["matter"], r["could_do_it_yourself"]
                print(f"{'(whole site)' if service == SITE_LEVEL else service:14} {r['tickets']:>7} "
                      f"{r['tickets_per_open_hour'] or '-':>6} {dist(r['waiting']):>17} {dist(r['service']):>16} "
                      f"{r['no_show']:>7} {pct(r['within_target_share']):>6} {sat['n']:>5} {sat['mean_of_5'] or '-':>5} {pct(sat['positive_share'])} "
                      f"{pct(sat['negative_share'])} {pct(mat['done_share'])} {pct(yes['yes_share'])}")
    if not fig:
        print("no events" + (f" in {args.month}" if args.month else ""))
    return 0

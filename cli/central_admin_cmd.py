"""palvelupiste central devices|backup|restore|setup-db|alerts — running the central host (issues 13, 14).

    palvelupiste central devices add FILE…|-|LINE       a device's central-broker.entry (what device
                                                        provisioning writes; a hub's also holds its
                                                        site broker's bridge, "<site>.bridge"), or several
    palvelupiste central devices add --site S --device D --password-file F
    palvelupiste central devices list [--json]
    palvelupiste central devices remove SITE.DEVICE… | --site S --device D
    palvelupiste central backup --db DSN --out FILE
    palvelupiste central restore --db DSN FILE [--force]
    palvelupiste central setup-db [--config central.toml]   (palvelupiste-central-db.service runs it)
    palvelupiste central alerts [--config central.toml] [--db DSN] [--dry-run]
                                                        (palvelupiste-central-alerts.timer: every minute)

`devices` reads the file paths and the reload command from the central host's configuration
(/etc/palvelupiste/central.toml, central/settings.py); --reload-command replaces the command.
Exit status: 0 done, 2 a bad argument or entry (nothing changed), 1 the files were written but the
broker could not be reloaded (or a backup/restore/set-up failed; or an alert could not be delivered:
it is sent again on the next run).
"""
from __future__ import annotations

import json
import shlex
import sys

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def register(a) -> None:
    """Adds its actions to `palvelupiste central`'s sub-parsers `a`."""
    from central.settings import CENTRAL_CONFIG

    def config_opt(p) -> None:
        p.add_argument("--config", default=CENTRAL_CONFIG, metavar="FILE",
                       help=f"the central host's configuration (default {CENTRAL_CONFIG})")

    def reload_opts(p) -> None:
        g = p.add_mutually_exclusive_group()
        g.add_argument("--reload-command", metavar="CMD",
                       help="how to make the broker read its files again (default: central.toml's [broker] reload, "
                            "systemctl reload mosquitto.service), e.g. 'kill -HUP 1234'")
        g.add_argument("--no-reload", action="store_true", help="write the files only (reload the broker yourself)")

    d = a.add_parser("devices", help="the central broker's device credentials and ACL: add, list, remove",
                     description="The devices' password file of the central broker is the device list; the ACL is "
                                 "made from it (each device: its own events, status and availability, its ack, its "
                                 "site's configuration and appointments; each site broker's bridge \"<site>.bridge\": "
                                 "its site's follow snapshot and bridge state out, its cancels in). Both are replaced "
                                 "atomically and the broker is reloaded.")
    da = d.add_subparsers(dest="devices_action", metavar="ACTION", required=True)
    add = da.add_parser("add", help="add devices (or replace a device's password hash)",
                        description="ENTRY: a file with a device's line, as device provisioning writes it to "
                                    "/etc/palvelupiste/central-broker.entry (a hash, safe to send; a hub's file "
                                    "also has the line of its site broker's bridge), '-' for "
                                    "standard input, or the line itself. Or: --site, --device and --password-file.",
                        epilog="Example: palvelupiste central devices add kiosk-1.entry display-1.entry")
    add.add_argument("entry", nargs="*", metavar="ENTRY")
    add.add_argument("--site", help="with --device and --password-file: a device whose password you hold")
    add.add_argument("--device", metavar="ID")
    add.add_argument("--password-file", metavar="FILE", help="the device's central broker password (one line)")
    config_opt(add)
    reload_opts(add)
    add.set_defaults(func=run_devices_add)

    ls = da.add_parser("list", help="the devices that may log in")
    ls.add_argument("--json", action="store_true")
    config_opt(ls)
    ls.set_defaults(func=run_devices_list)

    rm = da.add_parser("remove", help="remove devices: they can no longer log in (connected ones are cut off)")
    rm.add_argument("user", nargs="*", metavar="SITE.DEVICE")
    rm.add_argument("--site")
    rm.add_argument("--device", metavar="ID")
    config_opt(rm)
    reload_opts(rm)
    rm.set_defaults(func=run_devices_remove)

    b = a.add_parser("backup", help="back the central database up into one file (pg_dump, custom format)",
                     description="A consistent snapshot, taken while the ingest keeps writing; the file is 0600 "
                                 "and appears only when whole. The password, if one is needed, comes from "
                                 "PGPASSWORD or ~/.pgpass.")
    b.add_argument("--db", required=True, metavar="DSN", help="the central database")
    b.add_argument("--out", required=True, metavar="FILE")
    b.set_defaults(func=run_backup)

    r = a.add_parser("restore", help="restore a backup into a database (pg_restore, in one transaction)",
                     description="The database must exist (setup-db makes it) and be empty, unless --force: then "
                                 "every table, view and function of the backup that the database already has is "
                                 "dropped and made again from the file (pg_restore --clean --if-exists), so they "
                                 "hold exactly the backup's rows — whatever was stored since the backup is lost. "
                                 "All of it happens in one transaction: on any error nothing is changed.")
    r.add_argument("--db", required=True, metavar="DSN", help="the database to restore into")
    r.add_argument("file", metavar="FILE", help="a file made by palvelupiste central backup")
    r.add_argument("--force", action="store_true",
                   help="restore over a database that is not empty: its tables that the backup has are replaced "
                        "by the backup's (rows stored since the backup are lost)")
    r.set_defaults(func=run_restore)

    s = a.add_parser("setup-db", help="make the central database ready: owner role, database, migrations, the "
                                      "analysts' read-only role, settings (idempotent)",
                     description="What palvelupiste-central-db.service runs at boot, as the OS user postgres. "
                                 "Missing pieces are made; a second run changes nothing.")
    config_opt(s)
    s.add_argument("--admin-db", metavar="DSN", help="a superuser connection (default: central.toml's admin_dsn)")
    s.add_argument("--db", metavar="DSN", help="the ingest workers' database (default: central.toml's dsn)")
    s.add_argument("--wait", type=float, default=60.0, metavar="S",
                   help="wait this long for PostgreSQL to accept connections (default 60)")
    s.set_defaults(func=run_setup_db)

    al = a.add_parser("alerts", help="the fleet's alerts: refresh them and send those that started or cleared",
                      description="Works out which alerts hold now (a device offline more than 10 minutes in its "
                                  "site's opening hours, printer paper near its end or out, a backlog that keeps "
                                  "growing, a clock off by more than a minute, the central broker's certificate "
                                  "expiring within 30 days), records them in the database, and sends each alert "
                                  "that started or cleared to the webhook and by e-mail as central.toml's [alerts] "
                                  "says. What could not be sent is sent on the next run; nothing is sent twice "
                                  "while every channel works. palvelupiste-central-alerts.timer runs it every "
                                  "minute.")
    config_opt(al)
    al.add_argument("--db", metavar="DSN", help="the central database (default: central.toml's [database] dsn)")
    al.add_argument("--dry-run", action="store_true",
                    help="show what would start, clear and be sent; change and send nothing")
    al.set_defaults(func=run_alerts)

    bk = a.add_parser("bookings", help="import the booking feeds on their schedule and send the sites their changes",
                      description="Runs until stopped (palvelupiste-central-bookings.service): each [[feeds]] entry of "
                                  "central.toml is read every every_min minutes (an iCalendar feed over HTTPS, a "
                                  "dropped file, a pushed one), imported all or nothing, and each site gets the "
                                  "changes for today and tomorrow on pp/<site>/bookings. --once: one round, then "
                                  "exit (every feed imported now).")
    config_opt(bk)
    bk.add_argument("--db", metavar="DSN", help="the central database (default: central.toml's [database] dsn)")
    bk.add_argument("--once", action="store_true", help="one round: import every feed now and send the changes")
    bk.add_argument("--push-dir", metavar="DIR", default="/var/lib/palvelupiste/central/push",
                    help="where the web service leaves pushed feeds (default /var/lib/palvelupiste/central/push)")
    bk.set_defaults(func=run_bookings)

    sk = a.add_parser("site-key", help="the site's key for booking references, for its hub's booking_key_file",
                      description="Prints (or writes to --out, mode 0600) the key the centre makes the references of "
                                  "a site's booking codes with; the site's hub needs the same key ([hub] "
                                  "booking_key_file) to find a booking by the code the customer types. Made on "
                                  "first use; the same key every time after.")
    config_opt(sk)
    sk.add_argument("site", help="the site's id")
    sk.add_argument("--db", metavar="DSN", help="the central database (default: central.toml's [database] dsn)")
    sk.add_argument("--out", metavar="FILE", help="write the key (hex) to FILE, readable by its owner only")
    sk.set_defaults(func=run_site_key)


# --- devices ---------------------------------------------------------------------------------------

def _registry(args):
    from central.credentials import DeviceRegistry
    from central.settings import INGEST_USER, PUBLISHER_USER, load_central

    s = load_central(args.config)   # a ConfigError is printed by cli.main, exit 2
    return s, DeviceRegistry(s.password_file, s.acl_file, ingest_user=INGEST_USER, publisher_user=PUBLISHER_USER)


def _reload(args, s) -> int:
    from central.credentials import reload_broker

    if args.no_reload:
        print("the broker was not reloaded (--no-reload): reload it to apply the change")
        return EXIT_OK
    command = shlex.split(args.reload_command) if args.reload_command else list(s.reload)
    problem = reload_broker(command)
    if problem:
        print(f"the files are written, but the broker was not reloaded: {problem}", file=sys.stderr)
        return EXIT_FAILED
    print(f"broker reloaded ({shlex.join(command)})")
    return EXIT_OK


def _entries(args) -> list:
    from pathlib import Path

    from central.credentials import CredentialError, entry_for, parse_entry, read_entries

    out = []
    if args.site is not None or args.device is not None or args.password_file is not None:
        if args.site is None or args.device is None or args.password_file is None:
            raise CredentialError("--site, --device and --password-file go together")
        try:
            password = Path(args.password_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise CredentialError(f"--password-file {args.password_file}: cannot read ({exc.strerror or exc})")
        if not password or "\n" in password:
            raise CredentialError(f"--password-file {args.password_file}: must hold exactly one line, the password")
        out.append(entry_for(args.site, args.device, password))
    for e in args.entry:
        if e == "-":
            out += read_entries(sys.stdin.read(), "standard input")
        elif Path(e).is_file():
            try:
                text = Path(e).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise CredentialError(f"{e}: cannot read ({exc})") from None
            out += read_entries(text, e)
        elif ":" in e:
            out.append(parse_entry(e))
        else:
            raise CredentialError(f"{e}: no such file (give a device's central-broker.entry)")
    if not out:
        raise CredentialError("nothing to add: give ENTRY files, '-', or --site/--device/--password-file")
    return out


def run_devices_add(args) -> int:
    from central.credentials import CredentialError

    s, reg = _registry(args)
    try:
        outcome = reg.add(_entries(args))
    except CredentialError as exc:
        print(f"central devices add: {exc}; nothing was changed", file=sys.stderr)
        return EXIT_USAGE
    for what, users in (("added", outcome.added), ("updated", outcome.updated), ("unchanged", outcome.unchanged)):
        for u in users:
            print(f"{what:9} {u}")
    if not outcome.changed:
        return EXIT_OK
    return _reload(args, s)


def run_devices_list(args) -> int:
    _, reg = _registry(args)
    devices = reg.devices()
    others = reg.others()
    if args.json:
        print(json.dumps({"devices": [{"site": e.site, "device": e.device, "user": e.user} for e in devices],
                          "other_users": others}, ensure_ascii=False, indent=1))
        return EXIT_OK
    print(f"{'site':24} {'device':24} user")
    for e in devices:
        print(f"{e.site:24} {e.device:24} {e.user}")
    bridges = sum(1 for e in devices if e.is_bridge)
    print(f"{len(devices) - bridges} device(s) and {bridges} site broker bridge(s) in {reg.password_file}")
    for u in others:
        print(f"note: {u!r} is no device's user name: it can log in but the ACL grants it nothing")
    return EXIT_OK


def run_devices_remove(args) -> int:
    from central.credentials import CredentialError, device_user, entry_for

    s, reg = _registry(args)
    try:
        users = [device_user(u) for u in args.user]
        if args.site is not None or args.device is not None:
            if args.site is None or args.device is None:
                raise CredentialError("--site and --device go together")
            users.append(entry_for(args.site, args.device, "unused").user)
        if not users:
            raise CredentialError("nothing to remove: give SITE.DEVICE, or --site and --device")
    except CredentialError as exc:
        print(f"central devices remove: {exc}; nothing was changed", file=sys.stderr)
        return EXIT_USAGE
    outcome = reg.remove(users)
    for u in outcome.removed:
        print(f"removed   {u}")
    for u in outcome.missing:
        print(f"not found {u}", file=sys.stderr)
    if not outcome.removed:
        return EXIT_FAILED
    return _reload(args, s)


# --- backup, restore -------------------------------------------------------------------------------

def run_backup(args) -> int:
    from central.backup import BackupError, backup

    try:
        path = backup(args.db, args.out)
    except BackupError as exc:
        print(f"central backup: {exc}; no backup was written", file=sys.stderr)
        return EXIT_USAGE if exc.usage else EXIT_FAILED
    print(f"backed up to {path} ({path.stat().st_size} bytes)")
    return EXIT_OK


def run_restore(args) -> int:
    from central.backup import BackupError, restore

    try:
        r = restore(args.db, args.file, force=args.force)
    except BackupError as exc:
        print(f"central restore: {exc}", file=sys.stderr)
        return EXIT_USAGE if exc.usage else EXIT_FAILED
    print(f"restored {args.file}: {r.tables} tables" + (" (the existing ones replaced: --force)" if r.replaced else ""))
    print("the ingest workers migrate it to this software's schema when they start "
          "(or: palvelupiste central setup-db)")
    return EXIT_OK


# --- setup-db --------------------------------------------------------------------------------------

def run_setup_db(args) -> int:
    from central.dbsetup import SetupError, setup_database
    from central.settings import load_central

    s = load_central(args.config)
    try:
        setup_database(args.admin_db or s.admin_dsn, args.db or s.dsn, reader=s.reader, small_cell=s.small_cell,
                       retention_days=s.retention_days, wait_s=args.wait,
                       say=lambda line: print(line, flush=True))
    except SetupError as exc:
        print(f"central setup-db: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


# --- alerts ----------------------------------------------------------------------------------------

def run_alerts(args) -> int:
    import psycopg

    from central import alerts
    from central.settings import load_central
    from central.store import open_central
    from core.events import now_ms

    s = load_central(args.config)
    try:
        db = open_central(args.db or s.dsn)
    except ValueError as exc:
        print(f"central alerts: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except psycopg.Error as exc:
        print(f"central alerts: cannot open the central database: {str(exc).strip()[:300]}", file=sys.stderr)
        return EXIT_FAILED
    cert = alerts.certificate_not_after_ms(s.cert_file)
    if cert is None:
        print(f"note: the broker's certificate {s.cert_file} cannot be read: its expiry is not judged "
              "(palvelupiste doctor checks it)", file=sys.stderr)
    try:
        with db:
            r = alerts.run(db.conn, s.alerts, now_ms(), broker_cert_not_after_ms=cert, dry_run=args.dry_run,
                           say=lambda line: print(line, flush=True))
    except psycopg.Error as exc:
        print(f"central alerts: database error: {str(exc).strip()[:300]}", file=sys.stderr)
        return EXIT_FAILED
    if r.busy:
        print("another run of central alerts holds the lock: nothing done")
        return EXIT_OK
    for a in r.changed:
        print(f"{a.event:8} {a.key}")
    if args.dry_run:
        via = ", ".join(r.channels) or "no channel configured"
        for a in r.pending:
            print(f"would send ({via}): {alerts.describe(a)}")
        print(f"dry run: {len(r.changed)} changed, {len(r.pending)} to send; nothing was changed or sent")
        return EXIT_OK
    if not r.channels and r.pending:
        print(f"{len(r.pending)} message(s) not sent: no webhook_url or smtp_host in [alerts] of {args.config}")
    elif r.delivered:
        print(f"sent {len(r.delivered)} message(s) ({', '.join(r.channels)})")
    for f in r.failures:
        print(f"not delivered: {f}; sent again on the next run", file=sys.stderr)
    return EXIT_OK if r.ok else EXIT_FAILED


# --- booking feeds -----------------------------------------------------------------------------------

def _central_db(args, what: str):
    import psycopg

    from central.settings import load_central
    from central.store import open_central

    s = load_central(args.config)
    try:
        return s, open_central(args.db or s.dsn)
    except ValueError as exc:
        print(f"central {what}: {exc}", file=sys.stderr)
        return s, EXIT_USAGE
    except psycopg.Error as exc:
        print(f"central {what}: cannot open the central database: {str(exc).strip()[:300]}", file=sys.stderr)
        return s, EXIT_FAILED


def run_site_key(args) -> int:
    import os

    from central.bookings.store import site_key
    from core.events import now_ms, valid_id

    if not valid_id(args.site):
        print(f"central site-key: {args.site!r} is not a site id", file=sys.stderr)
        return EXIT_USAGE
    s, db = _central_db(args, "site-key")
    if isinstance(db, int):
        return db
    with db:
        key = site_key(db.conn, args.site, now_ms())
        db.conn.commit()
    if args.out:
        fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key.hex() + "\n")
        print(f"the booking key of {args.site} is in {args.out}: give it to the site's hub ([hub] booking_key_file)")
    else:
        print(key.hex())
    return EXIT_OK


def run_bookings(args) -> int:
    import signal
    import threading
    from pathlib import Path

    from central.bookings.daemon import BookingsDaemon
    from central.fleet import site_configs

    s, db = _central_db(args, "bookings")
    if isinstance(db, int):
        return db
    dsn = args.db or s.dsn
    db.close()
    if not s.feeds:
        print("central bookings: central.toml has no [[feeds]]: nothing to import")
        return EXIT_OK
    broker = s.publisher_broker
    daemon = BookingsDaemon(dsn, s.feeds, site_configs, broker, push_dir=Path(args.push_dir))
    if args.once:
        import psycopg

        if daemon.link is not None:
            daemon.link.start()
            daemon.link.wait_connected(10)
        try:
            with psycopg.connect(dsn) as conn:
                r = daemon.run_once(conn)
                conn.commit()
        finally:
            if daemon.link is not None:
                daemon.link.stop()
        for out in r["imports"]:
            print(f"{out.feed}: " + (f"{out.imported} bookings, {out.skipped} skipped, {out.changes} changes"
                                     if out.ok else f"FAILED: {out.reason}"))
        return EXIT_OK if all(o.ok for o in r["imports"]) else EXIT_FAILED
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_a: stop.set())
    daemon.run(stop)
    return EXIT_OK


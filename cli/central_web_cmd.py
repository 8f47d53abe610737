"""palvelupiste central web|users — the web service for the development teams and technicians."""
from __future__ import annotations

import getpass
import json
import os
import sys


def register(a) -> None:
    """Adds its actions to `palvelupiste central`'s sub-parsers `a`."""
    w = a.add_parser("web", help="serve the monthly reports and the fleet view (HTTP; put TLS in front)",
                     description="Server-rendered pages in Finnish, Swedish and English. Listens on loopback by "
                                 "default: a reverse proxy with TLS (nginx, Apache) publishes it.")
    w.add_argument("--db", required=True, metavar="DSN", help="the central PostgreSQL database")
    w.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    w.add_argument("--port", type=int, default=8080, help="listen port (default 8080)")
    w.add_argument("--insecure-cookies", action="store_true",
                   help="cookies without the Secure flag (plain HTTP on a test bench only; browsers keep Secure "
                        "cookies of localhost anyway)")
    w.add_argument("--broker", metavar="URL", help="the central broker, to publish uploaded site configurations "
                   "(without it they are only checked)")
    w.add_argument("--username", default="publisher", help="its user (default: publisher)")
    w.add_argument("--password-file", help="that user's password file")
    w.add_argument("--ca-file", help="CA of an mqtts:// broker")
    w.add_argument("--feeds-config", metavar="FILE",
                   help="central.toml: its push feeds are taken at POST /bookings/<feed> with their tokens")
    w.add_argument("--push-dir", default="/var/lib/palvelupiste/central/push", metavar="DIR",
                   help="where pushed booking lists are left for `central bookings` (default "
                        "/var/lib/palvelupiste/central/push)")
    w.add_argument("--follow-username", default="web",
                   help="the user that reads the sites' ticket states for the phone pages and sends their "
                        "cancels (default: web)")
    w.add_argument("--follow-password-file",
                   help="that user's password file; without it (or --broker) the phone pages find no ticket")
    w.set_defaults(func=run_web)

    u = a.add_parser("users", help="the web service's accounts: add, list, remove, reset")
    ua = u.add_subparsers(dest="users_action", metavar="ACTION", required=True)
    add = ua.add_parser("add", help="a new account; the password is asked (or read from --password-file)")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=("national", "regional", "site", "technician"))
    add.add_argument("--scope", help="regional: the region code (MK01…); site: the site id")
    add.add_argument("--password-file", help="read the password from this file (first line)")
    add.add_argument("--db", required=True, metavar="DSN")
    add.set_defaults(func=run_users)
    ls = ua.add_parser("list", help="every account (never a password)")
    ls.add_argument("--db", required=True, metavar="DSN")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=run_users)
    rm = ua.add_parser("remove", help="remove an account (its sessions end)")
    rm.add_argument("name")
    rm.add_argument("--db", required=True, metavar="DSN")
    rm.set_defaults(func=run_users)
    rs = ua.add_parser("reset", help="a new password (every session of the account ends)")
    rs.add_argument("name")
    rs.add_argument("--password-file")
    rs.add_argument("--db", required=True, metavar="DSN")
    rs.set_defaults(func=run_users)


def _password(args) -> str:
    if getattr(args, "password_file", None):
        with open(args.password_file, encoding="utf-8") as f:
            return f.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the passwords differ")
    return first


def run_users(args) -> int:
    import psycopg

    from central import accounts
    from central.store import open_central

    try:
        with open_central(args.db) as db:
            if args.users_action == "add":
                u = accounts.add_user(db.conn, args.name, args.role, _password(args), args.scope)
                print(f"added {u.name} ({u.role}{' ' + u.scope if u.scope else ''})")
            elif args.users_action == "reset":
                accounts.reset_password(db.conn, args.name, _password(args))
                print(f"new password for {args.name}; its sessions ended")
            elif args.users_action == "remove":
                accounts.remove_user(db.conn, args.name)
                print(f"removed {args.name}")
            else:
                users = accounts.list_users(db.conn)
                if args.json:
                    print(json.dumps(users, indent=2))
                for x in users if not args.json else []:
                    print(f"{x['name']:30} {x['role']:11} {x['scope'] or ''}")
    except (ValueError, OSError) as exc:
        print(f"users: {exc}", file=sys.stderr)
        return 2
    except psycopg.Error as exc:
        print(f"users: the database: {str(exc).strip()[:300]}", file=sys.stderr)
        return 2
    return 0


def run_web(args) -> int:
    import uvicorn

    from central.web.app import create_app
    from runtime import process

    process.setup_logging("INFO")
    broker = None
    if args.broker:
        from core.config import Broker

        broker = Broker(url=args.broker, username=args.username, password_file=args.password_file,
                        ca_file=args.ca_file)
    follow = None
    if args.broker and args.follow_password_file:
        from bus import topics
        from bus.link import link_options
        from central.follow import FollowBoard, FollowLink
        from core.config import Broker

        fb = Broker(url=args.broker, username=args.follow_username, password_file=args.follow_password_file,
                    ca_file=args.ca_file)
        follow = FollowLink(link_options(fb, topics.client_id(args.follow_username, f"web-{os.getpid()}")),
                            FollowBoard())
    push = None
    if args.feeds_config:
        from pathlib import Path

        from central.settings import load_central
        from central.web.push import PushFeeds

        push = PushFeeds(load_central(args.feeds_config).feeds, Path(args.push_dir))
    app = create_app(args.db, secure=not args.insecure_cookies, broker=broker, follow=follow, push=push)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False,
                proxy_headers=True, server_header=False)
    return 0

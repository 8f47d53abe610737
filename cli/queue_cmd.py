"""palvelupiste queue ... — drive the queue engine without any UI.

Against a local store by default (the command acts as the hub), or with --broker against a
running hub over the site bus.
"""
from __future__ import annotations

import argparse
import json
import os

from core import resources

DEFAULT_SITE = resources.example_site()


def register(sub) -> None:
    p = sub.add_parser("queue", help="take, call, finish... tickets against a local store or a hub")
    p.add_argument("--site", default=os.environ.get("PALVELUPISTE_SITE", str(DEFAULT_SITE)),
                   help="site configuration (default: the example site)")
    p.add_argument("--store", default=os.environ.get("PALVELUPISTE_STORE", "data/hub.sqlite"),
                   help="the hub's event store (local mode)")
    p.add_argument("--device", default="hub-1", help="device id of the store (local) or of this client (--broker)")
    p.add_argument("--broker", help="send to a running hub at this site broker, e.g. mqtt://localhost:1883")
    p.add_argument("--username", help="broker user name (default: the device id)")
    p.add_argument("--password-file", help="file holding the broker password")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    # Also taken after ACTION (`queue state --json`): each action repeats the flag without a default
    # of its own, so that it never turns off a --json given before ACTION.
    out = argparse.ArgumentParser(add_help=False)
    out.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print the answer as JSON")
    a = p.add_subparsers(dest="action", metavar="ACTION", required=True)

    def action(name: str, helptext: str) -> argparse.ArgumentParser:
        return a.add_parser(name, help=helptext, parents=[out])

    t = action("take", "take a walk-in number for SERVICE")
    t.add_argument("service")
    _ticket_opts(t)
    c = action("checkin", "check in an appointment by its code")
    c.add_argument("code")
    c.add_argument("--appointments", help="appointment list (CSV or JSON) for local mode")
    _ticket_opts(c)
    for name, helptext in (("call", "call the next customer to COUNTER"), ("recall", "call the current customer again"),
                           ("finish", "finish the current customer"), ("no-show", "the called customer did not come"),
                           ("open", "open COUNTER"), ("close", "close COUNTER")):
        x = action(name, helptext)
        x.add_argument("counter")
    tr = action("transfer", "send the current customer of COUNTER to SERVICE, keeping the number")
    tr.add_argument("counter")
    tr.add_argument("service")
    ca = action("cancel", "cancel a ticket (id as printed by take/state, e.g. 2026-11-23/K001)")
    ca.add_argument("ticket")
    action("state", "print the live queue")
    p.set_defaults(func=run)


def _ticket_opts(p) -> None:
    p.add_argument("--lang", default="fi")
    p.add_argument("--interpreter", metavar="LANG")
    p.add_argument("--hearing-loop", action="store_true")
    p.add_argument("--accessible-room", action="store_true")


def to_payload(args) -> dict:
    needs = {}
    if getattr(args, "interpreter", None):
        needs["interpreter"] = args.interpreter
    if getattr(args, "hearing_loop", False):
        needs["hearing_loop"] = True
    if getattr(args, "accessible_room", False):
        needs["accessible_room"] = True
    act = args.action
    if act == "take":
        return {"cmd": "take", "service": args.service, "lang": args.lang, "needs": needs}
    if act == "checkin":
        return {"cmd": "checkin", "code": args.code, "lang": args.lang, "needs": needs}
    if act == "transfer":
        return {"cmd": "transfer", "counter": args.counter, "service": args.service}
    if act == "cancel":
        return {"cmd": "cancel", "ticket": args.ticket}
    return {"cmd": act.replace("-", "_"), "counter": args.counter}


def run(args) -> int:
    from core.config import load_site

    site = load_site(args.site)  # a ConfigError is reported by cli.main
    if args.broker:
        from bus.hubclient import request_once

        payload = {"cmd": "state"} if args.action == "state" else to_payload(args)
        reply = request_once(args.broker, site.id, args.device, payload,
                             username=args.username, password_file=args.password_file)
    else:
        reply = _local(args, site)
    if args.json:
        print(json.dumps(reply, ensure_ascii=False, indent=2))
    else:
        print(_human(reply, site, args.action))
    return 0 if reply.get("ok", True) else 1


def _local(args, site) -> dict:
    from core.errors import WireError, error_reply
    from core.store import EventStore, StoreError
    from hub.authority import QueueAuthority

    try:
        store = EventStore(args.store, site.id, args.device)
    except StoreError as exc:
        return error_reply(WireError.STORE_FAILED, str(exc))
    appointments = []
    if getattr(args, "appointments", None):
        from core.appointments import AppointmentFileError, load_appointments

        try:
            appointments = load_appointments(args.appointments, site)
        except AppointmentFileError as exc:
            return error_reply(WireError.BAD_APPOINTMENTS, str(exc))
    with store:
        auth = QueueAuthority(site, store, appointments)
        if args.action == "state":
            return {"ok": True, **auth.snapshot()}
        return auth.handle_payload(json.dumps(to_payload(args)), role="hub")


def _wait(est_wait_s) -> str:
    """An estimate in words; null: no counter of the service works any more today."""
    return "no more service today" if est_wait_s is None else f"about {round(est_wait_s / 60)} min"


def _human(reply: dict, site, action: str) -> str:
    if not reply.get("ok", True):
        return f"error {reply.get('error')}: {reply.get('message')}"
    if action == "state":
        lines = []
        for sid, s in reply["services"].items():
            if s["waiting"]:
                lines.append(f"{site.services[sid].label('en'):45} waiting {s['waiting']:3}  "
                             f"{_wait(s.get('est_wait_s'))}")
        for cid, c in reply["counters"].items():
            cur = c["current"]["number"] if c["current"] else "-"
            lines.append(f"counter {cid:4} {'open  ' if c['open'] else 'closed'} serving {cur}")
        return "\n".join(lines) or "nobody waiting, all counters closed"
    if "number" in reply and action in ("take", "checkin"):
        return (f"{reply['number']}  {site.services[reply['service']].label('en')}  "
                f"{reply['ahead']} ahead, {_wait(reply.get('est_wait_s'))}  [{reply['ticket']}]")
    if "number" in reply:
        return f"{action}: {reply['number']}" + (f" → counter {reply['counter']}" if "counter" in reply else "")
    return f"{action}: ok"

"""palvelupiste counter ... — the clerk's commands from a terminal, and the Kivy call panel.

    palvelupiste counter call --counter 3 [--broker mqtt://hub:1883] [--device counter-1]
    palvelupiste counter recall|finish|no-show|park|open|close --counter 3
    palvelupiste counter finish --counter 3 --outcome advice    (one of the service's outcomes)
    palvelupiste counter call-number --counter 3 --number K012  (the customer at the desk, or a parked one)
    palvelupiste counter requeue --counter 3 --number K012      (a no-show back in the queue, at its front)
    palvelupiste counter transfer --counter 3 --service poliisi
    palvelupiste counter help-answered --counter 3 [--request ID]   (default: the oldest open request)
    palvelupiste counter state --counter 3 [--json]
    palvelupiste counter panel --config DEVICE.toml     (the Kivy panel, through uikit.launch)

Every command goes to the hub over the site bus and prints the hub's answer in words (in the
clerk's language: --lang, or the device's [counter] lang). With --config the site, the device id,
the broker and the counter come from the device configuration; options override it.
Exit status: 0 done, 1 the hub refused (the reason is printed), 2 bad usage or configuration,
3 no answer (no connection to the broker or the hub).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from core import resources
from core.errors import WireError, error_reply
from runtime import process
from uikit import launch

DEFAULT_SITE = resources.example_site()
DEFAULT_BROKER = "mqtt://127.0.0.1:1883"
ACTIONS = {  # CLI action -> (hub command, help)
    "call": ("call", "call the next customer to the counter"),
    "call-number": ("call_number", "call a given number: the customer at the desk shows their ticket, or a "
                                   "parked customer returns"),
    "recall": ("recall", "call the current customer again"),
    "finish": ("finish", "finish the current customer (--outcome: what came of the visit)"),
    "no-show": ("no_show", "the called customer did not come"),
    "park": ("park", "set the current customer aside (fetching a document…); call them back with call-number"),
    "requeue": ("requeue", "a no-show of today who turned up after all: back in the queue, at its front"),
    "transfer": ("transfer", "send the current customer to another service (the number stays)"),
    "open": ("open", "open the counter"),
    "close": ("close", "pause or close the counter"),
    "help-answered": ("help_answered", "answer a help request from the kiosk (\"I'm going\")"),
    "state": ("state", "show the counter's queues, current customer and help requests"),
}


def register(sub) -> None:
    p = sub.add_parser("counter", help="the clerk's commands (call next, recall, ...) and the call panel",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=os.environ.get("PALVELUPISTE_CONFIG"),
                        help="the counter device's configuration (TOML)")
    common.add_argument("--site", help="site configuration (default: from --config, else the example site)")
    common.add_argument("--device", help="this device's id as the site knows it (default: from --config, else counter-1)")
    common.add_argument("--broker", help=f"the site broker, e.g. mqtt://hub.local:1883 (default: from --config, else {DEFAULT_BROKER})")
    common.add_argument("--username", help="broker user name (default: the device id)")
    common.add_argument("--password-file", help="file holding the broker password")
    common.add_argument("--lang", choices=("fi", "sv", "en"), help="language of the messages")
    common.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the hub's answer")
    common.add_argument("--json", action="store_true", help="print the hub's answer as JSON")
    a = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, (_cmd, helptext) in ACTIONS.items():
        x = a.add_parser(name, help=helptext, parents=[common])
        x.add_argument("--counter", help="the counter or room id (default: the device's [counter] counter)")
        if name == "transfer":
            x.add_argument("--service", required=True, help="the service to move the customer to")
        if name in ("call-number", "requeue"):
            x.add_argument("--number", required=True, help="the ticket number, e.g. K012 (k12 works too)")
        if name == "finish":
            x.add_argument("--outcome", help="one of the outcomes of the customer's service (the site's "
                                             "[[outcomes]] ids; `counter state` lists them)")
        if name == "help-answered":
            x.add_argument("--request", help="the request id (default: the oldest open request)")
        x.set_defaults(func=run)
    panel = a.add_parser("panel", help="run the Kivy call panel", parents=[common])
    panel.add_argument("--counter", help="start at this counter (default: [counter] counter, else pick one)")
    process.add_log_option(panel)
    panel.set_defaults(func=run_panel, start=start_panel)


class _Setup:
    def __init__(self, site, device_id: str, broker, counter: str | None, lang: str, settings) -> None:
        self.site, self.device_id, self.broker = site, device_id, broker
        self.counter, self.lang, self.settings = counter, lang, settings


def _setup(args, device=None) -> _Setup | int:
    """Site, device id, broker, counter and language from --config (or `device`, loaded from it)
    and the options."""
    from core.config import Broker, load_device, load_site
    from counter.settings import CounterSettings, parse_counter

    if device is None and args.config:
        device = load_device(args.config)
    site = load_site(args.site or (device.site_config if device else
                                   os.environ.get("PALVELUPISTE_SITE", str(DEFAULT_SITE))))
    settings = parse_counter(device.section("counter"), set(site.counters)) if device else CounterSettings()
    device_id = args.device or (device.id if device else "counter-1")
    if args.broker:
        broker = Broker(args.broker, username=args.username or device_id, password_file=args.password_file)
    elif device and device.site_broker:
        b = device.site_broker
        broker = Broker(b.url, username=args.username or b.username or device_id,
                        password_file=args.password_file or b.password_file,
                        ca_file=b.ca_file, cert_file=b.cert_file, key_file=b.key_file)
    else:
        broker = Broker(os.environ.get("PALVELUPISTE_BROKER", DEFAULT_BROKER), username=args.username or device_id,
                        password_file=args.password_file)
    try:
        broker.host
    except ValueError as exc:
        print(f"palvelupiste counter: {exc}", file=sys.stderr)
        return 2
    counter = getattr(args, "counter", None) or settings.counter
    if counter is not None and counter not in site.counters:
        print(f"palvelupiste counter: site {site.id} has no counter {counter!r} "
              f"(it has {', '.join(site.counters)})", file=sys.stderr)
        return 2
    return _Setup(site, device_id, broker, counter, args.lang or settings.lang, settings)


def run(args) -> int:
    s = _setup(args)
    if isinstance(s, int):
        return s
    from counter.hub_link import request_once
    from counter.model import normalize_number, panel_view, success_text, translator

    t = translator(s.lang, s.site)
    if s.counter is None:
        print("palvelupiste counter: --counter is needed (or [counter] counter in the device configuration)",
              file=sys.stderr)
        return 2
    cmd = ACTIONS[args.action][0]

    def ask(payload: dict) -> dict:
        return request_once(s.broker, s.site.id, s.device_id, payload, timeout=args.timeout)

    payload: dict | None = None
    if cmd == "state":
        reply = ask({"cmd": "state"})
    else:
        payload = {"cmd": cmd, "counter": s.counter}
        if cmd == "transfer":
            if args.service not in s.site.services:
                print(f"palvelupiste counter: unknown service {args.service!r} "
                      f"(the site has {', '.join(s.site.services)})", file=sys.stderr)
                return 2
            payload["service"] = args.service
        if cmd in ("call_number", "requeue"):
            number = normalize_number(args.number)
            if number is None:
                print(f"palvelupiste counter: {args.number!r} is not a ticket number "
                      "(a letter or two, then digits, e.g. K012)", file=sys.stderr)
                return 2
            payload["number"] = number
        if cmd == "finish" and args.outcome is not None:
            if args.outcome not in s.site.outcomes:
                print(f"palvelupiste counter: unknown outcome {args.outcome!r} "
                      f"(the site has {', '.join(s.site.outcomes) or 'none'})", file=sys.stderr)
                return 2
            payload["outcome"] = args.outcome
        if cmd == "help_answered":
            req = args.request
            if req is None:
                st = ask({"cmd": "state"})
                if not st.get("ok"):
                    return _fail(t, st, args)
                helps = st.get("help") or []
                if not helps:
                    reply = error_reply(WireError.UNKNOWN_REQUEST, "no open help requests")
                    return _fail(t, reply, args)
                req = helps[0]["request"]
            payload["request"] = req
        reply = ask(payload)
    if not reply.get("ok"):
        return _fail(t, reply, args, payload, s.site)
    if args.json:
        print(json.dumps(reply, ensure_ascii=False, indent=2))
    elif cmd == "state":
        print(_state_text(t, s, panel_view(t, s.site, s.counter, reply)))
    else:
        print(success_text(t, s.site, cmd, reply, payload))
    return 0


def _fail(t, reply: dict, args, sent: dict | None = None, site=None) -> int:
    from counter.model import error_text

    if args.json:
        print(json.dumps(reply, ensure_ascii=False, indent=2))
    else:
        print(error_text(t, reply, sent=sent, site=site), file=sys.stderr)
    # 3: nothing reached the hub (an operator retries or fixes the set-up); 1: the hub said no.
    unreached = (WireError.TIMEOUT, WireError.CLOSED, WireError.BAD_BROKER_URL, WireError.BAD_PASSWORD_FILE)
    return 3 if reply.get("error") in unreached else 1


def _state_text(t, s: _Setup, v) -> str:
    lines = [f"{v.counter_name}: {t('Open') if v.open else t('Closed')}"]
    if v.current:
        c = v.current
        lines.append(f"{t('Current customer')}: {c.number} · {c.service_name} · {c.waited}")
        for n in c.needs:
            lines.append(f"  {n.icon}  {n.text}")
        if c.outcomes:
            lines.append("  " + t("Outcomes (finish --outcome):") + " " +
                         ", ".join(f"{o.id} ({o.name})" for o in c.outcomes))
    else:
        lines.append(t("No customer at the counter"))
    lines.append(t("Queues of this counter") + ":")
    for line in v.services:
        lines.append(f"  {line.name}: {line.text}")
    lines.append(t("Help requests from the kiosk") + ":")
    if not v.help:
        lines.append("  " + t("No open help requests."))
    for h in v.help:
        lines.append(f"  {h.text}  [{h.request}]")
    lines.append(t("Parked customers ({n})").format(n=len(v.parked)) + ":")
    if not v.parked:
        lines.append("  " + t("Nobody is parked."))
    for p in v.parked:
        lines.append(f"  {p.number} · {p.text}")
    lines.append(t("Did not come today") + ":")
    if not v.no_shows:
        lines.append("  " + t("Nobody so far."))
    for n in v.no_shows:
        lines.append(f"  {n.number} · {n.text}")
    return "\n".join(lines)


def start_panel(args, drivers: Sequence[launch.Driver] = ()) -> int:
    """The Kivy call panel through the one start-up path (uikit.launch)."""
    import dataclasses

    device = launch.load_device("counter", args.config) if args.config else None
    s = _setup(args, device)
    if isinstance(s, int):
        return s
    settings = dataclasses.replace(s.settings, counter=s.counter, lang=s.lang, timeout_s=args.timeout)

    def build():
        from counter.app import CounterApp

        return CounterApp(s.site, settings, broker=s.broker, device=s.device_id)

    plan = launch.Plan(s.device_id, panel_kivy_settings(settings), build,
                       kivy_home=os.path.join(device.data_dir, "kivy") if device is not None else None)
    return launch.run(plan, log_level=args.log_level, drivers=drivers)


def panel_kivy_settings(settings) -> launch.KivySettings:
    """Kivy's settings for the panel's [counter] settings (counter.settings.CounterSettings)."""
    return launch.KivySettings(size=(settings.width, settings.height), fullscreen=settings.fullscreen)


def run_panel(args) -> int:
    return start_panel(args)

"""Counter panel scenarios: the real CounterApp sending commands to the real hub over Mosquitto,
driven by simulated touches. Parameters: broker, sync (marker directory), lang; `clerk_flow` also
site (a site file with outcomes, `write_site_with_outcomes`).

Kivy is imported inside the scenarios only: the model tests use this module's test site too."""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from cli.counter_cmd import panel_kivy_settings
from counter.model import ERRORS, STATE_ERRORS, UNKNOWN_NUMBER_SENT, translator
from counter.settings import parse_counter
from tests.support.sites import EXAMPLE_SITE  # the example, open all day (as the hub of the tests runs it)
from tests.ui_scenarios.display_support import (
    kivy_as_started,
    load_example_site,
    shot,
    signal,
    wait_file,
)

# --- a site with outcomes -----------------------------------------------------------------------

#: The outcomes of the test site (the example site's services, with these added).
OUTCOMES = {
    "advice": {"fi": "Neuvottu", "sv": "Rådgivning given", "en": "Advice given"},
    "application": {"fi": "Hakemus vastaanotettu", "sv": "Ansökan mottagen", "en": "Application received"},
    "digital_support": {"fi": "Digituki annettu", "sv": "Digistöd givet", "en": "Digital support given"},
    "referred": {"fi": "Ohjattu muualle", "sv": "Hänvisad vidare", "en": "Referred elsewhere"},
}
#: Kela and general advice offer outcomes; every other service none (digital support: one-tap finish).
SERVICE_OUTCOMES = {"kela": ["advice", "application", "digital_support", "referred"],
                    "neuvonta": ["advice", "referred"]}


def site_with_outcomes_doc() -> dict[str, Any]:
    """The example site as the tests run it (tests.support.sites: open all day) with exactly these
    outcomes, whatever the example itself declares."""
    doc = tomllib.loads(EXAMPLE_SITE.read_text(encoding="utf-8"))
    doc["outcomes"] = [{"id": oid, "name": dict(names)} for oid, names in OUTCOMES.items()]
    for svc in doc["services"]:
        svc.pop("outcomes", None)
        if svc["id"] in SERVICE_OUTCOMES:
            svc["outcomes"] = list(SERVICE_OUTCOMES[svc["id"]])
    return doc


def site_with_outcomes():
    from core.config import parse_site

    return parse_site(site_with_outcomes_doc(), "<example site with outcomes>")


def write_site_with_outcomes(path: Path) -> Path:
    import tomlkit

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tomlkit.dumps(site_with_outcomes_doc()), encoding="utf-8")
    return path


def _reply(app, cmd):
    return next((r for c, r in reversed(app.replies) if c == cmd), None)


def panel_flow(ctx):
    from counter.app import CounterApp

    sync = ctx.params["sync"]
    site = load_example_site()
    settings = parse_counter({"lang": ctx.params.get("lang", "fi")}, set(site.counters))
    kivy_as_started(panel_kivy_settings(settings))
    app = ctx.start(CounterApp(site, settings, broker=ctx.params["broker"], device="counter-1"))
    t = translator(settings.lang, site)
    yield ctx.until(lambda: app.root is not None and app.state is not None, "panel has the live state")
    for marker in ctx.params.get("wait_for", []):
        yield wait_file(ctx, sync, marker)

    # the clerk picks the counter
    ctx.tap(ctx.find(app.root, "pick_1"))
    yield ctx.until(lambda: app.counter == "1" and app.view is not None, "panel of counter 1")
    yield ctx.frames(2)

    # closed: the hub refuses, the panel says so in words
    n = len(app.replies)
    ctx.tap(ctx.find(app.root, "call_next"))
    yield ctx.until(lambda: len(app.replies) > n, "answer to call")
    assert _reply(app, "call")["error"] == "counter_closed", app.replies
    assert app.status.text == t(ERRORS["counter_closed"]) and app.status_kind == "error"

    ctx.tap(ctx.find(app.root, "open"))
    yield ctx.until(lambda: app.view.open, "counter open in the live state")
    n = len(app.replies)
    ctx.tap(ctx.find(app.root, "call_next"))
    yield ctx.until(lambda: len(app.replies) > n, "answer to call")
    assert _reply(app, "call")["error"] == "nothing_waiting"
    assert app.status.text == t(ERRORS["nothing_waiting"])
    yield ctx.frames(2)
    shot(ctx, app.root, "counter-panel-error")
    signal(sync, "counter-open-empty")

    # customers arrive (the test takes numbers and asks for help as the kiosk)
    yield wait_file(ctx, sync, "tickets-ready")
    yield ctx.until(lambda: app.view.waiting_total >= 2 and app.view.help, "waiting customers and a help request")

    # one tap calls the next customer
    ctx.tap(ctx.find(app.root, "call_next"))
    yield ctx.until(lambda: app.view.current is not None and app.view.current.number == "K001",
                    "K001 at the counter")
    # a second tap right away (a double tap, a bouncing finger) calls nobody else
    n = len(app.replies)
    ctx.tap(ctx.find(app.root, "call_next"))
    yield ctx.frames(6)
    assert len(app.replies) == n and app.view.current.number == "K001", app.replies[n:]
    keys = {nd.key for nd in app.view.current.needs}
    assert {"interpreter", "hearing_loop", "lang"} <= keys, keys
    assert app.cur_number.text == "K001"
    words = [b.label.text for b in app.needs_box.children]
    assert any(t("Hearing loop") == w for w in words), words
    yield ctx.frames(2)
    shot(ctx, app.root, "counter-panel")
    yield wait_file(ctx, sync, "display-saw-call")

    # recall once the display's highlight has ended
    yield wait_file(ctx, sync, "display-highlight-ended")
    ctx.tap(ctx.find(app.root, "recall"))
    yield ctx.until(lambda: _reply(app, "recall") is not None, "answer to recall")
    assert _reply(app, "recall")["ok"], app.replies
    yield wait_file(ctx, sync, "display-saw-recall")

    # "I'm going" answers the help request
    req = app.view.help[0].request
    ctx.tap(ctx.find(app.root, f"help_go_{req}"))
    yield ctx.until(lambda: not app.view.help, "help request answered")
    assert _reply(app, "help_answered")["ok"]

    # transfer to the police permit service with the chooser; the number stays
    ctx.tap(ctx.find(app.root, "transfer"))
    yield ctx.until(lambda: app.transfer_view is not None and app.transfer_view.parent is not None, "chooser open")
    yield ctx.frames(3)
    shot(ctx, app.transfer_view, "counter-transfer-chooser")
    ctx.tap(ctx.find(app.transfer_view, "transfer_to_poliisi"))
    yield ctx.until(lambda: _reply(app, "transfer") is not None and app.view.current is None, "transferred")
    assert _reply(app, "transfer") == {**_reply(app, "transfer"), "ok": True, "number": "K001", "service": "poliisi"}
    assert app.status.text == t("{number} moved to {service}, keeping the number.").format(
        number="K001", service=site.services["poliisi"].label(t.lang))
    signal(sync, "transferred")
    yield wait_file(ctx, sync, "done", 60)


def hub_with_outcomes(workdir: Path, broker_url: str, **kw: Any):
    """The real hub (display_support.Hub) on the site with outcomes, written into `workdir`."""
    from tests.ui_scenarios.display_support import Hub, device_toml

    workdir = Path(workdir)
    hub = Hub(workdir, broker_url, **kw)
    site = write_site_with_outcomes(workdir / "site-with-outcomes.toml")
    hub.conf = device_toml(hub.conf, device="hub-1", role="hub", broker_url=broker_url,
                           data_dir=workdir / "hub-data", site_config=site)
    return hub


# --- the clerk's day at counter 1 ------------------------------------------------------------------

def _answer(ctx, app, cmd: str, what: str):
    """A condition: a new answer to `cmd` has come (counted from now)."""
    n = sum(1 for c, _ in app.replies if c == cmd)
    return ctx.until(lambda: sum(1 for c, _ in app.replies if c == cmd) > n, what)


def _shot_name(name: str, lang: str) -> str:
    return name if lang == "fi" else f"{name}-{lang}"


def _keypad_open(ctx, app):
    ctx.tap(ctx.find(app.root, "call_number"))
    return ctx.until(lambda: app.number_view is not None and app.number_view.parent is not None, "keypad open")


def clerk_flow(ctx):
    """Counter 1 (general advice N, digital support G, Kela K) on a site with outcomes; the test has
    taken K001, K002, K003 and G001 before the panel starts. Call a number (keyboard and keypad),
    park, call back, a no-show put back in the queue, finish with an outcome, without one, and
    one tap for a service without outcomes; the refusals in words."""
    from core.config import load_site
    from counter.app import CounterApp

    site = load_site(ctx.params["site"])
    settings = parse_counter({"lang": ctx.params.get("lang", "fi"), "counter": "1"}, set(site.counters))
    kivy_as_started(panel_kivy_settings(settings))
    app = ctx.start(CounterApp(site, settings, broker=ctx.params["broker"], device="counter-1"))
    t = translator(settings.lang, site)
    yield ctx.until(lambda: app.root is not None and app.state is not None and app.view is not None,
                    "panel of counter 1 with the live state")
    ctx.tap(ctx.find(app.root, "open"))
    yield ctx.until(lambda: app.view.open and app.view.waiting_total == 4, "counter open, four waiting")

    # a number typed on the keyboard that nobody has today: said in words, nothing called
    yield _keypad_open(ctx, app)
    answered = _answer(ctx, app, "call_number", "answer to call_number K099")
    ctx.key("k99\n")
    yield answered
    assert _reply(app, "call_number")["error"] == "unknown_number", app.replies
    assert app.status.text == t(UNKNOWN_NUMBER_SENT).format(number="K099") and app.status_kind == "error"
    assert app.number_view is None and app.view.current is None

    # the customer at the desk shows ticket K003: K, 3 on the keypad calls K003
    yield _keypad_open(ctx, app)
    letters = [w.pp_id for w in ctx.find_all(app.number_view, lambda w: str(getattr(w, "pp_id", "")).startswith(
        "key_") and len(w.pp_id) == 5 and w.pp_id[4].isalpha())]
    assert sorted(letters) == ["key_G", "key_K", "key_N"], letters   # the counter's prefixes, no others
    ctx.tap(ctx.find(app.number_view, "key_K"))
    ctx.tap(ctx.find(app.number_view, "key_3"))
    yield ctx.until(lambda: app.entry_label.text == "K3", "K3 typed")
    assert app.entry_call.text == t("Call {number}").format(number="K003") and not app.entry_call.disabled
    yield ctx.frames(3)
    shot(ctx, app.number_view, _shot_name("counter-number-keypad", settings.lang))
    ctx.tap(ctx.find(app.number_view, "number_call"))
    yield ctx.until(lambda: app.view.current is not None and app.view.current.number == "K003", "K003 called")
    assert _reply(app, "call_number")["ok"] and app.status.text == t("Called {number}.").format(number="K003")
    assert app.finish_btn.text == t("Finish…")   # Kela has outcomes: Finish offers them

    # K003 goes to fetch a document: parked, the counter is free, the list shows K003 as ours
    answered = _answer(ctx, app, "park", "answer to park")
    ctx.tap(ctx.find(app.root, "park"))
    yield answered
    assert _reply(app, "park")["ok"], app.replies
    yield ctx.until(lambda: app.view.current is None and [p.number for p in app.view.parked] == ["K003"],
                    "K003 parked")
    assert app.view.parked[0].own and app.cur_number.text == "—"
    assert ctx.find(app.root, "recall").disabled and ctx.find(app.root, "park").disabled

    # the next customer, K001, does not come
    ctx.tap(ctx.find(app.root, "call_next"))
    yield ctx.until(lambda: app.view.current is not None and app.view.current.number == "K001", "K001 called")
    ctx.tap(ctx.find(app.root, "no_show"))
    yield ctx.until(lambda: app.view.current is None and [n.number for n in app.view.no_shows] == ["K001"],
                    "K001 in the no-shows")
    yield ctx.frames(3)
    shot(ctx, app.root, _shot_name("counter-parked-no-show", settings.lang))

    # K003 is back with the document: "Call back"
    ctx.tap(ctx.find(app.root, "call_back_K003"))
    yield ctx.until(lambda: app.view.current is not None and app.view.current.number == "K003" and
                    not app.view.parked, "K003 called back")

    # K001 turns up after all: back in the queue, at its front
    ctx.tap(ctx.find(app.root, "requeue_K001"))
    yield ctx.until(lambda: not app.view.no_shows and app.view.waiting_total == 3, "K001 waiting again")
    assert app.status.text == t("{number} is back in the queue, first in line.").format(number="K001")

    # finish K003 with an outcome: Finish offers Kela's outcomes by name, one tap finishes
    ctx.tap(ctx.find(app.root, "finish"))
    yield ctx.until(lambda: app.outcome_view is not None and app.outcome_view.parent is not None,
                    "outcome chooser open")
    names = {o: ctx.find(app.outcome_view, f"outcome_{o}").text for o in SERVICE_OUTCOMES["kela"]}
    assert names == {o: OUTCOMES[o][settings.lang] for o in SERVICE_OUTCOMES["kela"]}, names
    ctx.find(app.outcome_view, "finish_no_outcome")   # and a way to finish without one
    yield ctx.frames(3)
    shot(ctx, app.outcome_view, _shot_name("counter-outcome-chooser", settings.lang))
    ctx.tap(ctx.find(app.outcome_view, "outcome_application"))
    yield ctx.until(lambda: app.view.current is None and _reply(app, "finish") is not None, "K003 finished")
    assert _reply(app, "finish")["ok"] and app.outcome_view is None
    assert app.status.text == t("Finished {number}: {outcome}.").format(
        number="K003", outcome=OUTCOMES["application"][settings.lang])

    # the re-queued K001 comes before K002 and G001 (they arrived after it)
    answered = _answer(ctx, app, "call", "answer to call next")
    ctx.tap(ctx.find(app.root, "call_next"))
    yield answered
    assert _reply(app, "call").get("number") == "K001", _reply(app, "call")
    yield ctx.until(lambda: app.view.current is not None and app.view.current.number == "K001",
                    "K001 called from the front of the queue")
    ctx.tap(ctx.find(app.root, "finish"))
    yield ctx.until(lambda: app.outcome_view is not None and app.outcome_view.parent is not None,
                    "outcome chooser open")
    answered = _answer(ctx, app, "finish", "K001 finished")
    ctx.tap(ctx.find(app.outcome_view, "finish_no_outcome"))
    yield answered
    assert _reply(app, "finish")["ok"] and app.view is not None

    # digital support has no outcomes: Finish is one tap
    yield _keypad_open(ctx, app)
    ctx.tap(ctx.find(app.number_view, "key_G"))
    ctx.tap(ctx.find(app.number_view, "key_1"))
    ctx.tap(ctx.find(app.number_view, "number_call"))
    yield ctx.until(lambda: app.view.current is not None and app.view.current.number == "G001", "G001 called")
    assert app.finish_btn.text == t("Finish")
    answered = _answer(ctx, app, "finish", "G001 finished")
    ctx.tap(ctx.find(app.root, "finish"))
    yield answered
    assert _reply(app, "finish")["ok"] and app.outcome_view is None
    yield ctx.until(lambda: app.view.current is None, "G001 finished")

    # a number already served cannot be called again: the words name it and why
    yield _keypad_open(ctx, app)
    for k in ("key_K", "key_0", "key_0", "key_3"):
        ctx.tap(ctx.find(app.number_view, k))
    answered = _answer(ctx, app, "call_number", "answer to call_number K003")
    ctx.tap(ctx.find(app.number_view, "number_call"))
    yield answered
    r = _reply(app, "call_number")
    assert r["error"] == "not_callable" and r["state"] == "finished", r
    assert app.status.text == t(STATE_ERRORS["finished"]).format(number="K003")
    yield ctx.frames(3)
    shot(ctx, app.root, _shot_name("counter-clerk-panel", settings.lang))

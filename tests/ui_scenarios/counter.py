"""Counter panel scenarios: the real CounterApp sending commands to the real hub over Mosquitto,
driven by simulated touches. Parameters: broker, sync (marker directory), lang."""
from __future__ import annotations

from cli.counter_cmd import panel_kivy_settings
from counter.app import CounterApp
from counter.model import ERRORS, translator
from counter.settings import parse_counter
from tests.ui_scenarios.display_support import kivy_as_started, load_example_site, shot, signal, wait_file


def _reply(app, cmd):
    return next((r for c, r in reversed(app.replies) if c == cmd), None)


def panel_flow(ctx):
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

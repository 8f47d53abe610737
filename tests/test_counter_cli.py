"""`palvelupiste counter ...` against the real hub on a real Mosquitto: every clerk command (call a
number, park, put a no-show back, finish with an outcome too), the hub's refusals in words, the
exit codes, and `palvelupiste display --check`."""
from __future__ import annotations

import json

import pytest

from cli.main import main
from tests.ui_scenarios.counter import hub_with_outcomes, write_site_with_outcomes
from tests.ui_scenarios.display_support import EXAMPLE_SITE, Hub, command, device_toml

pytestmark = pytest.mark.broker


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out.strip(), out.err.strip()


def test_counter_commands_against_a_running_hub(tmp_path, broker, capsys):
    b = ["--broker", broker.url, "--device", "counter-1"]
    with Hub(tmp_path / "hub", broker.url):
        assert run(capsys, "counter", "call", "--counter", "3", *b, "--lang", "en") == \
            (1, "", "This counter is closed. Open it first.")
        assert run(capsys, "counter", "open", "--counter", "3", *b, "--lang", "fi")[:2] == (0, "Tiski on avoinna.")
        assert run(capsys, "counter", "call", "--counter", "3", *b, "--lang", "sv") == \
            (1, "", "Ingen väntar på luckans tjänster.")

        for needs in ({"interpreter": "uk", "accessible_room": True}, {}):
            assert command(broker.url, "kiosk-1", {"cmd": "take", "service": "poliisi", "needs": needs})["ok"]
        assert command(broker.url, "kiosk-1", {"cmd": "help", "device": "kiosk-1"})["ok"]

        assert run(capsys, "counter", "call", "--counter", "3", *b, "--lang", "en")[:2] == (0, "Called P001.")
        code, out, _ = run(capsys, "counter", "state", "--counter", "3", *b, "--lang", "en")
        assert code == 0
        assert "Counter 3: Open" in out and "Current customer: P001 · Police permit services" in out
        assert "Interpreter: Ukrainian (Українська)" in out and "Accessible room" in out
        assert "1 waiting" in out and "Help needed at kiosk-1 since" in out
        assert run(capsys, "counter", "recall", "--counter", "3", *b, "--lang", "en")[:2] == (0, "Called P001 again.")
        assert run(capsys, "counter", "transfer", "--counter", "3", "--service", "dvv", *b, "--lang", "en")[:2] == \
            (0, "P001 moved to Digital and Population Data Services Agency, keeping the number.")
        assert run(capsys, "counter", "finish", "--counter", "3", *b, "--lang", "en") == \
            (1, "", "You are not serving a customer right now.")
        assert run(capsys, "counter", "call", "--counter", "3", *b)[:2] == (0, "Kutsuttu: P002.")
        assert run(capsys, "counter", "no-show", "--counter", "3", *b, "--lang", "en")[:2] == (0, "P002 did not come.")
        # the oldest open help request, then none is left
        assert run(capsys, "counter", "help-answered", "--counter", "3", *b, "--lang", "en")[0] == 0
        assert run(capsys, "counter", "help-answered", "--counter", "3", *b, "--lang", "en") == \
            (1, "", "This help request has already been answered.")
        # the transferred ticket is called at counter 4 (police, dvv, migri) with its number
        assert run(capsys, "counter", "open", "--counter", "4", *b)[0] == 0
        code, out, _ = run(capsys, "counter", "call", "--counter", "4", *b, "--json")
        reply = json.loads(out)
        assert code == 0 and reply["number"] == "P001" and reply["service"] == "dvv"
        assert reply["needs"]["interpreter"] == "uk"
        assert run(capsys, "counter", "finish", "--counter", "4", *b, "--lang", "en")[:2] == (0, "Finished P001.")
        assert run(capsys, "counter", "close", "--counter", "3", *b, "--lang", "en")[:2] == (0, "The counter is closed.")
        assert run(capsys, "counter", "close", "--counter", "4", *b, "--lang", "en")[0] == 0


def test_counter_cli_usage_errors_and_no_hub(tmp_path, broker, capsys):
    b = ["--broker", broker.url]
    assert run(capsys, "counter", "call", "--counter", "99", *b)[0] == 2          # no such counter
    assert run(capsys, "counter", "transfer", "--counter", "3", "--service", "nope", *b)[0] == 2
    assert run(capsys, "counter", "call", *b)[0] == 2                             # which counter?
    # a broker without a hub: no answer within the timeout, said in words, exit 3
    code, out, err = run(capsys, "counter", "call", "--counter", "3", *b, "--timeout", "1", "--lang", "en")
    assert code == 3 and err == "The queue system did not answer. Check the connection and try again."
    # no broker at all
    code, out, err = run(capsys, "counter", "call", "--counter", "3", "--broker", "mqtt://127.0.0.1:1",
                         "--timeout", "1", "--lang", "en")
    assert code == 3 and err == "No connection to the queue system. Nothing was sent; try again in a moment."


def test_counter_and_display_take_their_settings_from_the_device_configuration(tmp_path, broker, capsys):
    conf = device_toml(tmp_path / "counter.toml", device="counter-2", role="counter", broker_url=broker.url,
                       data_dir=tmp_path / "c", extra='[counter]\ncounter = "H1"\nlang = "sv"\n')
    with Hub(tmp_path / "hub", broker.url):
        assert run(capsys, "counter", "open", "--config", str(conf))[:2] == (0, "Luckan är öppen.")
        code, out, _ = run(capsys, "counter", "state", "--config", str(conf))
        assert code == 0 and out.startswith("Rum 1: Öppen")
    disp = device_toml(tmp_path / "display.toml", device="display-1", role="display", broker_url=broker.url,
                       data_dir=tmp_path / "d",
                       extra='[display]\norientation = "portrait"\nservices = ["kela", "neuvonta"]\n')
    code, out, _ = run(capsys, "display", "--config", str(disp), "--check")
    assert code == 0 and "portrait" in out and "kela, neuvonta" in out
    bad = device_toml(tmp_path / "bad.toml", device="display-1", role="display", broker_url=broker.url,
                      data_dir=tmp_path / "d", extra='[display]\nservices = ["nope"]\nhistory = 2\n')
    code, _, err = run(capsys, "display", "--config", str(bad), "--check")
    assert code == 2 and "display.services" in err and "display.history" in err
    assert EXAMPLE_SITE.exists()


def test_call_number_park_requeue_and_outcomes_from_the_cli(tmp_path, broker, capsys):
    site = write_site_with_outcomes(tmp_path / "site.toml")
    # A loaded CI machine may take longer than the default 5 s to answer.
    b = ["--broker", broker.url, "--device", "counter-1", "--site", str(site), "--lang", "en", "--timeout", "20"]
    with hub_with_outcomes(tmp_path / "hub", broker.url):
        for svc in ("kela", "kela", "kela", "neuvonta"):
            assert command(broker.url, "kiosk-1", {"cmd": "take", "service": svc})["ok"]
        assert run(capsys, "counter", "call-number", "--counter", "1", "--number", "K3", *b) == \
            (1, "", "This counter is closed. Open it first.")
        assert run(capsys, "counter", "open", "--counter", "1", *b)[0] == 0
        # the customer at the desk shows K003 ("k3" is K003)
        assert run(capsys, "counter", "call-number", "--counter", "1", "--number", "k3", *b)[:2] == (0, "Called K003.")
        code, out, _ = run(capsys, "counter", "state", "--counter", "1", *b)
        assert code == 0 and "Current customer: K003 · Kela" in out
        assert "Outcomes (finish --outcome): advice (Advice given), application (Application received)" in out
        assert run(capsys, "counter", "park", "--counter", "1", *b)[:2] == \
            (0, "K003 parked. Call them back from the list when they return.")
        assert run(capsys, "counter", "park", "--counter", "1", *b) == (1, "", "You are not serving a customer right now.")
        assert run(capsys, "counter", "call", "--counter", "1", *b)[:2] == (0, "Called K001.")
        assert run(capsys, "counter", "no-show", "--counter", "1", *b)[0] == 0
        code, out, _ = run(capsys, "counter", "state", "--counter", "1", *b)
        kela = "Kela (Social Insurance Institution)"
        assert f"Parked customers (1):\n  K003 · {kela} · here" in out
        assert out.endswith(f"Did not come today:\n  K001 · {kela}")
        # the refusals name the number and say why
        assert run(capsys, "counter", "call-number", "--counter", "1", "--number", "K099", *b) == \
            (1, "", "There is no ticket K099 today. Check the number on the customer's ticket.")
        assert run(capsys, "counter", "call-number", "--counter", "1", "--number", "K001", *b)[2].startswith(
            "K001 did not come when called. Put it back in the queue first")
        assert run(capsys, "counter", "requeue", "--counter", "1", "--number", "K002", *b) == \
            (1, "", "K002 is already waiting in the queue.")
        assert run(capsys, "counter", "requeue", "--counter", "1", "--number", "K003", *b) == \
            (1, "", "K003 is parked. Call it back from the list of parked customers.")
        assert run(capsys, "counter", "requeue", "--counter", "1", "--number", "K001", *b)[:2] == \
            (0, "K001 is back in the queue, first in line.")
        # K003 called back (from another counter serving Kela too), finished with an outcome
        assert run(capsys, "counter", "open", "--counter", "2", *b)[0] == 0
        code, out, _ = run(capsys, "counter", "call-number", "--counter", "2", "--number", "K003", *b, "--json")
        reply = json.loads(out)
        assert code == 0 and reply["number"] == "K003" and reply["counter"] == "2" and reply["waited_s"] is None
        assert run(capsys, "counter", "finish", "--counter", "2", "--outcome", "application", *b, "--lang", "fi")[:2] \
            == (0, "K003 valmis: Hakemus vastaanotettu.")
        # the re-queued K001 first; general advice does not offer "application": the hub says which it does
        assert run(capsys, "counter", "call", "--counter", "1", *b)[:2] == (0, "Called K001.")
        assert run(capsys, "counter", "call", "--counter", "1", *b)[:2] == (0, "Called K002.")
        assert run(capsys, "counter", "call", "--counter", "1", *b)[:2] == (0, "Called N001.")
        assert run(capsys, "counter", "finish", "--counter", "1", "--outcome", "application", *b) == \
            (1, "", "That outcome is not offered for this customer's service. Choose another one or finish without "
                    "an outcome. This service's outcomes: Advice given, Referred elsewhere.")
        assert run(capsys, "counter", "finish", "--counter", "1", "--outcome", "referred", *b)[:2] == \
            (0, "Finished N001: Referred elsewhere.")
        # usage: not a number, an outcome the site does not have (nothing is sent)
        assert run(capsys, "counter", "call-number", "--counter", "1", "--number", "12", *b)[0] == 2
        code, _, err = run(capsys, "counter", "finish", "--counter", "1", "--outcome", "nope", *b)
        assert code == 2 and "unknown outcome 'nope'" in err and "advice" in err

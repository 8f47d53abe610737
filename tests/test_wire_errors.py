"""The site bus's error codes are declared once (core.errors.WireError): the README's table is that
enum, every code a UI can receive has words there (the clerk's, the citizen's), and no production
module answers with a code the enum does not know."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from core.commands import ROLE_COMMANDS
from core.errors import CLIENT, HUB, TOOL, WireError
from core.i18n import DOMAINS
from counter import model as M
from kiosk import flow as F
from kiosk import texts as T
from kiosk.settings import parse_kiosk

REPO = Path(__file__).resolve().parent.parent
#: Commands answered by the hub itself (hub.service.HUB_COMMANDS), which every role may ask.
HUB_QUERIES = {"state"}


def readme_rows() -> list[str]:
    """The table under "### Command replies" in README.md, one string per row."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    lines = text.split("### Command replies", 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| code |"))
    rows = []
    for line in lines[start + 2:]:  # after the header and its rule, up to the table's end
        if not line.startswith("|"):
            break
        rows.append(line.strip())
    return rows


def expected_rows() -> list[str]:
    rows = []
    for w in WireError:
        answers = "any command" if w.commands is None else ", ".join(f"`{c}`" for c in sorted(w.commands))
        rows.append(f"| `{w.value}` | {w.origin} | {answers} | {w.meaning} |")
    return rows


def test_the_readme_table_is_the_enum():
    want = expected_rows()
    assert readme_rows() == want, "README.md's command-reply table differs from core/errors.py; it should be:\n" + \
        "\n".join(want)


def test_each_code_is_declared_with_an_origin_and_real_commands():
    assert len({w.value for w in WireError}) == len(WireError)
    every_command = set().union(*ROLE_COMMANDS.values())
    for w in WireError:
        assert re.fullmatch(r"[a-z][a-z_]*", w.value), w
        assert w.origin in (HUB, CLIENT, TOOL) and w.meaning.strip(), w
        assert w.commands is None or (w.commands and w.commands <= every_command), w


def receivable(role: str, *, tools: bool) -> set[WireError]:
    """The codes a device of `role` can get back for the commands its role may send."""
    sends = ROLE_COMMANDS[role] | HUB_QUERIES
    return {w for w in WireError if (tools or w.origin != TOOL) and any(w.answers(c) for c in sends)}


def test_the_clerk_has_words_for_every_code_the_counter_can_receive():
    # The counter's CLI goes through request_once: the tools' own codes reach the clerk too.
    missing = receivable("counter", tools=True) - set(M.ERRORS)
    assert not missing, f"counter/model.py ERRORS has no words for {sorted(missing)}"
    assert WireError.NOTHING_WAITING in M.ERRORS and WireError.UNKNOWN_CODE not in receivable("counter", tools=True)


@pytest.mark.parametrize("lang", DOMAINS["counter"])
def test_the_clerk_reads_each_code_in_words_not_as_a_code(lang, example_site):
    t = M.translator(lang, example_site)
    for code in receivable("counter", tools=True):
        text = M.error_text(t, {"ok": False, "error": code.value})
        assert text == t(M.ERRORS[code]) != t(M.GENERIC_ERROR).format(code=code.value), (lang, code)


def _flow_showing(code: WireError, site) -> F.Flow:
    """A kiosk flow that sent the command `code` can answer, and got `code` back."""
    f = F.Flow(site, parse_kiosk({}), "kiosk-1", settle_s=0.0, now=0.0)
    if code.answers("checkin"):
        f.have_appointment(1)
        for ch in "ABC123":
            f.key(ch, 2)
        f.check_in(3)
    else:
        f.take_number(1)
        f.choose_service("kela", 2)
        f.get_number(3)
    [send] = [e for e in f.drain() if isinstance(e, F.Send)]
    # With the details the hub's check-in answers carry (core.engine: appointment time, number).
    detail = {"service": "kela", "appointment_ms": 1_790_000_000_000, "opens_ms": 1_789_999_100_000,
              "number": "K001"} if code.answers("checkin") else {}
    f.on_reply(send.req, {"ok": False, "error": code.value, "message": "x", **detail}, 4)
    return f


def test_the_citizen_has_words_for_every_code_the_kiosk_can_receive(example_site):
    codes = receivable("kiosk", tools=False)
    missing = codes - set(T.PROBLEM_WORDS) - set(F.CHECKIN_RESULTS)
    assert not missing, f"kiosk/texts.py PROBLEM_WORDS has no words for {sorted(missing)}"
    assert WireError.TIMEOUT in codes and WireError.TOO_EARLY in codes and WireError.NOTHING_WAITING not in codes


@pytest.mark.parametrize("lang", DOMAINS["kiosk"])
def test_each_code_the_kiosk_can_receive_reaches_the_screen_in_words(lang, example_site):
    tr = T.tr_for(lang, example_site)
    en = T.tr_for("en", example_site)
    for code in sorted(receivable("kiosk", tools=False)):
        f = _flow_showing(code, example_site)
        assert f.screen == (code.value if code in F.CHECKIN_RESULTS else F.PROBLEM), code
        shown = T.screen_text(f, tr)
        assert shown.title and (shown.lead or shown.lines), (lang, code)
        assert f" {code.value} " not in f" {shown.speech()} ", (lang, code)  # words, never the bare code
        if code not in F.CHECKIN_RESULTS:
            assert shown.lead == tr.gettext(T.PROBLEM_WORDS[code]), (lang, code)
        if lang != "en":
            assert shown.speech() != T.screen_text(f, en).speech(), (lang, code, "not translated")


#: Production packages: everything but the tests, the simulation and the benchmarks.
_PRODUCTION = [p for p in REPO.rglob("*.py")
               if p.relative_to(REPO).parts[0] not in ("tests", "sim", "bench", ".venv", "build", "scripts")]


def test_no_production_module_answers_with_an_undeclared_code():
    """An error reply written as a literal dict must use a code the enum declares (a typo, or a code
    added in one place only, would reach a UI that has no words for it)."""
    known = {w.value for w in WireError}
    bad = []
    for path in _PRODUCTION:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Dict):
                continue
            fields = {k.value: v for k, v in zip(node.keys, node.values) if isinstance(k, ast.Constant)}
            code, ok = fields.get("error"), fields.get("ok")
            if (isinstance(ok, ast.Constant) and ok.value is False and isinstance(code, ast.Constant)
                    and code.value not in known):
                bad.append(f"{path.relative_to(REPO)}:{node.lineno}: {code.value!r}")
    assert _PRODUCTION and not bad, bad

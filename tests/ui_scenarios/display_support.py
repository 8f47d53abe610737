"""Shared pieces of the display and counter tests: a real hub (hub.service.HubService) on a real
Mosquitto, and a tiny file-based handshake between the test and the app processes it runs.

Each app runs as a scenario in its own process (tests/support/kivy_driver.py). Processes agree on
progress through marker files in one directory: `signal(d, "display-ready")` makes one,
`wait_file(ctx, d, "display-ready")` is a condition a scenario yields. An "abort" marker (written
by the test when any process failed) makes every waiting scenario fail at once instead of running
into its timeout.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from tests.support.sites import EXAMPLE_SITE  # open all day: the tests run at any hour

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-output" / "screenshots"


def kivy_as_started(kivy_settings) -> None:
    """Kivy set up as the app's command sets it up (uikit.launch), before the app's window exists:
    `kivy_as_started(cli.display_cmd.kivy_settings(settings))`."""
    from uikit.launch import configure_kivy

    configure_kivy(kivy_settings)


# --- handshake --------------------------------------------------------------------------------

def signal(sync_dir: str | Path, name: str, text: str = "") -> None:
    p = Path(sync_dir) / name
    tmp = p.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(p)


def seen(sync_dir: str | Path, name: str) -> bool:
    return (Path(sync_dir) / name).exists()


class Aborted(AssertionError):
    pass


def wait_file(ctx, sync_dir: str | Path, name: str, timeout: float = 30.0):
    """A scenario condition: the marker `name` exists (fails at once on "abort")."""
    def cond() -> bool:
        if seen(sync_dir, "abort"):
            raise Aborted(f"aborted while waiting for {name}")
        return seen(sync_dir, name)
    return ctx.until(cond, f"marker {name}", timeout)


def wait_marker(sync_dir: str | Path, name: str, timeout: float = 30.0, threads: list | None = None) -> None:
    """In the test process: block until a marker exists; fail early when a scenario thread died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if seen(sync_dir, name):
            return
        for th in threads or []:
            if th.error is not None:
                raise AssertionError(f"scenario {th.target} failed while the test waited for {name}:\n{th.error}")
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for marker {name}")


def shot(ctx, widget, name: str) -> Path:
    """A screenshot of `widget` as the screen shows it (rotation kept, on the window's colour):
    the same offscreen rendering the apps use for SIGUSR1 screenshots."""
    from uikit.appsupport import take_screenshot

    path = take_screenshot(name, widget, ctx.output_dir)
    ctx.screenshots.append(str(path))
    return path


# --- a scenario in a thread ----------------------------------------------------------------------

class ScenarioThread(threading.Thread):
    def __init__(self, target: str, workdir: Path, sync_dir: Path, params: dict[str, Any],
                 timeout: float = 90.0, env: dict[str, str] | None = None) -> None:
        super().__init__(daemon=True, name=target)
        self.target, self.workdir, self.sync_dir = target, workdir, sync_dir
        self.params, self.timeout, self.env = params, timeout, env
        self.result: dict[str, Any] | None = None
        self.error: str | None = None

    def run(self) -> None:
        from tests.support.kivy_driver import run_scenario

        try:
            Path(self.workdir).mkdir(parents=True, exist_ok=True)
            self.result = run_scenario(self.target, self.workdir, output_dir=SCREENSHOTS, params=self.params,
                                       timeout=self.timeout, env=self.env)
        except BaseException as exc:  # reported by the test
            self.error = str(exc) or repr(exc)
            signal(self.sync_dir, "abort", self.error)


def join_all(threads: list[ScenarioThread], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for th in threads:
        th.join(max(0.1, deadline - time.monotonic()))
    errors = [f"{th.target}: {th.error}" for th in threads if th.error]
    alive = [th.target for th in threads if th.is_alive()]
    assert not errors, "\n\n".join(errors)
    assert not alive, f"scenarios still running: {alive}"


# --- a real hub ---------------------------------------------------------------------------------

def device_toml(path: Path, *, device: str, role: str, broker_url: str, data_dir: Path,
                site_config: Path = EXAMPLE_SITE, extra: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(f'''[device]
id = "{device}"
role = "{role}"
site = "example-pp"
site_config = "{site_config}"
data_dir = "{data_dir}"

[site_broker]
url = "{broker_url}"
{extra}''')
    return path


class Hub:
    """The real hub service (its own thread, its own SQLite store) for one test. `site_config`:
    another site file than the always-open example; `clock`: the hub's clock (UTC ms)."""

    def __init__(self, workdir: Path, broker_url: str, heartbeat_s: float = 1.0, *,
                 site_config: Path = EXAMPLE_SITE, clock=None) -> None:
        self.conf = device_toml(Path(workdir) / "hub.toml", device="hub-1", role="hub", broker_url=broker_url,
                                data_dir=Path(workdir) / "hub-data", site_config=site_config)
        self.heartbeat_s = heartbeat_s
        self.clock = clock
        self.service = None

    def start(self) -> "Hub":
        from core.config import load_device
        from hub.service import HubService

        kw = {} if self.clock is None else {"clock": self.clock}
        self.service = HubService(load_device(self.conf), heartbeat_s=self.heartbeat_s,
                                  link_kw={"min_backoff_s": 0.1, "max_backoff_s": 0.5}, **kw)
        self.service.start_in_thread()
        assert self.service.wait_connected(10), "the hub did not connect to the broker"
        return self

    def stop(self) -> None:
        if self.service is not None:
            self.service.stop()
            self.service = None

    def __enter__(self) -> "Hub":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def command(broker_url: str, device: str, payload: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    from bus.hubclient import request_once

    return request_once(broker_url, "example-pp", device, payload, timeout=timeout)


def load_example_site():
    from core.config import load_site

    return load_site(EXAMPLE_SITE)


# --- catalogs ----------------------------------------------------------------------------------

#: How the display and counter code marks its strings: t("..."), t.ngettext("...", "...", n), N_("...").
GETTEXT_KEYWORDS = {"t": None, "_": None, "N_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2)}


def source_msgids(paths: list[Path]) -> dict[str, str]:
    """Every string the given source files pass through gettext: msgid → where."""
    from babel.messages.extract import extract_python

    out: dict[str, str] = {}
    for path in paths:
        with open(path, "rb") as f:
            for lineno, _func, msg, _comments in extract_python(f, GETTEXT_KEYWORDS.keys(), [], {}):
                first = msg[0] if isinstance(msg, tuple) else msg
                if first:
                    out.setdefault(first, f"{Path(path).relative_to(REPO)}:{lineno}")
    return out


def catalog_problems(domain: str, sources: list[Path], langs: tuple[str, ...] = ("fi", "sv", "en")) -> list[str]:
    """Strings of `sources` missing from the domain's catalogs, untranslated (or fuzzy) entries,
    and translations whose {placeholders} differ from the msgid's."""
    import re

    from babel.messages.pofile import read_po

    from core.i18n import LOCALE_DIR, missing_translations

    problems = []
    ph = re.compile(r"\{[a-z_]+\}")
    used = source_msgids(sources)
    for lang in langs:
        po = LOCALE_DIR / lang / "LC_MESSAGES" / f"{domain}.po"
        if not po.exists():
            problems.append(f"{lang}/{domain}: no catalog")
            continue
        with po.open("rb") as f:
            cat = read_po(f)
        ids = {m.id if isinstance(m.id, str) else m.id[0]: m for m in cat if m.id}
        for msgid, where in used.items():
            if msgid not in ids:
                problems.append(f"{lang}/{domain}: {msgid!r} ({where}) is not in the catalog")
        for m in missing_translations(domain, lang):
            problems.append(f"{lang}/{domain}: untranslated {m!r}")
        for key, m in ids.items():
            pairs = zip(m.id, m.string) if isinstance(m.id, tuple) else [(m.id, m.string)]
            for src, dst in pairs:
                if dst and sorted(ph.findall(src)) != sorted(ph.findall(dst)):
                    problems.append(f"{lang}/{domain}: placeholders differ in {key!r}: {dst!r}")
    return problems

"""A hub as a real subprocess (`python -m cli hub --config ...`) for tests: its own device config
and data dir in a temp dir, the example site, a broker given by port.

    hub = HubProcess(tmp_path / "hub", broker.port).start()   # returns once the hub answers
    hub.kill()        # SIGKILL, for crash tests
    hub.start()       # again, same store
    hub.terminate()   # SIGTERM, returns the exit code

    hub.start(kill_after_commit=b"corr")  # the hub SIGKILLs itself once the command with this
    hub.start(kill_after_commit=3)        # correlation data (or its 3rd one) is committed, before
                                          # the answer goes out (HubService.after_commit)
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.sites import EXAMPLE_SITE  # open all day: the tests run at any hour

REPO = Path(__file__).resolve().parents[2]

# The hub as `palvelupiste hub` runs it, with HubService.after_commit set to kill the process
# between a command's commit and its answer. argv: correlation data (hex, or ""), n (0: none),
# the device config.
KILLING_HUB = r"""
import os, signal, sys
from cli.main import main
from hub.service import HubService

corr = bytes.fromhex(sys.argv[1]) if sys.argv[1] else None
nth = int(sys.argv[2])
seen = 0

def kill_here(device, correlation, answer):
    global seen
    seen += 1
    if correlation == corr or seen == nth:
        sys.stderr.write(f"test hook: SIGKILL after commit #{seen}, before the answer\n")
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)

HubService.after_commit = staticmethod(kill_here)
sys.exit(main(["hub", "--config", sys.argv[3]]))
"""


def write_device_config(workdir: Path, port: int, *, device: str = "hub-1", site: str = "example-pp",
                        site_config: Path = EXAMPLE_SITE, heartbeat_s: float = 10.0,
                        username: str | None = None, password_file: Path | None = None) -> Path:
    workdir = Path(workdir)
    (workdir / "data").mkdir(parents=True, exist_ok=True)
    path = workdir / "device.toml"
    auth = (f'username = "{username}"\n' if username else "") + \
        (f'password_file = "{password_file}"\n' if password_file else "")
    path.write_text(
        "[device]\n"
        f'id = "{device}"\nrole = "hub"\nsite = "{site}"\n'
        f'site_config = "{site_config}"\n'
        f'data_dir = "{workdir / "data"}"\n'
        "\n[site_broker]\n"
        f'url = "mqtt://127.0.0.1:{port}"\n' + auth +
        "\n[hub]\n"
        f"heartbeat_s = {heartbeat_s}\n", encoding="utf-8")
    return path


class HubProcess:
    def __init__(self, workdir: Path, broker_port: int, *, heartbeat_s: float = 10.0,
                 site: str = "example-pp") -> None:
        self.workdir = Path(workdir)
        self.port = broker_port
        self.site = site
        self.config = write_device_config(self.workdir, broker_port, heartbeat_s=heartbeat_s, site=site)
        self.data_dir = self.workdir / "data"
        self.store_path = self.data_dir / "events.sqlite"
        self.log = self.workdir / "hub.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 15.0, wait_ready: bool = True,
              kill_after_commit: bytes | int | None = None) -> "HubProcess":
        """`kill_after_commit`: the hub kills itself (SIGKILL) after committing the command with
        this correlation data (bytes) or its n-th command with events (int), before answering."""
        if self.alive():  # two hubs on one store and one client id would fight over both
            raise RuntimeError("this hub is already running")
        env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        if kill_after_commit is None:
            argv = [sys.executable, "-m", "cli", "hub", "--config", str(self.config)]
        else:
            corr = kill_after_commit.hex() if isinstance(kill_after_commit, bytes) else ""
            nth = kill_after_commit if isinstance(kill_after_commit, int) else 0
            argv = [sys.executable, "-c", KILLING_HUB, corr, str(nth), str(self.config)]
        with self.log.open("ab") as logf:
            self.proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=logf, stderr=logf)
        if wait_ready and not self.wait_ready(timeout):
            self.kill()
            raise RuntimeError(f"the hub did not answer within {timeout}s:\n{self.log_text()[-3000:]}")
        return self

    def wait_ready(self, timeout: float = 15.0) -> bool:
        """True once the hub answers a state request over the broker."""
        from bus.hubclient import HubClient

        deadline = time.monotonic() + timeout
        with HubClient(f"mqtt://127.0.0.1:{self.port}", self.site, "display-1",
                       min_backoff_s=0.05, max_backoff_s=0.5) as c:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.poll() is not None:
                    return False
                r = c.request({"cmd": "state"}, timeout=min(0.5, max(0.05, deadline - time.monotonic())))
                if r.get("ok"):
                    return True
        return False

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout: float = 10.0) -> int:
        """The exit code once the process has ended (e.g. killed by its own test hook)."""
        assert self.proc is not None
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self, timeout: float = 15.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def __enter__(self) -> "HubProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.terminate()

"""A real Mosquitto for tests: own config, free port, own data dir; started and stopped per test.

Tests never use the system broker. `MosquittoBroker.start()` returns once the port accepts
connections; `kill()` is SIGKILL (for fault tests), `restart()` reuses the port.
"""
from __future__ import annotations

import getpass
import os
import shutil
import signal
import subprocess
from pathlib import Path

from sim.localnet import free_port, wait_port  # noqa: F401  (tests import them from here)


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)


class MosquittoBroker:
    def __init__(self, workdir: Path, *, port: int | None = None, anonymous: bool = True,
                 password_file: Path | None = None, acl_file: Path | None = None,
                 config_text: str | None = None, extra: str = "") -> None:
        """Either `config_text` (a full mosquitto.conf, with {port} and {dir} placeholders — e.g.
        rendered from the project's own systemd/ configs) or the simple options."""
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.anonymous = anonymous
        self.password_file = password_file
        self.acl_file = acl_file
        self.config_text = config_text
        self.extra = extra
        self.proc: subprocess.Popen | None = None
        self.conf = self.workdir / "mosquitto.conf"
        self.log = self.workdir / "mosquitto.log"

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def _write_conf(self) -> None:
        if self.config_text is not None:
            text = self.config_text.replace("{port}", str(self.port)).replace("{dir}", str(self.workdir))
        else:
            lines = [f"listener {self.port} 127.0.0.1",
                     # Started as root, Mosquitto drops to the 'mosquitto' user, which cannot
                     # read the test's private temp dir; stay the user the tests run as.
                     f"user {getpass.getuser()}",
                     f"allow_anonymous {'true' if self.anonymous else 'false'}",
                     "persistence true", f"persistence_location {self.workdir}/",
                     "max_queued_messages 100000", "set_tcp_nodelay true", "log_dest stderr", "log_type error",
                     "log_type warning", "log_type notice"]
            if self.password_file:
                lines.append(f"password_file {self.password_file}")
            if self.acl_file:
                lines.append(f"acl_file {self.acl_file}")
            text = "\n".join(lines) + "\n" + self.extra
        self.conf.write_text(text)

    def start(self, timeout: float = 10.0) -> "MosquittoBroker":
        binary = mosquitto_binary()
        if binary is None:
            raise RuntimeError("mosquitto is not installed (make install installs it)")
        self._write_conf()
        with self.log.open("ab") as logf:
            self.proc = subprocess.Popen([binary, "-c", str(self.conf)], stdout=logf, stderr=logf)
        if not wait_port(self.port, timeout):
            self.stop()
            raise RuntimeError(f"mosquitto did not start on port {self.port}: {self.log.read_text()[-2000:]}")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(5)
        self.proc = None

    def restart(self, timeout: float = 10.0) -> "MosquittoBroker":
        self.stop()
        return self.start(timeout)

    def __enter__(self) -> "MosquittoBroker":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def make_password_file(path: Path, users: dict[str, str]) -> Path:
    """A Mosquitto password file made by the real mosquitto_passwd."""
    path.unlink(missing_ok=True)
    path.touch()
    for user, pw in users.items():
        subprocess.run(["mosquitto_passwd", "-b", str(path), user, pw], check=True, capture_output=True)
    return path


def site_broker(workdir: Path, site: str, devices: dict[str, str], passwords: dict[str, str]) -> MosquittoBroker:
    """A started Mosquitto on the project's own site-broker configuration (bus.brokerconf), as
    provisioning writes it: the devices' listener on `.port` (`.url`), the hub's own loopback
    listener on `.hub_port` (`.hub_url`). `devices`: id → role; `passwords`: id → password."""
    from bus import brokerconf

    d = Path(workdir)
    d.mkdir(parents=True, exist_ok=True)
    brokerconf.write_password_file(d / "passwd", passwords)
    hubs = {dev: passwords[dev] for dev, role in devices.items() if role == "hub"}
    brokerconf.write_password_file(d / "hub-passwd", hubs)
    (d / "acl").write_text(brokerconf.render_site_acl(site, devices))
    port, hub_port = free_port(), free_port()
    conf = brokerconf.render_site_broker_conf(data_dir=d, password_file=d / "passwd", hub_password_file=d / "hub-passwd",
                                              acl_file=d / "acl", port=port, hub_port=hub_port,
                                              bind_address="127.0.0.1", user=getpass.getuser())
    b = MosquittoBroker(d, port=port, config_text=conf).start()
    b.hub_port = hub_port  # type: ignore[attr-defined]
    b.hub_url = brokerconf.site_hub_url(hub_port)  # type: ignore[attr-defined]
    if not wait_port(hub_port, 10):
        b.stop()
        raise RuntimeError(f"the hub's listener did not open on port {hub_port}")
    return b

"""Down the wire: the site configuration and the appointment list, from the centre to every device.

Central side (`palvelupiste central publish-config / publish-appointments`): a file is validated
whole and refused whole, naming the field or line that is wrong; a good one is published retained
(QoS 1) on pp/<site>/config (the TOML text as it is) or pp/<site>/appointments (a JSON list of
{"code", "service", "at_ms"} — `core.appointments.appointments_to_json`).

Device side (`DownwireKeeper`, run by each device's sync agent): the retained copies arrive on
every connect; each is checked again and, when it differs from the copy on disk, written
atomically (temporary file, fsync, rename, fsync of the directory). A device that starts with the
broker unreachable keeps using the last copy on disk: nothing here ever deletes it.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.appointments import AppointmentFileError, appointments_from_json, appointments_to_json, parse_appointments
from core.config import ConfigError, Site, loads_site
from core.events import valid_id

from . import topics

log = logging.getLogger(__name__)

MAX_CONFIG_BYTES = 256 * 1024
MAX_APPOINTMENTS_BYTES = 4 * 1024 * 1024


class DownwireError(Exception):
    """A file that is refused; the message names the field or line that is wrong."""


class PublishError(DownwireError):
    """The file was good but the broker could not be reached or refused the message."""


# --- atomic files -----------------------------------------------------------------------------

def atomic_write(path: str | Path, data: bytes) -> None:
    """Replace `path` with `data` so that a reader (or a power cut) sees the old or the new file,
    never a part of one: a temporary file in the same directory, fsync, rename, fsync the dir."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def read_bytes(path: str | Path) -> bytes | None:
    try:
        return Path(path).read_bytes()
    except OSError:
        return None


def digest(data: bytes | None) -> str | None:
    return hashlib.sha256(data).hexdigest() if data is not None else None


# --- validation (both ends) ----------------------------------------------------------------------

def validate_site_config(site_id: str, text: str, source: str = "<config>") -> Site:
    """The site TOML as a Site, or DownwireError naming every wrong field."""
    if len(text.encode("utf-8")) > MAX_CONFIG_BYTES:
        raise DownwireError(f"{source}: file larger than {MAX_CONFIG_BYTES} bytes")
    try:
        site = loads_site(text, source)
    except ConfigError as exc:
        raise DownwireError(f"{source}: " + "; ".join(str(i) for i in exc.issues)) from None
    if site.id != site_id:
        raise DownwireError(f"{source}: site.id: the file is for site {site.id!r}, not {site_id!r}")
    return site


def validate_appointments(site: Site, text: str, fmt: str = "auto", source: str = "<appointments>") -> list[dict[str, Any]]:
    """An appointment file (CSV or JSON) as the JSON list that goes on the wire."""
    try:
        appts = parse_appointments(text, site, fmt)
    except AppointmentFileError as exc:
        raise DownwireError(f"{source}: {exc}") from None
    return appointments_to_json(appts)


def check_appointments_payload(payload: bytes, site: Site | None = None) -> list[dict[str, Any]]:
    """What the device accepts from the wire: a JSON list of {code, service, at_ms}."""
    if len(payload) > MAX_APPOINTMENTS_BYTES:
        raise DownwireError(f"appointment list larger than {MAX_APPOINTMENTS_BYTES} bytes")
    try:
        items = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise DownwireError(f"appointments: not valid JSON: {exc}") from None
    if not isinstance(items, list):
        raise DownwireError("appointments: expected a JSON list")
    for i, it in enumerate(items):
        if not isinstance(it, dict) or not isinstance(it.get("code"), str) or not isinstance(it.get("service"), str) \
                or not isinstance(it.get("at_ms"), int) or isinstance(it.get("at_ms"), bool):
            raise DownwireError(f"appointments: item {i + 1}: needs code, service (text) and at_ms (integer)")
        if site is not None and it["service"] not in site.services:
            raise DownwireError(f"appointments: item {i + 1}: unknown service {it['service']!r}")
    appointments_from_json(items)  # the hub's own reader must take it
    return items


def appointments_bytes(items: list[dict[str, Any]]) -> bytes:
    return json.dumps(items, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# --- publishing (central side) -------------------------------------------------------------------

@dataclass
class BrokerArgs:
    url: str
    username: str | None = None
    password_file: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    client_id: str | None = None


def _link(b: BrokerArgs, client_id: str, subscriptions: list[tuple[str, int]] | None = None):
    from core.config import Broker

    from .mqtt import link_for

    broker = Broker(url=b.url, username=b.username, password_file=b.password_file, ca_file=b.ca_file,
                    cert_file=b.cert_file, key_file=b.key_file)
    return link_for(broker, b.client_id or client_id, subscriptions=list(subscriptions or []),
                    min_backoff_s=0.2, max_backoff_s=2.0)


def _wait(link, timeout: float, pred) -> Any:
    from .mqtt import ConnectFailed

    deadline = time.monotonic() + timeout
    last_fail = None
    while time.monotonic() < deadline:
        try:
            item = link.inbox.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            break
        if isinstance(item, ConnectFailed):
            last_fail = item.reason
        if pred(item):
            return item
    raise PublishError(f"no answer from the broker within {timeout:g} s"
                        + (f" (last connect error: {last_fail})" if last_fail else ""))


def publish_retained(b: BrokerArgs, topic: str, payload: bytes, timeout: float = 15.0) -> None:
    """Publish retained, QoS 1, and wait for the broker's PUBACK; a refusal (e.g. ACL) raises."""
    from .mqtt import Connected, PubAck

    link = _link(b, f"publisher-{os.getpid()}").start()
    try:
        _wait(link, timeout, lambda i: isinstance(i, Connected))
        rc, mid = link.publish(topic, payload, qos=1, retain=True)
        if rc != 0:
            raise PublishError(f"publish failed (paho rc {rc})")
        ack = _wait(link, timeout, lambda i: isinstance(i, PubAck) and i.mid == mid)
        if ack.failure:
            raise PublishError(f"the broker refused the message: {ack.reason} (0x{ack.code:02x})")
    finally:
        link.stop()


def fetch_retained(b: BrokerArgs, topic: str, timeout: float = 3.0, connect_timeout: float = 15.0) -> bytes | None:
    """The retained message on `topic`, or None when none arrives within `timeout` of connecting.
    An unreachable broker raises PublishError."""
    from .mqtt import Connected, Message

    link = _link(b, f"reader-{os.getpid()}", [(topic, 1)]).start()
    try:
        _wait(link, connect_timeout, lambda i: isinstance(i, Connected))
        try:
            msg = _wait(link, timeout, lambda i: isinstance(i, Message) and i.topic == topic)
        except PublishError:
            return None
        return msg.payload or None
    finally:
        link.stop()


def publish_config(site_id: str, path: str | Path, b: BrokerArgs) -> Site:
    if not valid_id(site_id):
        raise DownwireError(f"{site_id!r} is not a valid site id")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DownwireError(f"{path}: cannot read: {exc}") from None
    site = validate_site_config(site_id, text, str(path))
    publish_retained(b, topics.config(site_id), text.encode("utf-8"))
    return site


def publish_appointments(site_id: str, path: str | Path, b: BrokerArgs, site_config: str | Path | None = None) -> int:
    """Validate against the site configuration (a local file, or the one published retained on
    the broker) and publish. Returns the number of appointments."""
    if not valid_id(site_id):
        raise DownwireError(f"{site_id!r} is not a valid site id")
    if site_config is not None:
        try:
            cfg_text = Path(site_config).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise DownwireError(f"{site_config}: cannot read: {exc}") from None
        site = validate_site_config(site_id, cfg_text, str(site_config))
    else:
        raw = fetch_retained(b, topics.config(site_id))
        if raw is None:
            raise DownwireError(f"no configuration of site {site_id!r} is published on the broker; "
                                "publish it first or give --site-config FILE")
        site = validate_site_config(site_id, raw.decode("utf-8", "replace"), f"{topics.config(site_id)} (retained)")
    p = Path(path)
    fmt = "json" if p.suffix.lower() == ".json" else "csv" if p.suffix.lower() == ".csv" else "auto"
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DownwireError(f"{path}: cannot read: {exc}") from None
    items = validate_appointments(site, text, fmt, str(path))
    publish_retained(b, topics.appointments(site_id), appointments_bytes(items))
    return len(items)


# --- the device's keeper ---------------------------------------------------------------------------

class DownwireKeeper:
    """Keeps the last good copy of the site configuration and the appointment list on disk."""

    def __init__(self, site_id: str, site_config_path: str | Path, appointments_path: str | Path) -> None:
        self.site_id = site_id
        self.config_path = Path(site_config_path)
        self.appointments_path = Path(appointments_path)
        self.refused = 0
        self.last_error: str | None = None
        self._summary: dict[str, Any] = {}
        self._summary_sig: tuple | None = None

    @property
    def topics(self) -> list[str]:
        return [topics.config(self.site_id), topics.appointments(self.site_id)]

    def handle(self, topic: str, payload: bytes) -> str:
        """'written', 'unchanged', 'ignored' (empty: a retained message cleared) or 'refused'."""
        if not payload:
            return "ignored"
        try:
            if topic == topics.config(self.site_id):
                return self._config(payload)
            if topic == topics.appointments(self.site_id):
                return self._appointments(payload)
            return "ignored"
        except DownwireError as exc:
            self.refused += 1
            self.last_error = str(exc)
            log.error("down the wire: refused %s: %s", topic, exc)
            return "refused"

    def _config(self, payload: bytes) -> str:
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            raise DownwireError("site configuration is not UTF-8 text") from None
        validate_site_config(self.site_id, text, topics.config(self.site_id))
        if read_bytes(self.config_path) == payload:
            return "unchanged"
        atomic_write(self.config_path, payload)
        log.info("down the wire: new site configuration written to %s", self.config_path)
        return "written"

    def current_site(self) -> Site | None:
        raw = read_bytes(self.config_path)
        if raw is None:
            return None
        try:
            return validate_site_config(self.site_id, raw.decode("utf-8"), str(self.config_path))
        except (DownwireError, UnicodeDecodeError):
            return None

    def _appointments(self, payload: bytes) -> str:
        items = check_appointments_payload(payload, self.current_site())
        data = appointments_bytes(items)
        if read_bytes(self.appointments_path) == data:
            return "unchanged"
        atomic_write(self.appointments_path, data)
        log.info("down the wire: %d appointments written to %s", len(items), self.appointments_path)
        return "written"

    def summary(self) -> dict[str, Any]:
        """What the device holds now (for its status message); re-read only when a file changed."""
        sig = tuple(_stat_sig(p) for p in (self.config_path, self.appointments_path))
        if self._summary_sig != sig or not self._summary:
            cfg = read_bytes(self.config_path)
            appts = read_bytes(self.appointments_path)
            count = None
            if appts is not None:
                try:
                    doc = json.loads(appts)
                    count = len(doc) if isinstance(doc, list) else None
                except ValueError:
                    count = None
            self._summary = {"site_config_sha256": digest(cfg), "appointments_sha256": digest(appts),
                             "appointments": count}
            self._summary_sig = sig
        return dict(self._summary, downwire_refused=self.refused)


def _stat_sig(path: Path) -> tuple | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)

"""Mosquitto configuration of the site and central brokers, rendered from systemd/mosquitto/*.in.

Pure functions (text in, text out) used by provisioning and by the tests, which run the real
broker on what these return. Password-file entries are written in Mosquitto 2's own format
(`user:$7$<iterations>$<base64 salt>$<base64 PBKDF2-HMAC-SHA512>`), the same bytes
`mosquitto_passwd` writes, without needing the tool on the provisioning machine.

Topic rights (see systemd/README-mqtt.md for the whole model):
    site broker   user = device id; the hub reads commands and publishes state, calls, replies;
                  every other device publishes only its own command topic, availability, status.
    central       user = "<site>.<device>" for devices (own events/status/availability; reads own
                  ack, the site's config and appointments); `ingest` alone writes acks; `publisher`
                  alone writes config and appointments; "<site>.bridge", the site broker's bridge,
                  writes the site's follow snapshot and bridge state and reads its cancels; `web`
                  (the web service) reads every site's follow snapshot and bridge state and writes
                  cancels.

The bridge (render_site_bridge_conf, systemd/mosquitto/site-bridge.conf.in): the site broker itself
connects to the central broker's devices' listener, over TLS with the CA the devices trust, and
carries pp/<site>/follow out and pp/<site>/follow/cancel in (core/follow.py). Mosquitto has no
password file for a bridge: its password is in the site broker's configuration, which is therefore a
secret when it has a bridge.

Sessions (bus.topics.client_id): every listener a device can reach uses the user name as the
client id (`use_username_as_clientid`), so whatever client id a device sends, it can only ever
replace its own session. The central services connect on a listener of their own, with a password
file that holds only their users, so no device can log in there; so does the site's hub (its main
and its staff link, hub/service.py), on a loopback listener whose password file holds only the hub.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from bus import topics
from bus.live import BROKER_MAX_PACKET
from core import resources
from core.config import BRIDGE_DEVICE_ID
from core.events import valid_id
from runtime.files import atomic_write

TEMPLATE_DIR = resources.template("mosquitto")
PBKDF2_ITERATIONS = 101  # mosquitto_passwd's default in 2.0
SALT_BYTES = 12
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_TLS_BLOCK = re.compile(r"^# --- tls ---\n.*?^# --- end tls ---\n?", re.S | re.M)


class BrokerConfError(ValueError):
    pass


def template(name: str) -> str:
    return (TEMPLATE_DIR / name).read_text(encoding="utf-8")


def render(text: str, **values: object) -> str:
    """Fill {name} placeholders; a placeholder without a value is an error, never left in."""
    missing = sorted({m for m in _PLACEHOLDER.findall(text) if m not in values})
    if missing:
        raise BrokerConfError(f"no value for placeholder(s) {', '.join(missing)}")
    for key, value in values.items():
        s = str(value)
        if "\n" in s or "\r" in s:
            raise BrokerConfError(f"{key}: a value cannot span lines")
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), text)


def _path(p: str | Path) -> str:
    s = str(p)
    if not s or any(c.isspace() for c in s):
        raise BrokerConfError(f"{s!r}: paths in a Mosquitto configuration cannot be empty or hold spaces")
    return s


@dataclass(frozen=True)
class TlsFiles:
    cafile: str
    certfile: str
    keyfile: str


# --- broker configurations -------------------------------------------------------------------------

#: The central user of a site broker's bridge is "<site>.bridge" (core.config reserves the id).
BRIDGE_ID = BRIDGE_DEVICE_ID
#: The web service's user on the central broker's services' listener (the follow pages).
WEB_USER = "web"
#: Where a bridge finds the system's trusted CAs when no CA file is given (Debian's hashed folder).
SYSTEM_CAPATH = "/etc/ssl/certs"


def bridge_username(site: str) -> str:
    """The user (and client id) of `site`'s bridge on the central broker: "<site>.bridge"."""
    return topics.central_username(site, BRIDGE_ID)


@dataclass(frozen=True)
class SiteBridge:
    """The site broker's bridge to the central broker. `tls`: the central broker is mqtts:// (its
    certificate is checked against `cafile`, or the system's CAs when None, and its host name);
    plain MQTT only for a test bench (provisioning's --insecure-central-link)."""
    site: str
    host: str
    port: int
    password: str
    tls: bool = True
    cafile: str | None = None


def _bridge_problem(b: SiteBridge) -> str | None:
    if not valid_id(b.site):
        return f"site id {b.site!r} is not a valid id"
    if not b.host or any(c.isspace() or c in "#:" for c in b.host):
        return f"{b.host!r} cannot be the central broker's host in a bridge"
    if not 1 <= int(b.port) <= 65535:
        return f"port {b.port} of the central broker is not a port"
    # Mosquitto splits a configuration line at blanks: a password with one would be cut short.
    if not b.password or any(c.isspace() for c in b.password) or b.password.startswith("#"):
        return "the bridge's password cannot be empty, hold blanks or start with #"
    return None


def render_site_bridge_conf(bridge: SiteBridge) -> str:
    """The bridge section of a site broker's configuration (appended to it by
    render_site_broker_conf): pp/<site>/follow out, retained, QoS 1; pp/<site>/follow/cancel in;
    the bridge's state "1"/"0" on bus.topics.bridge_state(site) of the central broker."""
    problem = _bridge_problem(bridge)
    if problem:
        raise BrokerConfError(f"bridge: {problem}")
    site = bridge.site
    follow, cancel = topics.follow(site), topics.follow_cancel(site)
    prefix = follow.rsplit("/", 1)[0] + "/"
    if not cancel.startswith(prefix):  # pragma: no cover — bus.topics puts both under pp/<site>/
        raise BrokerConfError(f"bridge: {cancel!r} is not under {prefix!r}")
    user = bridge_username(site)
    text = template("site-bridge.conf.in")
    values: dict[str, object] = dict(
        address=f"{bridge.host}:{int(bridge.port)}", username=user, password=bridge.password,
        local_clientid=f"local.{user}", notification_topic=topics.bridge_state(site),
        prefix=prefix, follow=follow[len(prefix):], cancel=cancel[len(prefix):])
    if bridge.tls:
        values["ca_option"] = (f"bridge_cafile {_path(bridge.cafile)}" if bridge.cafile is not None
                               else f"bridge_capath {SYSTEM_CAPATH}")
    else:
        text = _TLS_BLOCK.sub("", text)
    return render(text, **values)

#: The hub's own listener on the site broker, on the hub's loopback (site_hub_url).
SITE_HUB_PORT = 1884


def site_hub_url(hub_port: int = SITE_HUB_PORT) -> str:
    """Where the hub connects to its site broker: its own listener, never the devices'."""
    return f"mqtt://127.0.0.1:{int(hub_port)}"


def render_site_broker_conf(*, data_dir: str | Path, password_file: str | Path, hub_password_file: str | Path,
                            acl_file: str | Path, port: int = 1883, bind_address: str = "0.0.0.0",
                            hub_port: int = SITE_HUB_PORT, user: str = "mosquitto",
                            bridge: SiteBridge | None = None) -> str:
    """Two listeners: `port` for the site's devices (users in `password_file`), and `hub_port` on
    the loopback for the hub alone (its user in `hub_password_file`); with `bridge`, the bridge to
    the central broker after them (render_site_bridge_conf: the text then holds its password)."""
    if Path(_path(password_file)).resolve() == Path(_path(hub_password_file)).resolve():
        raise BrokerConfError("the devices and the hub need separate password files "
                              "(a device must not be able to log in on the hub's listener)")
    if int(port) == int(hub_port):
        raise BrokerConfError(f"the devices' and the hub's listener cannot share port {port}")
    text = render(template("site-broker.conf.in"), port=int(port), bind_address=bind_address, user=user,
                  dir=_path(data_dir), password_file=_path(password_file), acl_file=_path(acl_file),
                  hub_password_file=_path(hub_password_file), hub_port=int(hub_port),
                  max_packet_size=BROKER_MAX_PACKET)
    return text if bridge is None else text + render_site_bridge_conf(bridge)


def render_central_broker_conf(*, data_dir: str | Path, password_file: str | Path,
                               service_password_file: str | Path, acl_file: str | Path, tls: TlsFiles | None,
                               port: int = 1883, bind_address: str = "127.0.0.1", device_port: int = 8883,
                               device_bind_address: str = "0.0.0.0", require_certificate: bool = False,
                               user: str = "mosquitto") -> str:
    """Two listeners: `port` for the ingest and the publisher (users in `service_password_file`),
    `device_port` for the devices (users in `password_file`), TLS with `tls`. `tls=None` makes the
    device listener plain MQTT: tests and the loopback-only demo, never production."""
    if Path(_path(password_file)).resolve() == Path(_path(service_password_file)).resolve():
        raise BrokerConfError("the devices and the central services need separate password files "
                              "(a device must not be able to log in on the services' listener)")
    text = template("central-broker.conf.in")
    values: dict[str, object] = dict(port=int(port), bind_address=bind_address, user=user, dir=_path(data_dir),
                                     password_file=_path(password_file),
                                     service_password_file=_path(service_password_file),
                                     acl_file=_path(acl_file), device_port=int(device_port),
                                     device_bind_address=device_bind_address)
    if tls is None:
        text = _TLS_BLOCK.sub("", text)
    else:
        values.update(cafile=_path(tls.cafile), certfile=_path(tls.certfile), keyfile=_path(tls.keyfile),
                      require_certificate="true" if require_certificate else "false")
    return render(text, **values)


# --- ACL files -------------------------------------------------------------------------------------

def _check_id(kind: str, value: str) -> None:
    if not valid_id(value):
        raise BrokerConfError(f"{kind} id {value!r} is not a valid id")


def render_site_acl(site: str, devices: Mapping[str, str]) -> str:
    """ACL of a site broker. `devices`: device id → role (as in the site TOML's [[devices]])."""
    _check_id("site", site)
    out = [render(template("site-acl-header.in"), site=site)]
    hub = template("site-acl-hub.in")
    other = template("site-acl-device.in")
    for dev, role in sorted(devices.items()):
        _check_id("device", dev)
        out.append(render(hub if role == "hub" else other, site=site, device=dev, role=role))
    return "".join(out)


def render_central_acl(sites: Mapping[str, Iterable[str]], *, ingest_user: str = "ingest",
                       publisher_user: str = "publisher", web_user: str = WEB_USER,
                       bridges: Iterable[str] = ()) -> str:
    """ACL of the central broker. `sites`: site id → its device ids; `bridges`: the sites whose
    site broker's bridge may log in ("<site>.bridge": that site's follow topics, nothing else)."""
    services = (ingest_user, publisher_user, web_user)
    for u in services:
        _check_username(u)
    if len(set(services)) != len(services):
        raise BrokerConfError(f"the services need a user each, not {', '.join(services)}")
    out = [render(template("central-acl-header.in"), ingest_user=ingest_user, publisher_user=publisher_user,
                  web_user=web_user)]
    dev_t = template("central-acl-device.in")
    bridge_t = template("central-acl-bridge.in")
    bridge_sites = set(bridges)
    seen: dict[str, tuple[str, str]] = {}

    def claim(site: str, dev: str, name: str) -> None:
        if name in seen or name in services:
            # Two blocks for one user would give one device the rights of another.
            raise BrokerConfError(f"site {site!r} device {dev!r}: user name {name!r} is taken")
        seen[name] = (site, dev)

    for site in sorted(set(sites) | bridge_sites):
        _check_id("site", site)
        for dev in sorted(sites.get(site, ())):
            _check_id("device", dev)
            if dev == BRIDGE_ID:
                raise BrokerConfError(f"site {site!r}: {BRIDGE_ID!r} is no device's id: it is the site broker's "
                                      "bridge (give the site in `bridges`)")
            name = topics.central_username(site, dev)
            claim(site, dev, name)
            out.append(render(dev_t, site=site, device=dev, username=name))
        if site in bridge_sites:
            name = bridge_username(site)
            claim(site, BRIDGE_ID, name)
            out.append(render(bridge_t, site=site, username=name))
    return "".join(out)


# --- password files --------------------------------------------------------------------------------

def _check_username(user: str) -> None:
    if not user or ":" in user or any(c.isspace() for c in user) or len(user) > 200:
        raise BrokerConfError(f"user name {user!r} cannot be used in a password file")


def password_entry(username: str, password: str, *, iterations: int = PBKDF2_ITERATIONS,
                   salt: bytes | None = None) -> str:
    """One password-file line (without newline), as `mosquitto_passwd -b` writes it."""
    _check_username(username)
    if not password or "\n" in password:
        raise BrokerConfError("a password cannot be empty or hold a newline")
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    dk = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations, 64)
    return f"{username}:$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(dk).decode()}"


def verify_password_entry(line: str, password: str) -> bool:
    try:
        user, rest = line.strip().split(":", 1)
        _, kind, iterations, salt, digest = rest.split("$")
        if kind != "7":
            return False
        dk = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), base64.b64decode(salt), int(iterations), 64)
        return hmac.compare_digest(base64.b64encode(dk).decode(), digest)
    except (ValueError, TypeError):
        return False


def render_password_file(users: Mapping[str, str]) -> str:
    return "".join(password_entry(u, p) + "\n" for u, p in sorted(users.items()))


def write_password_file(path: str | Path, users: Mapping[str, str], *, mode: int = 0o600) -> Path:
    """Write (replace) a password file atomically, readable only by its owner."""
    return atomic_write(path, render_password_file(users).encode("utf-8"), mode=mode)


def set_password(path: str | Path, username: str, password: str) -> Path:
    """Add or replace one user's entry, keeping the others."""
    path = Path(path)
    keep = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and line.split(":", 1)[0] != username:
                keep.append(line)
    keep.append(password_entry(username, password))
    return atomic_write(path, ("\n".join(keep) + "\n").encode("utf-8"), mode=0o600)


def central_users(sites: Mapping[str, Iterable[str]]) -> list[str]:
    return [topics.central_username(s, d) for s, devs in sorted(sites.items()) for d in sorted(devs)]

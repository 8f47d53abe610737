"""The central broker's device credentials: Mosquitto's password file of the devices' listener and
the ACL made from it (`palvelupiste central devices add|list|remove`).

The password file is the list of devices: one line per device, "<site>.<device>:$7$…" — exactly the
line device provisioning writes to /etc/palvelupiste/central-broker.entry (a PBKDF2 hash, safe to
send). A hub's entry file has a second line, "<site>.bridge:$7$…": the site broker's bridge (the
follow pages, core/follow.py), which gets the bridge's rights in the ACL, never a device's ("bridge"
is no device's id: core.config refuses it). The ACL is never edited: it is rendered again from that list by
bus.brokerconf.render_central_acl() (systemd/mosquitto/central-acl-*.in, the same blocks the tests
and the demo run), so a device in the list has exactly its own topics and a device out of it has
none. Both files are replaced atomically (runtime.files.atomic_write) under a lock, keeping their
owner (Mosquitto reads them as the user `mosquitto`); on adding, the ACL is written before the
password, on removing the password goes first, so that no device ever has a login without its
rights or rights without being listed. Then the broker is told to read them again (`reload`, by
default `systemctl reload mosquitto.service`, which sends SIGHUP: Mosquitto rereads both files and
disconnects a client whose user is gone).
"""
from __future__ import annotations

import base64
import binascii
import fcntl
import os
import pwd
import shlex
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bus import brokerconf, topics
from core.events import valid_id
from runtime.files import atomic_write

#: the user Mosquitto drops to; a file made here for the first time by root is given to it
MOSQUITTO_USER = "mosquitto"


class CredentialError(ValueError):
    """A device entry or argument that cannot be used; the message names it."""


@dataclass(frozen=True)
class DeviceEntry:
    site: str
    device: str
    line: str          # the whole password-file line, "<site>.<device>:$7$…"

    @property
    def user(self) -> str:
        return topics.central_username(self.site, self.device)

    @property
    def is_bridge(self) -> bool:
        """The site broker's bridge of `site`, not a device."""
        return self.device == brokerconf.BRIDGE_ID


def _check_hash(user: str, rest: str) -> None:
    parts = rest.split("$")
    # "$7$<iterations>$<salt>$<hash>" (mosquitto_passwd 2.x, brokerconf.password_entry) or "$6$<salt>$<hash>"
    if len(parts) == 5 and parts[0] == "" and parts[1] == "7":
        iterations, salt, digest = parts[2], parts[3], parts[4]
        if not iterations.isdigit() or int(iterations) < 1:
            raise CredentialError(f"{user}: the hash's iteration count {iterations!r} is not a positive number")
    elif len(parts) == 4 and parts[0] == "" and parts[1] == "6":
        salt, digest = parts[2], parts[3]
    else:
        raise CredentialError(f"{user}: not a Mosquitto password hash (expected $7$…, as device provisioning "
                              "writes it to central-broker.entry)")
    for what, value in (("salt", salt), ("hash", digest)):
        try:
            if not base64.b64decode(value, validate=True):
                raise ValueError
        except (ValueError, binascii.Error):
            raise CredentialError(f"{user}: the {what} of the hash is not base64") from None


def parse_entry(line: str) -> DeviceEntry:
    """One password-file line of a device, checked: the user name is "<site>.<device>" with valid ids
    and the rest a Mosquitto hash. Never holds a password in the clear."""
    line = line.strip()
    user, sep, rest = line.partition(":")
    if not sep:
        raise CredentialError("not a password-file line (user:hash): "
                              f"{user[:40]!r}{'…' if len(user) > 40 else ''}")
    site, dot, device = user.partition(topics.CENTRAL_USER_SEP)
    if not dot or not valid_id(site) or not valid_id(device):
        raise CredentialError(f"user name {user[:80]!r} is not a device's central user name \"<site>.<device>\"")
    _check_hash(user, rest)
    return DeviceEntry(site, device, f"{user}:{rest}")


def read_entries(text: str, source: str) -> list[DeviceEntry]:
    """Every device line of a file's text (blank lines and # comments skipped); CredentialError
    names the source and the line."""
    out = []
    for n, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        try:
            out.append(parse_entry(raw))
        except CredentialError as exc:
            raise CredentialError(f"{source} line {n}: {exc}") from None
    if not out:
        raise CredentialError(f"{source}: no device entry in it")
    return out


def entry_for(site: str, device: str, password: str) -> DeviceEntry:
    """The entry of a device whose password is known (--site/--device/--password-file)."""
    for kind, value in (("--site", site), ("--device", device)):
        if not valid_id(value):
            raise CredentialError(f"{kind} {value!r}: must be a short id of letters, digits, '-' or '_'")
    try:
        line = brokerconf.password_entry(topics.central_username(site, device), password)
    except brokerconf.BrokerConfError as exc:
        raise CredentialError(str(exc)) from None
    return DeviceEntry(site, device, line)


@dataclass
class Outcome:
    added: list[str]
    updated: list[str]
    unchanged: list[str]
    removed: list[str]
    missing: list[str]

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


class DeviceRegistry:
    """The devices' password file and the ACL rendered from it."""

    def __init__(self, password_file: str | Path, acl_file: str | Path, *,
                 ingest_user: str = "ingest", publisher_user: str = "publisher",
                 web_user: str = brokerconf.WEB_USER) -> None:
        self.password_file = Path(password_file)
        self.acl_file = Path(acl_file)
        self.ingest_user, self.publisher_user, self.web_user = ingest_user, publisher_user, web_user

    # --- reading ---------------------------------------------------------------------------------

    def _lines(self) -> list[str]:
        try:
            text = self.password_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [line for line in text.splitlines() if line.strip()]

    def devices(self) -> list[DeviceEntry]:
        """The devices listed, in the file's order (lines that are no device's are left out: see `others`)."""
        out = []
        for line in self._lines():
            try:
                out.append(parse_entry(line))
            except CredentialError:
                continue
        return out

    def others(self) -> list[str]:
        """User names of lines that are no device's (someone edited the file by hand): they can log in
        but the ACL grants them nothing."""
        out = []
        for line in self._lines():
            try:
                parse_entry(line)
            except CredentialError:
                out.append(line.split(":", 1)[0])
        return out

    def render_acl(self, devices: Iterable[DeviceEntry]) -> str:
        """The ACL of these entries: a device block for each device, the bridge block for each
        "<site>.bridge"."""
        sites: dict[str, list[str]] = {}
        bridges: list[str] = []
        for e in devices:
            if e.is_bridge:
                bridges.append(e.site)
            else:
                sites.setdefault(e.site, []).append(e.device)
        return brokerconf.render_central_acl(sites, ingest_user=self.ingest_user, publisher_user=self.publisher_user,
                                             web_user=self.web_user, bridges=bridges)

    # --- writing ---------------------------------------------------------------------------------

    @contextmanager
    def locked(self) -> Iterator[None]:
        """One writer at a time (two technicians, or a script and a technician): a lock on the
        password file's folder, which leaves nothing behind."""
        self.password_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.password_file.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _write(self, path: Path, text: str) -> None:
        """Atomically, 0600, keeping the old file's owner (root writes, Mosquitto reads)."""
        try:
            st = path.stat()
            owner: tuple[int, int] | None = (st.st_uid, st.st_gid)
        except FileNotFoundError:
            owner = None
        atomic_write(path, text.encode("utf-8"), mode=0o600)
        if os.geteuid() != 0:
            return
        if owner is None:
            try:
                pw = pwd.getpwnam(MOSQUITTO_USER)
                owner = (pw.pw_uid, pw.pw_gid)
            except KeyError:
                return
        if (path.stat().st_uid, path.stat().st_gid) != owner:
            os.chown(path, *owner)

    def _save(self, lines: list[str], devices: list[DeviceEntry], *, password_first: bool) -> None:
        acl = self.render_acl(devices)
        passwd = "".join(line + "\n" for line in lines)
        steps = [(self.password_file, passwd), (self.acl_file, acl)]
        for path, text in (steps if password_first else reversed(steps)):
            self._write(path, text)

    def sync_acl(self) -> bool:
        """Render the ACL from the password file again; True when it changed."""
        with self.locked():
            acl = self.render_acl(self.devices())
            try:
                if self.acl_file.read_text(encoding="utf-8") == acl:
                    return False
            except FileNotFoundError:
                pass
            self._write(self.acl_file, acl)
            return True

    def add(self, entries: Sequence[DeviceEntry]) -> Outcome:
        """Add the devices, or replace the hash of one already listed (a device provisioned again)."""
        out = Outcome([], [], [], [], [])
        seen: dict[str, DeviceEntry] = {}
        for e in entries:
            if e.user in seen and seen[e.user].line != e.line:
                raise CredentialError(f"{e.user}: given twice with different hashes")
            seen[e.user] = e
        with self.locked():
            lines = self._lines()
            index = {line.split(":", 1)[0]: i for i, line in enumerate(lines)}
            for e in seen.values():
                if e.user in index:
                    if lines[index[e.user]] == e.line:
                        out.unchanged.append(e.user)
                        continue
                    lines[index[e.user]] = e.line
                    out.updated.append(e.user)
                else:
                    index[e.user] = len(lines)
                    lines.append(e.line)
                    out.added.append(e.user)
            if out.changed or not self.acl_file.exists():
                devices = [parse_entry(line) for line in lines if _is_device_line(line)]
                self._save(lines, devices, password_first=False)
        return out

    def remove(self, users: Sequence[str]) -> Outcome:
        out = Outcome([], [], [], [], [])
        with self.locked():
            lines = self._lines()
            names = [line.split(":", 1)[0] for line in lines]
            gone = set()
            for u in dict.fromkeys(users):
                if u in names:
                    gone.add(u)
                    out.removed.append(u)
                else:
                    out.missing.append(u)
            if gone:
                lines = [line for line, n in zip(lines, names) if n not in gone]
                devices = [parse_entry(line) for line in lines if _is_device_line(line)]
                self._save(lines, devices, password_first=True)
        return out


def _is_device_line(line: str) -> bool:
    try:
        parse_entry(line)
        return True
    except CredentialError:
        return False


def device_user(text: str) -> str:
    """A device named on the command line as "<site>.<device>" (checked)."""
    site, dot, device = text.partition(topics.CENTRAL_USER_SEP)
    if not dot or not valid_id(site) or not valid_id(device):
        raise CredentialError(f"{text!r} is not a device's central user name \"<site>.<device>\"")
    return topics.central_username(site, device)


def reload_broker(command: Sequence[str], timeout: float = 30.0) -> str | None:
    """Run the reload command; None when it worked, else what went wrong."""
    try:
        r = subprocess.run(list(command), capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        return f"{shlex.join(command)}: no such command"
    except subprocess.TimeoutExpired:
        return f"{shlex.join(command)}: no answer within {timeout:g} s"
    except OSError as exc:
        return f"{shlex.join(command)}: {exc.strerror or exc}"
    if r.returncode != 0:
        return f"{shlex.join(command)} failed ({r.returncode}): {(r.stderr or r.stdout).strip()[:300]}"
    return None

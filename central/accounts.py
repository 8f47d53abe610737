"""The web service's accounts, sessions and login throttle, in the central database.

Roles: `national` sees everything; `regional` its region's sites (scope = a region code);
`site` its site (scope = the site id); `technician` the fleet view only. Passwords are hashed
with Argon2id (argon2-cffi's defaults); a session is a random token in a cookie, stored only as
its SHA-256, with its own CSRF token; five failed logins for one user name, or twenty from one
address, within 15 minutes refuse further attempts until the window has passed.

Nothing about a citizen is here: the accounts are the staff who read the reports.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.events import now_ms, valid_id
from core.national import REGIONS

ROLES = ("national", "regional", "site", "technician")
#: a session ends after this long without a request
SESSION_IDLE_MS = 8 * 3600_000
THROTTLE_WINDOW_MS = 15 * 60_000
MAX_FAILURES_PER_NAME = 5
MAX_FAILURES_PER_ADDRESS = 20
MIN_PASSWORD = 12

_hasher = PasswordHasher()
#: verified when the user name does not exist, so that a wrong name costs as long as a wrong password
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """A refused account change; the message says why."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    scope: str | None = None  # the region (regional) or the site (site team)

    def sees_reports(self) -> bool:
        return self.role in ("national", "regional", "site")

    def sees_fleet(self) -> bool:
        return self.role in ("national", "technician")

    def sees_site(self, site: str, region: str | None) -> bool:
        if self.role == "national":
            return True
        if self.role == "regional":
            return region is not None and region == self.scope
        return self.role == "site" and site == self.scope

    def sees_region(self, region: str) -> bool:
        return self.role == "national" or (self.role == "regional" and region == self.scope)

    def sees_nation(self) -> bool:
        """The national and per-authority (all sites) figures."""
        return self.role == "national"


def _check(name: str, role: str, scope: str | None) -> None:
    if not isinstance(name, str) or not 2 <= len(name) <= 64 or not all(c.isalnum() or c in "._-@" for c in name):
        raise AccountError("a user name is 2-64 letters, digits or . _ - @")
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    if role == "regional" and scope not in REGIONS:
        raise AccountError(f"a regional user needs --scope REGION ({', '.join(REGIONS)})")
    if role == "site" and not (isinstance(scope, str) and valid_id(scope)):
        raise AccountError("a site team user needs --scope SITE (the site's id)")
    if role in ("national", "technician") and scope:
        raise AccountError(f"a {role} user has no scope")


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password has at least {MIN_PASSWORD} characters")


def add_user(conn: psycopg.Connection, name: str, role: str, password: str, scope: str | None = None) -> User:
    _check(name, role, scope)
    _check_password(password)
    when = now_ms()
    try:
        conn.execute("INSERT INTO users(name, role, scope, pw_hash, created_ms, pw_changed_ms) "
                     "VALUES (%s, %s, %s, %s, %s, %s)", (name, role, scope, _hasher.hash(password), when, when))
    except psycopg.errors.UniqueViolation:
        raise AccountError(f"user {name!r} exists (reset sets a new password)") from None
    return User(name, role, scope)


def reset_password(conn: psycopg.Connection, name: str, password: str) -> None:
    """A new password; every session of the user ends."""
    _check_password(password)
    with conn.transaction():
        n = conn.execute("UPDATE users SET pw_hash = %s, pw_changed_ms = %s WHERE name = %s",
                         (_hasher.hash(password), now_ms(), name)).rowcount
        if not n:
            raise AccountError(f"no user {name!r}")
        conn.execute("DELETE FROM web_sessions WHERE name = %s", (name,))


def remove_user(conn: psycopg.Connection, name: str) -> None:
    if not conn.execute("DELETE FROM users WHERE name = %s", (name,)).rowcount:
        raise AccountError(f"no user {name!r}")


def list_users(conn: psycopg.Connection) -> list[dict[str, object]]:
    cur = conn.execute("SELECT name, role, scope, created_ms, pw_changed_ms FROM users ORDER BY name")
    return [dict(zip(("name", "role", "scope", "created_ms", "pw_changed_ms"), r)) for r in cur.fetchall()]


# --- logging in ---------------------------------------------------------------------------------

def throttled(conn: psycopg.Connection, name: str, address: str, now: int | None = None) -> bool:
    """Whether attempts for this name or from this address are refused for now."""
    since = (now_ms() if now is None else now) - THROTTLE_WINDOW_MS
    rows: dict[str, int] = dict(conn.execute(
        "SELECT key, count(*) FROM login_failures WHERE key = ANY(%s) AND ms > %s GROUP BY key",
        ([f"name:{name}", f"addr:{address}"], since)).fetchall())
    return bool(rows.get(f"name:{name}", 0) >= MAX_FAILURES_PER_NAME
                or rows.get(f"addr:{address}", 0) >= MAX_FAILURES_PER_ADDRESS)


def authenticate(conn: psycopg.Connection, name: str, password: str, address: str) -> User | None:
    """The user, when the password is theirs; a failure is counted for the name and the address."""
    now = now_ms()
    row = conn.execute("SELECT role, scope, pw_hash FROM users WHERE name = %s", (name,)).fetchone()
    try:
        ok = _hasher.verify(row[2] if row else _DUMMY_HASH, password) and row is not None
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or row is None:
        with conn.transaction():
            conn.execute("INSERT INTO login_failures(key, ms) VALUES (%s, %s), (%s, %s)",
                         (f"name:{name[:64]}", now, f"addr:{address}", now))
            conn.execute("DELETE FROM login_failures WHERE ms < %s", (now - THROTTLE_WINDOW_MS,))
        return None
    if _hasher.check_needs_rehash(row[2]):
        conn.execute("UPDATE users SET pw_hash = %s WHERE name = %s", (_hasher.hash(password), name))
    return User(name, row[0], row[1])


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(conn: psycopg.Connection, user: User) -> tuple[str, str]:
    """(session token for the cookie, CSRF token for the forms)."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    now = now_ms()
    conn.execute("INSERT INTO web_sessions(token_hash, name, csrf, created_ms, seen_ms) VALUES (%s,%s,%s,%s,%s)",
                 (_digest(token), user.name, csrf, now, now))
    return token, csrf


def session(conn: psycopg.Connection, token: str | None) -> tuple[User, str] | None:
    """The session's user and CSRF token; None when unknown or idle too long (then it is ended)."""
    if not token or len(token) > 100:
        return None
    now = now_ms()
    row = conn.execute(
        "UPDATE web_sessions s SET seen_ms = %s FROM users u WHERE s.token_hash = %s AND u.name = s.name "
        "AND s.seen_ms > %s RETURNING u.name, u.role, u.scope, s.csrf",
        (now, _digest(token), now - SESSION_IDLE_MS)).fetchone()
    if row is None:
        conn.execute("DELETE FROM web_sessions WHERE token_hash = %s", (_digest(token),))
        return None
    return User(row[0], row[1], row[2]), row[3]


def end_session(conn: psycopg.Connection, token: str | None) -> None:
    if token:
        conn.execute("DELETE FROM web_sessions WHERE token_hash = %s", (_digest(token),))

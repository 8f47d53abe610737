"""Fetching one iCalendar feed over HTTPS, with limits a broken or hostile server cannot pass.

- The whole fetch, from connecting to the last byte, takes at most `timeout_s`: a server that
  accepts and never answers, or trickles a byte a second, is cut off at the deadline.
- At most `max_bytes` are read: a larger answer (declared or not) is refused whole.
- TLS is verified against the system's CAs or the feed's own `ca_file`; only https:// URLs.
- `etag`: the last answer's ETag is sent back (If-None-Match); 304 means "unchanged".
- Redirects are not followed: the configuration should name the feed's real address.

Every failure is a `FetchError` whose `reason` is safe to show on the fleet view: the host, never
the URL's path or query (booking systems put access tokens there), never the answer's body.
"""
from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

USER_AGENT = "palvelupiste-bookings"


class FetchError(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class Fetched:
    body: bytes | None  # None: unchanged since the ETag sent
    etag: str | None


def _mb(n: int) -> str:
    return f"{round(n / 2**20, 1):g} MB"


def _context(ca_file: str = "") -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca_file or None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def fetch(url: str, *, timeout_s: float = 20.0, max_bytes: int = 10 * 1024 * 1024, ca_file: str = "",
          etag: str | None = None, clock: Callable[[], float] = time.monotonic) -> Fetched:
    u = urlsplit(url)
    if u.scheme != "https" or not u.hostname:
        raise FetchError("not an https:// URL")
    host = u.hostname
    deadline = clock() + timeout_s

    def left() -> float:
        remaining = float(deadline - clock())
        if remaining <= 0:
            raise FetchError(f"{host}: no complete answer within {timeout_s:g} s")
        return remaining

    path = (u.path or "/") + (f"?{u.query}" if u.query else "")
    headers = {"User-Agent": USER_AGENT, "Accept": "text/calendar, */*;q=0.5"}
    if etag:
        headers["If-None-Match"] = etag
    try:
        conn = http.client.HTTPSConnection(host, u.port or 443, timeout=left(), context=_context(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise FetchError(f"{host}: TLS set-up failed ({type(exc).__name__})") from None
    try:
        conn.request("GET", path, headers=headers)
        sock = conn.sock  # http.client lets go of it once the answer says the connection closes
        sock.settimeout(left())
        resp = conn.getresponse()
        if resp.status == 304 and etag:
            return Fetched(None, etag)
        if resp.status != 200:
            raise FetchError(f"{host}: HTTP {resp.status}" + (" (a redirect: configure the final address)"
                                                              if 300 <= resp.status < 400 else ""))
        declared = resp.getheader("Content-Length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise FetchError(f"{host}: the feed is {_mb(int(declared))}, over the {_mb(max_bytes)} limit")
        chunks: list[bytes] = []
        size = 0
        while True:
            sock.settimeout(left())
            chunk = resp.read1(65536) if hasattr(resp, "read1") else resp.read(65536)
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                raise FetchError(f"{host}: the feed is over the {_mb(max_bytes)} limit")
            chunks.append(chunk)
            left()
        return Fetched(b"".join(chunks), resp.getheader("ETag"))
    except FetchError:
        raise
    except ssl.SSLCertVerificationError as exc:
        raise FetchError(f"{host}: TLS certificate not trusted ({exc.verify_message})") from None
    except (socket.timeout, TimeoutError):
        raise FetchError(f"{host}: no complete answer within {timeout_s:g} s") from None
    except ssl.SSLError as exc:
        raise FetchError(f"{host}: TLS error ({exc.reason or type(exc).__name__})") from None
    except socket.gaierror:
        raise FetchError(f"{host}: the host name does not resolve") from None
    except ConnectionRefusedError:
        raise FetchError(f"{host}: connection refused") from None
    except (OSError, http.client.HTTPException) as exc:
        raise FetchError(f"{host}: {type(exc).__name__}") from None
    finally:
        conn.close()

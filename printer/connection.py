"""Printer connection URLs from the device config, and the link to the printer.

    usb:04b8:0e15[?in_ep=0x82&out_ep=0x01&timeout=5000]     vendor:product, hex
    serial:/dev/ttyUSB0[?baudrate=19200&timeout=1&bytesize=8&parity=N&stopbits=1&xonxoff=0&dsrdtr=1]
    tcp:192.168.1.50:9100[?timeout=10]        (IPv6: tcp:[fe80::1]:9100)
    file:/dev/usb/lp0

Every form also takes `status=off` for printers without a back channel: then nothing is
asked and the kiosk prints blind (PrinterStatus.UNCHECKED).

`PrinterLink` owns the python-escpos object (which writes) and answers status queries itself:
python-escpos's `_read()` waits its whole timeout on serial (it asks for 16 bytes), blocks up
to 60 s on TCP, and does not exist for `File` (opened write-only).
"""
from __future__ import annotations

import os
import re
import select
import socket
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qsl

from escpos import printer as escpos_printer
from escpos.exceptions import DeviceNotFoundError

FORMS = ("usb:VID:PID", "serial:/dev/ttyUSB0?baudrate=19200", "tcp:host:port", "file:/dev/usb/lp0")
_OPTIONS = {
    "usb": {"in_ep", "out_ep", "timeout", "status"},
    "serial": {"baudrate", "timeout", "bytesize", "parity", "stopbits", "xonxoff", "dsrdtr",
               "write_timeout", "status"},
    "tcp": {"timeout", "status"},
    "file": {"status"},
}
_BAUDRATES = {1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600}


@dataclass(frozen=True)
class ConnectionSpec:
    kind: str  # usb | serial | tcp | file
    url: str
    path: str | None = None  # serial device or file
    host: str | None = None
    port: int | None = None
    vendor_id: int | None = None
    product_id: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    status_queries: bool = True


def parse_connection_url(url: str) -> ConnectionSpec:
    if not isinstance(url, str) or ":" not in url:
        raise _bad(url, "no scheme")
    scheme, rest = url.split(":", 1)
    scheme = scheme.strip().lower()
    if scheme not in _OPTIONS:
        raise _bad(url, f"unknown kind {scheme!r}")
    target, _, query = rest.partition("?")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise _bad(url, "malformed options after '?'") from None
    opts: dict[str, str] = {}
    for k, v in pairs:
        if k not in _OPTIONS[scheme]:
            raise _bad(url, f"unknown option {k!r} (allowed: {', '.join(sorted(_OPTIONS[scheme]))})")
        if k in opts:
            raise _bad(url, f"option {k!r} given twice")
        opts[k] = v
    status = _bool(url, "status", opts.pop("status", "on"))
    if scheme == "usb":
        m = re.fullmatch(r"(?:0x)?([0-9a-fA-F]{1,4}):(?:0x)?([0-9a-fA-F]{1,4})", target)
        if not m:
            raise _bad(url, "expected usb:VID:PID in hex, e.g. usb:04b8:0e15")
        o: dict[str, Any] = {}
        for k in ("in_ep", "out_ep"):
            if k in opts:
                o[k] = _int(url, k, opts[k], 0x01, 0xFF)
        if "timeout" in opts:  # milliseconds, as pyusb takes it
            o["timeout"] = _int(url, "timeout", opts["timeout"], 0, 600_000)
        return ConnectionSpec("usb", url, vendor_id=int(m[1], 16), product_id=int(m[2], 16),
                              options=o, status_queries=status)
    if scheme == "serial":
        if not target.startswith("/") or target.endswith("/"):
            raise _bad(url, "expected an absolute device path, e.g. serial:/dev/ttyUSB0")
        o = {}
        if "baudrate" in opts:
            o["baudrate"] = _int(url, "baudrate", opts["baudrate"], 1, 10**7)
            if o["baudrate"] not in _BAUDRATES:
                raise _bad(url, f"baudrate {o['baudrate']} is not a standard rate")
        if "bytesize" in opts:
            o["bytesize"] = _int(url, "bytesize", opts["bytesize"], 5, 8)
        if "stopbits" in opts:
            if opts["stopbits"] not in ("1", "1.5", "2"):
                raise _bad(url, "stopbits must be 1, 1.5 or 2")
            o["stopbits"] = float(opts["stopbits"]) if opts["stopbits"] == "1.5" \
                else int(opts["stopbits"])
        if "parity" in opts:
            if opts["parity"].upper() not in ("N", "E", "O", "M", "S"):
                raise _bad(url, "parity must be one of N E O M S")
            o["parity"] = opts["parity"].upper()
        for k in ("timeout", "write_timeout"):
            if k in opts:
                o[k] = _float(url, k, opts[k])
        for k in ("xonxoff", "dsrdtr"):
            if k in opts:
                o[k] = _bool(url, k, opts[k])
        return ConnectionSpec("serial", url, path=target, options=o, status_queries=status)
    if scheme == "tcp":
        m = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})", target)
        if not m:
            raise _bad(url, "expected tcp:host:port, e.g. tcp:192.168.1.50:9100")
        port = int(m[2])
        if not 1 <= port <= 65535:
            raise _bad(url, "port must be 1..65535")
        o = {"timeout": _float(url, "timeout", opts["timeout"])} if "timeout" in opts else {}
        return ConnectionSpec("tcp", url, host=m[1].strip("[]"), port=port, options=o,
                              status_queries=status)
    # file
    if not target.startswith("/") or target.endswith("/"):
        raise _bad(url, "expected an absolute path, e.g. file:/dev/usb/lp0")
    return ConnectionSpec("file", url, path=target, status_queries=status)


def create_escpos(spec: ConnectionSpec | str, profile: str | None = None):
    """The python-escpos printer object for a connection (not opened yet)."""
    if isinstance(spec, str):
        spec = parse_connection_url(spec)
    o = dict(spec.options)
    if spec.kind == "usb":
        if not escpos_printer.Usb.is_usable():
            # Fail at start-up with the fix, not later as a printer that is never there
            # (python-escpos would also raise from __del__ on every Usb object).
            raise RuntimeError(f"{spec.url}: USB printers need pyusb (pip install pyusb, "
                               "or python-escpos[usb]); or use file:/dev/usb/lp0")
        return escpos_printer.Usb(spec.vendor_id, spec.product_id, profile=profile, **o)
    if spec.kind == "serial":
        o.pop("write_timeout", None)  # python-escpos does not take it; PrinterLink sets it
        return escpos_printer.Serial(spec.path, profile=profile, **o)
    if spec.kind == "tcp":
        o.setdefault("timeout", 10)  # python-escpos defaults to 60 s: too long for a kiosk
        return escpos_printer.Network(spec.host, spec.port, profile=profile, **o)
    return escpos_printer.File(spec.path, profile=profile)


class LinkError(OSError):
    """The connection could not be opened, or broke while in use."""


class PrinterLink:
    """One open connection: write jobs, ask DLE EOT questions with a real timeout."""

    def __init__(self, spec: ConnectionSpec | str, profile: str | None = None,
                 write_timeout: float = 10.0):
        self.spec = parse_connection_url(spec) if isinstance(spec, str) else spec
        self.escpos = create_escpos(self.spec, profile)
        self.write_timeout = self.spec.options.get("write_timeout", write_timeout)
        self._open = False

    @property
    def is_open(self) -> bool:
        return self._open

    def open(self) -> None:
        if self._open:
            return
        try:
            if self.spec.kind == "file" and self.spec.status_queries:
                # usblp allows one open at a time, and python-escpos opens "wb": for the
                # back channel we open the device read-write ourselves and hand it over.
                self.escpos.device = _DeviceFile(self.spec.path)
            else:
                self.escpos.open()
        except (DeviceNotFoundError, OSError, RuntimeError, ValueError) as exc:
            self._forget()
            raise LinkError(f"{self.spec.url}: {exc}".strip()) from exc
        dev = self.escpos.device
        if dev is None:
            self._forget()
            raise LinkError(f"{self.spec.url}: could not open")
        if self.spec.kind == "serial":
            # Without it a printer holding flow control would block the kiosk's worker forever.
            dev.write_timeout = self.write_timeout
        self._open = True

    def close(self) -> None:
        try:
            if self.escpos._device:
                self.escpos.close()
        except Exception:
            pass  # closing a broken line may fail; it is forgotten either way
        self._forget()

    def _forget(self) -> None:
        # python-escpos sets _device to None after a failed open, and its `device` property
        # then never retries; False means "closed, open again on next use".
        self.escpos._device = False
        self._open = False

    def write(self, data: bytes) -> None:
        self.open()
        if self.spec.kind == "serial":
            # Scaled to the job: a ticket with image lines (Arabic, Chinese: ~16 KB) takes
            # ~8 s at 19200 baud, which is sending, not a printer holding flow control.
            dev = self.escpos.device
            baud = getattr(dev, "baudrate", 0) or 9600
            dev.write_timeout = max(self.write_timeout, 2 * 10 * len(data) / baud)
        try:
            # No flush() after it on serial: pyserial's flush is tcdrain(), which waits without
            # any timeout while the printer holds flow control. write_timeout bounds write().
            self.escpos._raw(data)
        except Exception as exc:  # serial/socket/usb errors all mean the same here
            self.close()
            raise LinkError(f"{self.spec.url}: write failed: {exc}") from exc

    def query(self, request: bytes, timeout: float,
              accept: Callable[[int], bool] = lambda b: True) -> int | None:
        """Send `request` and return the first answer byte `accept` takes, or None if none
        came within `timeout` seconds. Earlier unread bytes are discarded first, so a late
        answer to an earlier question is never taken for this one."""
        self.open()
        try:
            return _QUERY[self.spec.kind](self, request, timeout, accept)
        except LinkError:
            self.close()
            raise
        except Exception as exc:
            self.close()
            raise LinkError(f"{self.spec.url}: status query failed: {exc}") from exc

    # -- per transport --------------------------------------------------------------------
    def _query_serial(self, request, timeout, accept):
        dev = self.escpos.device
        dev.reset_input_buffer()
        dev.write(request)
        deadline = time.monotonic() + timeout
        saved = dev.timeout
        try:
            while (left := deadline - time.monotonic()) > 0:
                dev.timeout = left
                got = dev.read(1)  # returns at the first byte, unlike escpos' read(16)
                if got and accept(got[0]):
                    return got[0]
            return None
        finally:
            dev.timeout = saved

    def _query_tcp(self, request, timeout, accept):
        sock: socket.socket = self.escpos.device
        saved = sock.gettimeout()
        try:
            sock.setblocking(False)
            try:
                while sock.recv(64):
                    pass
            except (BlockingIOError, InterruptedError):
                pass
            sock.settimeout(saved)
            sock.sendall(request)
            deadline = time.monotonic() + timeout
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)
                try:
                    got = sock.recv(1)
                except (socket.timeout, TimeoutError):
                    return None
                if not got:
                    raise LinkError(f"{self.spec.url}: printer closed the connection")
                if accept(got[0]):
                    return got[0]
            return None
        finally:
            sock.settimeout(saved)

    def _query_usb(self, request, timeout, accept):
        import usb.core  # only present where USB printers are used (pyusb)

        p = self.escpos
        deadline = time.monotonic() + timeout
        try:  # drain a stale answer
            while p.device.read(p.in_ep, 64, 1):
                pass
        except usb.core.USBTimeoutError:
            pass
        p._raw(request)
        while (left := deadline - time.monotonic()) > 0:
            try:
                got = bytes(p.device.read(p.in_ep, 64, max(1, int(left * 1000))))
            except usb.core.USBTimeoutError:
                return None
            for b in got:
                if accept(b):
                    return b
        return None

    def _query_file(self, request, timeout, accept):
        dev: _DeviceFile = self.escpos.device
        dev.drain()
        dev.write(request)
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            got = dev.read(left)
            if got is None:
                return None
            if not got:
                return None  # a plain file: nobody will ever answer
            for b in got:
                if accept(b):
                    return b
        return None


class _DeviceFile:
    """A device file open for both directions (python-escpos's File writes through it)."""

    def __init__(self, path: str):
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:  # devices may take a job in pieces
            view = view[os.write(self.fd, view):]

    def read(self, timeout: float) -> bytes | None:
        """Bytes available within `timeout`; None if none came, b"" at end of file."""
        r, _, _ = select.select([self.fd], [], [], timeout)
        return os.read(self.fd, 64) if r else None

    def drain(self) -> None:
        while self.read(0):
            pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        os.close(self.fd)


_QUERY = {
    "serial": PrinterLink._query_serial,
    "tcp": PrinterLink._query_tcp,
    "usb": PrinterLink._query_usb,
    "file": PrinterLink._query_file,
}


def _bad(url: Any, why: str) -> ValueError:
    return ValueError(f"printer connection {url!r}: {why}; expected one of: {', '.join(FORMS)}")


def _int(url: str, key: str, value: str, lo: int, hi: int) -> int:
    try:
        n = int(value, 0)
    except ValueError:
        raise _bad(url, f"{key} must be an integer, not {value!r}") from None
    if not lo <= n <= hi:
        raise _bad(url, f"{key} must be {lo}..{hi}, not {n}")
    return n


def _float(url: str, key: str, value: str) -> float:
    try:
        x = float(value)
    except ValueError:
        raise _bad(url, f"{key} must be a number of seconds, not {value!r}") from None
    if not 0 < x <= 3600:
        raise _bad(url, f"{key} must be more than 0 and at most 3600 seconds")
    return x


def _bool(url: str, key: str, value: str) -> bool:
    v = value.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off"):
        return False
    raise _bad(url, f"{key} must be on/off, not {value!r}")

"""Connection URLs, the python-escpos objects they make, and status over TCP and file links."""
from __future__ import annotations

import socket
import threading

import pytest
from escpos import printer as ep

from printer.connection import PrinterLink, create_escpos
from printer.connection import parse_connection_url as parse
from printer.status import is_status_byte, query, status_byte


def test_usb():
    s = parse("usb:04b8:0e15")
    assert (s.kind, s.vendor_id, s.product_id, s.status_queries) == ("usb", 0x04B8, 0x0E15, True)
    s = parse("usb:0x0416:0x5011?in_ep=0x81&out_ep=3&timeout=2000&status=off")
    assert (s.vendor_id, s.product_id) == (0x0416, 0x5011)
    assert s.options == {"in_ep": 0x81, "out_ep": 3, "timeout": 2000} and not s.status_queries


def test_serial():
    s = parse("serial:/dev/ttyUSB0?baudrate=19200")
    assert (s.kind, s.path, s.options) == ("serial", "/dev/ttyUSB0", {"baudrate": 19200})
    s = parse("serial:/dev/ttyS1?baudrate=38400&timeout=0.5&bytesize=8&parity=e&stopbits=2"
              "&xonxoff=1&dsrdtr=false&write_timeout=5")
    assert s.options == {"baudrate": 38400, "timeout": 0.5, "bytesize": 8, "parity": "E",
                         "stopbits": 2, "xonxoff": True, "dsrdtr": False, "write_timeout": 5.0}
    assert parse("serial:/dev/ttyUSB0").options == {}


def test_tcp_and_file():
    s = parse("tcp:192.168.1.50:9100")
    assert (s.kind, s.host, s.port) == ("tcp", "192.168.1.50", 9100)
    assert parse("tcp:printer.kallio.local:9100?timeout=3").options == {"timeout": 3.0}
    assert parse("tcp:[fe80::1]:9100").host == "fe80::1"
    s = parse("file:/dev/usb/lp0")
    assert (s.kind, s.path, s.status_queries) == ("file", "/dev/usb/lp0", True)
    assert not parse("file:/tmp/tickets.bin?status=off").status_queries


@pytest.mark.parametrize("url, why", [
    ("", "no scheme"),
    ("/dev/usb/lp0", "no scheme"),
    ("lpt:/dev/lp0", "unknown kind"),
    ("usb:04b8", "usb:VID:PID"),
    ("usb:xyz:0e15", "usb:VID:PID"),
    ("usb:04b8:0e15:7", "usb:VID:PID"),
    ("usb:04b8:0e15?in_ep=0x100", "in_ep must be"),
    ("serial:ttyUSB0", "absolute device path"),
    ("serial:/dev/ttyUSB0?baudrate=fast", "baudrate must be an integer"),
    ("serial:/dev/ttyUSB0?baudrate=12345", "not a standard rate"),
    ("serial:/dev/ttyUSB0?baud=9600", "unknown option 'baud'"),
    ("serial:/dev/ttyUSB0?baudrate=9600&baudrate=19200", "given twice"),
    ("serial:/dev/ttyUSB0?parity=X", "parity"),
    ("serial:/dev/ttyUSB0?timeout=-1", "timeout"),
    ("serial:/dev/ttyUSB0?xonxoff=maybe", "xonxoff must be on/off"),
    ("serial:/dev/ttyUSB0?baudrate", "malformed options"),
    ("tcp:printer", "tcp:host:port"),
    ("tcp:printer:99999", "port must be"),
    ("tcp:printer:0", "port must be"),
    ("tcp:printer:9100?baudrate=9600", "unknown option"),
    ("file:lp0", "absolute path"),
    ("file:/dev/usb/", "absolute path"),
    ("file:/dev/usb/lp0?status=later", "status must be on/off"),
])
def test_bad_urls_say_what_is_wrong(url, why):
    with pytest.raises(ValueError, match=why) as e:
        parse(url)
    assert "expected one of" in str(e.value)


def test_escpos_objects():
    s = create_escpos("serial:/dev/ttyUSB0?baudrate=19200&timeout=0.5", "TM-T20II")
    assert isinstance(s, ep.Serial) and (s.devfile, s.baudrate, s.timeout) == (
        "/dev/ttyUSB0", 19200, 0.5)
    assert s.profile.profile_data["name"].startswith("TM-T20II")
    n = create_escpos("tcp:10.0.0.5:9100")
    assert isinstance(n, ep.Network) and (n.host, n.port, n.timeout) == ("10.0.0.5", 9100, 10)
    f = create_escpos("file:/dev/usb/lp0")
    assert isinstance(f, ep.File) and f.devfile == "/dev/usb/lp0"
    if ep.Usb.is_usable():
        u = create_escpos("usb:04b8:0e15?in_ep=0x81")
        assert isinstance(u, ep.Usb) and u.usb_args == {"idVendor": 0x04B8, "idProduct": 0x0E15}
        assert u.in_ep == 0x81
    else:
        with pytest.raises(RuntimeError, match="pyusb"):
            create_escpos("usb:04b8:0e15")


class TcpPrinter:
    """A network printer: accepts one client, records bytes, answers DLE EOT (or not)."""

    def __init__(self, answer: bool = True, paper: str = "ok"):
        self.srv = socket.create_server(("127.0.0.1", 0))
        self.port = self.srv.getsockname()[1]
        self.answer, self.paper, self.data = answer, paper, bytearray()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        conn, _ = self.srv.accept()
        with conn:
            while chunk := conn.recv(4096):
                self.data += chunk
                for i in range(len(chunk) - 2):
                    if chunk[i:i + 2] == b"\x10\x04" and self.answer:
                        conn.sendall(bytes([status_byte(chunk[i + 2], paper=self.paper)]))

    def close(self):
        self.srv.close()


def test_tcp_link_status_and_write():
    srv = TcpPrinter(paper="near_end")
    link = PrinterLink(f"tcp:127.0.0.1:{srv.port}?timeout=2")
    try:
        assert link.query(query(4), 1.0, is_status_byte) == 0x1E
        assert link.query(query(1), 1.0, is_status_byte) == 0x12
        link.write(b"\x1b@hello\n")
        link.close()
        srv.t.join(timeout=5)
        assert srv.data.endswith(b"\x1b@hello\n")
    finally:
        link.close()
        srv.close()


def test_tcp_link_silent_printer_times_out():
    srv = TcpPrinter(answer=False)
    link = PrinterLink(f"tcp:127.0.0.1:{srv.port}")
    try:
        assert link.query(query(1), 0.2, is_status_byte) is None
    finally:
        link.close()
        srv.close()


def test_file_link_to_an_answering_device():
    from tests.support.pty_printer import PtyPrinter

    with PtyPrinter(paper="out") as emu:
        link = PrinterLink(f"file:{emu.path}")
        try:
            assert link.query(query(4), 1.0, is_status_byte) == 0x72
            link.write(b"\x1b@x\x1dV\x00")
            emu.wait_jobs(1)
        finally:
            link.close()


def test_file_link_to_a_plain_file_never_answers(tmp_path):
    out = tmp_path / "tickets.bin"
    out.write_bytes(b"")
    link = PrinterLink(f"file:{out}")
    try:
        assert link.query(query(1), 0.2, is_status_byte) is None
    finally:
        link.close()
    blind = PrinterLink(f"file:{out}?status=off")
    blind.write(b"\x1b@job\n")
    blind.close()
    assert out.read_bytes().endswith(b"\x1b@job\n")

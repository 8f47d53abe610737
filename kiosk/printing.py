"""The kiosk's printer worker: one thread owns the TicketPrinter; the UI never waits on it.

    worker = PrinterWorker(config, site, kiosk_settings, store_path=..., data_dir=...,
                           on_printed=..., on_status=...)
    worker.start()
    worker.submit(ticket_view)          # returns at once; on_printed(ticket, ok, reason) later

The thread prints jobs in order and, between jobs, asks the printer for its status (DLE EOT)
every `poll_s` seconds (every second while it is faulty, so a new paper roll is noticed at once).
Each fault and each recovery is stored as a printer.fault / printer.recovered event in the
kiosk's own event store — the worker opens that store on its own thread, the only one using it —
and the printer's state is written to `<data_dir>/printer-status.json` for the sync agent,
which reports it in the device status.

The device configuration's [printer] section: printer.settings.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.config import Site
from core.events import now_ms
from printer.settings import PrinterConfig, printer_config  # noqa: F401  (re-exported)
from runtime.status import PRINTER_STATUS_FILE as STATUS_FILE
from runtime.status import write_app_status

from .flow import TicketView
from .settings import KioskSettings

log = logging.getLogger(__name__)

FAULT_POLL_S = 1.0
_STOP = object()


def ticket_layout(t: TicketView, site: Site, settings: KioskSettings):
    """The paper ticket (printer.layout) for a ticket the kiosk shows."""
    from printer.layout import TicketInfo, build_ticket

    svc = site.services.get(t.service)
    return build_ticket(TicketInfo(
        site_name=site.label(t.lang), number=t.number,
        service_names=dict(svc.name) if svc else {"en": t.service}, lang=t.lang,
        people_ahead=t.ahead, est_wait_min=t.est_wait_min, issued_ms=t.issued_ms, tz=site.timezone,
        where_to_wait=settings.wait_text(t.lang), qr_url=t.qr_url or None,
        appointment_time_ms=t.appointment_ms if t.kind == "appointment" else None))


class PrinterWorker:
    def __init__(self, config: PrinterConfig, site: Site, settings: KioskSettings, *, store_path: str | None,
                 device_id: str, data_dir: str | Path,
                 on_printed: Callable[[str, bool, str | None], None] | None = None,
                 on_status: Callable[[bool, str], None] | None = None,
                 on_job_written: Callable[[str, int], None] | None = None,
                 printer_factory: Callable[..., Any] | None = None, clock_ms: Callable[[], int] = now_ms) -> None:
        self.config = config
        self.site = site
        self.settings = settings
        self.store_path = store_path
        self.device_id = device_id
        self.data_dir = Path(data_dir)
        self.on_printed = on_printed
        self.on_status = on_status
        self.on_job_written = on_job_written
        self.printer_factory = printer_factory
        self.clock_ms = clock_ms
        self.poll_s = settings.printer_poll_s
        self._q: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.status: str = "unknown" if config.url else "not_configured"
        self.can_print: bool = False
        self.fault: str | None = None if config.url else "not_configured"
        self.last: TicketView | None = None
        self._last_at = 0.0
        self.last_printed_ms: int | None = None
        self.printed = 0
        self.failed = 0
        self.events: list[tuple[str, dict]] = []  # what this worker stored, for tests
        self._store = None
        self._printer = None

    # --- lifecycle (any thread) ----------------------------------------------------------

    def start(self) -> "PrinterWorker":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="kiosk-printer", daemon=True)
            self._thread.start()
        return self

    def wait_ready(self, timeout: float = 5.0) -> bool:
        """True once the first status is known (tests and the bench)."""
        return self._ready.wait(timeout)

    def submit(self, ticket: TicketView, reprint: bool = False) -> None:
        self._q.put(("print", ticket, reprint))

    def poll_now(self) -> None:
        self._q.put(("poll",))

    def stop(self, timeout: float = 5.0) -> None:
        self._q.put(_STOP)
        if self._thread is not None:
            self._thread.join(timeout)

    # --- the worker thread -----------------------------------------------------------------

    def _open(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.store_path:
            from core.store import EventStore

            try:
                self._store = EventStore(self.store_path, self.site.id, self.device_id)
            except Exception:
                log.exception("kiosk: cannot open the event store %s; printer events are not stored",
                              self.store_path)
        if self.config.url:
            from printer.device import PrinterMonitor, TicketPrinter

            factory = self.printer_factory or TicketPrinter
            try:
                self._printer = factory(self.config.url, self.config.profile, columns=self.config.columns,
                                        status_timeout=self.config.status_timeout,
                                        monitor=PrinterMonitor(self._on_transition), clock_ms=self.clock_ms)
            except Exception as exc:
                log.exception("kiosk: cannot set up the printer %s", self.config.url)
                self._set_status("disconnected", False, str(exc))

    def _run(self) -> None:
        try:
            self._open()
            self._poll()
        finally:
            self._ready.set()
        next_poll = time.monotonic() + self._poll_interval()
        while True:
            try:
                item = self._q.get(timeout=max(0.0, next_poll - time.monotonic()))
            except queue.Empty:
                item = ("poll",)
            if item is _STOP:
                break
            try:
                if item[0] == "print":
                    self._print(item[1], item[2])
                else:
                    self._poll()
            except Exception:  # a printer problem must never end the worker
                log.exception("kiosk: printer worker step failed")
            next_poll = time.monotonic() + self._poll_interval()
        self._close()

    def _poll_interval(self) -> float:
        return FAULT_POLL_S if (self.fault and self._printer is not None) else self.poll_s

    def _close(self) -> None:
        if self._printer is not None:
            try:
                self._printer.close()
            except Exception:
                pass
        if self._store is not None:
            self._store.close()

    def _poll(self) -> None:
        if self._printer is None:
            self._set_status(self.status, False, self.fault or "not_configured")
            return
        st = self._printer.status()
        self._set_status(st.value, st.can_print, None if st.can_print else st.value)

    def _print(self, t: TicketView, reprint: bool) -> None:
        if reprint:
            last = self.last
            if last is None or last.ticket != t.ticket or \
                    time.monotonic() - self._last_at > self.settings.reprint_s:
                self._done(t, False, "reprint_expired")
                return
        else:
            self.last, self._last_at = t, time.monotonic()
        if self._printer is None:
            self._done(t, False, self.fault or "not_configured")
            return
        layout = ticket_layout(t, self.site, self.settings)
        result = self._printer.print_ticket(layout)
        st = result.status
        if result.printed:
            self.printed += 1
            self.last_printed_ms = self.clock_ms()
            if self.on_job_written:
                self.on_job_written(t.ticket, result.bytes_sent)
            self._set_status(st.value, True, None)
            self._done(t, True, None)
            self._write_status()  # the counters and the last print time (after the customer's news)
        else:
            self.failed += 1
            reason = st.value if st.is_fault else (result.error or "error")
            self._set_status(st.value, False, reason)
            self._done(t, False, reason)

    def _done(self, t: TicketView, ok: bool, reason: str | None) -> None:
        if self.on_printed:
            try:
                self.on_printed(t.ticket, ok, reason)
            except Exception:
                log.exception("kiosk: on_printed failed")

    def _on_transition(self, tr: Any) -> None:
        """printer.device.PrinterMonitor: a fault began or ended. Stored before anything else."""
        data = dict(tr.event_data)
        if tr.kind == "fault":
            data["status"] = tr.status.value
        self.events.append((tr.event_type, data))
        if self._store is not None:
            try:
                self._store.append(tr.event_type, data)
            except Exception:
                log.exception("kiosk: could not store %s", tr.event_type)
        log.warning("kiosk: %s (%s)", tr.event_type, tr.reason)

    def _set_status(self, status: str, can_print: bool, fault: str | None) -> None:
        changed = (status, can_print, fault) != (self.status, self.can_print, self.fault)
        self.status, self.can_print, self.fault = status, can_print, fault
        if changed or not (self.data_dir / STATUS_FILE).exists():
            self._write_status()
        if changed and self.on_status:
            try:
                self.on_status(can_print, status)
            except Exception:
                log.exception("kiosk: on_status failed")

    def status_doc(self) -> dict[str, Any]:
        from printer.status import PrinterStatus

        try:
            paper = PrinterStatus(self.status).paper
        except ValueError:
            paper = "unknown"
        return {"status": self.status, "can_print": self.can_print, "fault": self.fault, "paper": paper,
                "configured": self.config.url is not None, "updated_ms": self.clock_ms(),
                "last_print_ms": self.last_printed_ms, "printed": self.printed, "failed": self.failed}

    def _write_status(self) -> None:
        try:
            # fsync: the printer state is what a technician reads after a power cut
            write_app_status(self.data_dir, STATUS_FILE, self.status_doc(), fsync=True)
        except OSError:
            log.exception("kiosk: cannot write %s", self.data_dir / STATUS_FILE)

"""The kiosk's printer: status over the real connection, print a ticket only when it can go
out, and the fault / recovered transitions the kiosk stores as events.

Blocking I/O: call `TicketPrinter` from a worker thread, never from the UI thread. One lock
serialises status polls and print jobs, so a poll never lands in the middle of a job.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

from .connection import ConnectionSpec, LinkError, PrinterLink
from .escpos_render import render
from .layout import TicketLayout
from .status import (
    ERROR_CAUSE,
    OFFLINE_CAUSE,
    PAPER_SENSOR,
    PRINTER,
    PrinterStatus,
    combine,
    is_status_byte,
    printer_offline,
    query,
)


@dataclass(frozen=True)
class PrintResult:
    printed: bool
    status: PrinterStatus  # as checked before the job; PAPER_NEAR_END still prints
    bytes_sent: int = 0
    error: str | None = None


@dataclass(frozen=True)
class Transition:
    kind: str  # "fault" | "recovered"
    status: PrinterStatus
    reason: str  # fault: what is wrong now; recovered: the fault that ended
    at_ms: int | None = None
    fault_ms: int | None = None  # recovered: how long the fault lasted, when times were given

    @property
    def event_type(self) -> str:
        return f"printer.{self.kind}"

    @property
    def event_data(self) -> dict:
        data: dict = {"reason": self.reason}
        if self.fault_ms is not None:
            data["fault_ms"] = self.fault_ms
        return data


class PrinterMonitor:
    """Successive statuses in, fault/recovered transitions out. Pure state, no I/O.

    * A fault is reported when the printer cannot print (`status.is_fault`) for `confirm`
      readings in a row (1 = at once); a different fault while still faulty is reported too
      (paper out -> cover open), since the technician needs the latest reason.
    * "recovered" is reported on the first reading that can print again.
    * Paper near end is not a fault: tickets still print. It shows in `status.paper`, which
      goes into the device health message.
    """

    def __init__(self, on_transition: Callable[[Transition], None] | None = None,
                 confirm: int = 1):
        self.on_transition = on_transition
        self.confirm = max(1, confirm)
        self.status: PrinterStatus | None = None
        self.fault: PrinterStatus | None = None  # the fault last reported, until recovery
        self._fault_since: int | None = None
        self._streak = 0
        self._lock = threading.Lock()

    def observe(self, status: PrinterStatus, at_ms: int | None = None) -> list[Transition]:
        with self._lock:
            out: list[Transition] = []
            self._streak = self._streak + 1 if status == self.status else 1
            self.status = status
            if status.is_fault:
                if status != self.fault and self._streak >= self.confirm:
                    out.append(Transition("fault", status, status.value, at_ms))
                    if self.fault is None:
                        self._fault_since = at_ms
                    self.fault = status
            elif self.fault is not None:
                lasted = (at_ms - self._fault_since
                          if at_ms is not None and self._fault_since is not None else None)
                out.append(Transition("recovered", status, self.fault.value, at_ms, lasted))
                self.fault = None
                self._fault_since = None
        for t in out:  # outside the lock: the callback may well call back in
            if self.on_transition:
                self.on_transition(t)
        return out


class TicketPrinter:
    def __init__(self, url: str | ConnectionSpec, profile: str | None = None, *,
                 status_timeout: float = 0.5, write_timeout: float = 10.0,
                 columns: int | None = None, monitor: PrinterMonitor | None = None,
                 clock_ms: Callable[[], int] | None = None):
        self.profile = profile
        self.columns = columns
        self.status_timeout = status_timeout
        self.monitor = monitor
        self.clock_ms = clock_ms
        self._link = PrinterLink(url, profile, write_timeout=write_timeout)
        self._lock = threading.RLock()

    @property
    def url(self) -> str:
        return self._link.spec.url

    def status(self) -> PrinterStatus:
        with self._lock:
            st = self._read_status()
            self._observe(st)
        return st

    def print_ticket(self, layout: TicketLayout) -> PrintResult:
        job = render(layout, self.profile, columns=self.columns)
        return self.print_job(job)

    def print_job(self, job: bytes) -> PrintResult:
        """Send one prepared job (it must start with ESC @) if the printer can print."""
        with self._lock:
            st = self._read_status()
            result = PrintResult(False, st)
            if st.can_print:
                try:
                    self._link.write(job)
                    result = PrintResult(True, st, len(job))
                except LinkError as exc:
                    st = PrinterStatus.DISCONNECTED
                    result = PrintResult(False, st, 0, str(exc))
            self._observe(st)
        return result

    def _observe(self, st: PrinterStatus) -> None:
        # Under the printer lock, so the monitor sees readings in the order they were taken
        # even with several threads; its callback runs in the calling (worker) thread.
        if self.monitor:
            self.monitor.observe(st, self.clock_ms() if self.clock_ms else None)

    def close(self) -> None:
        with self._lock:
            self._link.close()

    def __enter__(self) -> "TicketPrinter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _read_status(self) -> PrinterStatus:
        if not self._link.spec.status_queries:
            return PrinterStatus.UNCHECKED
        try:
            ask = lambda n: self._link.query(query(n), self.status_timeout, is_status_byte)  # noqa: E731
            printer = ask(PRINTER)
            if printer is None:
                return PrinterStatus.NO_ANSWER
            # Offline cause and error only matter when offline; the paper sensor always
            # (near end is reported while online).
            offline = ask(OFFLINE_CAUSE) if printer_offline(printer) else None
            error = ask(ERROR_CAUSE) if offline is not None and offline & 0x40 else None
            paper = ask(PAPER_SENSOR)
            return combine(printer, offline, error, paper)
        except LinkError:
            return PrinterStatus.DISCONNECTED

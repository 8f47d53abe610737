"""The kiosk's technician screen: five taps in the top-left corner within three seconds show the
device id, site, version, addresses, brokers and the doctor's result (uikit.techoverlay), as far as the function
handed to the app (`KioskApp(tech_info=...)`, by the command that starts it) tells them.

The words are the kiosk's (gettext domain "kiosk"), in the language the kiosk shows at that
moment: a technician who wants English taps "English" on the start screen first. The doctor
runs in a worker thread; the printer's state is the printer worker's own reading (the doctor
must not open the printer's port a second time while the kiosk holds it).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from core.i18n import Translator
from uikit.techoverlay import Gathered, Known, TechAccess, TechTexts, gather

if TYPE_CHECKING:  # pragma: no cover
    from .app import KioskApp

#: The doctor's broker probes wait this long at most (seconds).
PROBE_TIMEOUT_S = 2.0


def texts(tr: Translator) -> TechTexts:
    _ = tr.gettext
    return TechTexts(
        title=_("Technician information"),
        device=_("Device"),
        site=_("Site"),
        version=_("Software version"),
        host=_("Host name"),
        addresses=_("Network addresses"),
        no_addresses=_("none (no network)"),
        config=_("Configuration"),
        site_broker=_("Site broker"),
        central_broker=_("Central broker"),
        not_configured=_("not configured"),
        broker_user=_("{url} (user {user})"),
        self_test=_("Self-test"),
        checking=_("Running the self-test…"),
        failed=_("The self-test could not run: {error}"),
        counts=_("Failed: {failed} · Warnings: {warnings} · OK: {ok}"),
        fix=_("Fix: {hint}"),
        checked_at=_("Checked at {time}"),
        close=_("Close"),
        closes_in=_("Closes by itself in {seconds} s"),
    )


def install(app: "KioskApp") -> TechAccess:
    """The corner gesture on the kiosk's window (call in build())."""

    def known() -> Known:
        return Known(app.device_id, "kiosk", app.site.id, app.site.label(app.flow.lang))

    def collect(run_doctor: bool) -> Gathered:
        printer = app.printer
        return gather(app.device_config, info=app.tech_info, device=app.device, run_doctor=run_doctor,
                      printer_status=(lambda: printer.status) if printer is not None else None,
                      timeout=PROBE_TIMEOUT_S)

    return TechAccess(known=known, texts=lambda: texts(app.translator()), gather=collect).install()

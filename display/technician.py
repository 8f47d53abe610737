"""The display's technician screen: five taps in the top-left corner within three seconds (on a
touch-capable screen, or with a mouse plugged in) show the device id, site, version, addresses,
brokers and the doctor's result (uikit.techoverlay), in the site's default language (gettext
domain "display"). The doctor runs in a worker thread: the calls go on being shown underneath.

The device configuration comes from the app (`DisplayApp(device_config=...)`); the version,
addresses and the doctor from the function the command that started it handed in
(`DisplayApp(tech_info=...)`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from core.i18n import Translator
from uikit.techoverlay import Gathered, Known, TechAccess, TechTexts, gather

if TYPE_CHECKING:  # pragma: no cover
    from .app import DisplayApp

#: The doctor's broker probes wait this long at most (seconds).
PROBE_TIMEOUT_S = 2.0


def texts(t: Translator) -> TechTexts:
    return TechTexts(
        title=t("Technician information"),
        device=t("Device"),
        site=t("Site"),
        version=t("Software version"),
        host=t("Host name"),
        addresses=t("Network addresses"),
        no_addresses=t("none (no network)"),
        config=t("Configuration"),
        site_broker=t("Site broker"),
        central_broker=t("Central broker"),
        not_configured=t("not configured"),
        broker_user=t("{url} (user {user})"),
        self_test=t("Self-test"),
        checking=t("Running the self-test…"),
        failed=t("The self-test could not run: {error}"),
        counts=t("Failed: {failed} · Warnings: {warnings} · OK: {ok}"),
        fix=t("Fix: {hint}"),
        checked_at=t("Checked at {time}"),
        close=t("Close"),
        closes_in=t("Closes by itself in {seconds} s"),
    )


def install(app: "DisplayApp") -> TechAccess:
    """The corner gesture on the display's window (call in build())."""
    lang = app.site.default_language

    def known() -> Known:
        return Known(app.device, "display", app.site.id, app.site.label(lang))

    def collect(run_doctor: bool) -> Gathered:
        return gather(app.device_config, info=app.tech_info, run_doctor=run_doctor, timeout=PROBE_TIMEOUT_S,
                      broker_fallback=app.broker)

    return TechAccess(known=known, texts=lambda: texts(app.translator(lang)), gather=collect).install()

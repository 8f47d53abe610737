"""The fleet view (issue 14, part 4) for real: a device connects to the central Mosquitto with its
last will, the ingest records it online, the device's connection dies without a goodbye, and the
technician's page shows it offline within a minute. The page passes axe-core in fi, sv and en."""
from __future__ import annotations

import socket
import time

import paho.mqtt.client as mqtt

from bus import topics
from central import accounts
from central.store import CentralStore
from core.config import loads_site
from tests.support.national import site_text
from tests.support.syncproc import Central
from tests.support.wait import wait_until
from tests.support.web import WebService, launch_browser, log_in

PASSWORD = "correct horse battery staple"
DEVICE = "kiosk-1"


def connect_device(central: Central) -> mqtt.Client:
    user = topics.central_username("site-a", DEVICE)
    c = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id=user,
                    protocol=mqtt.MQTTv5)
    c.username_pw_set(user, central.users[user])
    c.will_set(topics.availability("site-a", DEVICE), "offline", qos=1, retain=True)
    c.connect("127.0.0.1", central.device_port, keepalive=30)
    c.loop_start()
    c.publish(topics.availability("site-a", DEVICE), "online", qos=1, retain=True).wait_for_publish(10)
    return c


def test_a_device_that_dies_shows_offline_within_a_minute(postgres, tmp_path):
    from playwright.sync_api import sync_playwright

    dsn = postgres.fresh_database()
    with CentralStore(dsn) as db:
        db.begin()
        db.register_site(loads_site(site_text("site-a")), site_text("site-a"))
        db.commit()
        accounts.add_user(db.conn, "tech", "technician", PASSWORD)
    central = Central(tmp_path / "central", [DEVICE], site="site-a", pg_dsn=dsn).start()
    web = WebService(dsn, tmp_path).start()
    try:
        central.start_ingest()
        dev = connect_device(central)
        wait_until(lambda: central.query("SELECT availability FROM device_status WHERE device = ?", (DEVICE,))
                   == [("online",)], 20, what="the device online in the central store")
        with sync_playwright() as p:
            browser = launch_browser(p)
            page = browser.new_context().new_page()
            log_in(page, web.url, "tech", PASSWORD, "/fleet?lang=en")
            row = page.locator("table.fleet tr", has=page.locator("td", has_text=DEVICE)).first
            assert "online" in row.inner_text()
            # The plug is pulled: the connection ends without a DISCONNECT, the broker sends the will.
            died = time.monotonic()
            dev._sock.shutdown(socket.SHUT_RDWR)  # type: ignore[union-attr]
            dev.loop_stop()

            def offline_on_the_page() -> bool:
                page.reload()
                return "offline" in page.locator("table.fleet tr", has=page.locator("td", has_text=DEVICE)) \
                    .first.inner_text()

            wait_until(offline_on_the_page, 60, what="the device offline on the fleet page")
            assert time.monotonic() - died < 60
            from axe_playwright_python.sync_playwright import Axe

            for lang in ("fi", "sv", "en"):
                page.goto(f"{web.url}/fleet?lang={lang}")
                result = Axe().run(page, options={"runOnly": {"type": "tag", "values": [
                    "wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}})
                assert result.violations_count == 0, result.generate_report()
            browser.close()
    finally:
        web.stop()
        central.stop_all()

"""The hidden technician gesture (uikit.techgesture) as pure logic, and the technician screen's
rows (uikit.techoverlay): what opens it, what never does, and that no secret reaches the screen.
No Kivy here: the pure parts must import without it."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest

from uikit.techgesture import CornerTaps, corner_side

W, H = 1080, 1920          # a portrait kiosk, Kivy coordinates (origin bottom-left)
TL = (10, H - 10)          # inside the top-left corner


def feed_all(g: CornerTaps, taps, w=W, h=H) -> list[bool]:
    return [g.feed(x, y, w, h, t) for (x, y, t) in taps]


def test_five_taps_in_the_corner_within_three_seconds_trigger_on_the_fifth():
    g = CornerTaps()
    got = feed_all(g, [(*TL, 0.0), (*TL, 0.4), (*TL, 0.8), (*TL, 1.2), (*TL, 1.6)])
    assert got == [False, False, False, False, True]
    assert g.count == 0  # the count starts again


def test_four_taps_do_nothing():
    g = CornerTaps()
    assert feed_all(g, [(*TL, t) for t in (0.0, 0.2, 0.4, 0.6)]) == [False] * 4
    assert g.count == 4


def test_taps_spread_over_more_than_three_seconds_do_not_trigger():
    g = CornerTaps()
    assert not any(feed_all(g, [(*TL, t) for t in (0.0, 0.8, 1.6, 2.4, 3.2)]))
    # ...but a sliding window: the last five taps count once they fit in three seconds
    assert g.feed(*TL, W, H, 3.3) is True       # 0.8 1.6 2.4 3.2 3.3: five within 2.5 s
    g2 = CornerTaps()
    assert feed_all(g2, [(*TL, t) for t in (0.0, 1.0, 2.0, 2.5, 3.1, 3.5)])[-1] is True  # 1.0 .. 3.5


def test_exactly_three_seconds_counts():
    g = CornerTaps()
    assert feed_all(g, [(*TL, t) for t in (0.0, 1.0, 2.0, 2.5, 3.0)])[-1] is True


def test_a_tap_elsewhere_starts_the_count_again():
    g = CornerTaps()
    seq = [(*TL, 0.0), (*TL, 0.1), (*TL, 0.2), (*TL, 0.3), (540, 960, 0.35), (*TL, 0.4)]
    assert not any(feed_all(g, seq))
    assert g.count == 1
    assert feed_all(g, [(*TL, t) for t in (0.5, 0.6, 0.7, 0.8)])[-1] is True


def test_a_customer_tapping_about_the_screen_never_opens_it():
    import random

    rnd = random.Random(7)
    g = CornerTaps()
    t = 0.0
    for _ in range(5000):
        t += rnd.uniform(0.05, 0.6)
        # anywhere on the screen, the corner included now and then
        x, y = (rnd.uniform(0, 60), rnd.uniform(H - 60, H)) if rnd.random() < 0.1 else \
            (rnd.uniform(0, W), rnd.uniform(0, H))
        assert g.feed(x, y, W, H, t) is False, f"opened by chance at {t:.1f} s"


def test_the_corner_is_the_top_left_square_in_kivy_coordinates():
    g = CornerTaps(side_px=57)
    assert g.in_corner(0, H, W, H) and g.in_corner(57, H - 57, W, H)
    assert not g.in_corner(58, H - 10, W, H)
    assert not g.in_corner(10, H - 58, W, H)
    assert not g.in_corner(10, 10, W, H)           # bottom-left: y grows upwards in Kivy
    assert not g.in_corner(-1, H, W, H) and not g.in_corner(0, H + 1, W, H)


@pytest.mark.parametrize("corner,inside,outside", [
    ("top-right", (W - 5, H - 5), (5, H - 5)),
    ("bottom-left", (5, 5), (5, H - 5)),
    ("bottom-right", (W - 5, 5), (5, 5)),
])
def test_other_corners(corner, inside, outside):
    g = CornerTaps(corner=corner)
    assert g.in_corner(*inside, W, H) and not g.in_corner(*outside, W, H)
    assert feed_all(g, [(*inside, t / 10) for t in range(5)])[-1] is True


def test_landscape_window():
    g = CornerTaps()
    assert feed_all(g, [(20, 1060, t / 10) for t in range(5)], w=1920, h=1080)[-1] is True


def test_a_clock_going_backwards_starts_again():
    g = CornerTaps()
    feed_all(g, [(*TL, t) for t in (10.0, 10.1, 10.2)])
    assert g.feed(*TL, W, H, 5.0) is False and g.count == 1


def test_reset_and_configuration_errors():
    g = CornerTaps(taps=3, within_s=1.0)
    feed_all(g, [(*TL, 0.0), (*TL, 0.1)])
    g.reset()
    assert g.feed(*TL, W, H, 0.2) is False
    with pytest.raises(ValueError):
        CornerTaps(corner="middle")
    with pytest.raises(ValueError):
        CornerTaps(taps=1)
    with pytest.raises(ValueError):
        CornerTaps(within_s=0)


def test_corner_side_is_about_15_mm_within_bounds():
    assert corner_side(96 / 25.4, W, H) == pytest.approx(56.7, abs=0.1)   # 96 dpi: 15 mm
    assert corner_side(0.5, W, H) == 40.0                                  # a screen reporting a tiny DPI
    assert corner_side(100.0, W, H) == pytest.approx(108.0)                # a huge DPI: a tenth of the width


def test_pure_parts_import_without_kivy():
    code = ("import sys; import uikit.techgesture, uikit.techoverlay, kiosk.technician; "
            "assert not [m for m in sys.modules if m == 'kivy' or m.startswith('kivy.')], 'kivy imported'")
    # kiosk.technician imports core.i18n (babel) and the overlay's pure part only
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


# --- the rows of the technician screen ----------------------------------------------------------

def _info(checks, doctor=True):
    from appliance.techinfo import Address, TechInfo

    counts = {"OK": 0, "WARN": 0, "FAIL": 0, "SKIP": 0}
    for c in checks:
        counts[c["status"]] += 1
    worst = "FAIL" if counts["FAIL"] else "WARN" if counts["WARN"] else "OK"
    return TechInfo(device="kiosk-1", role="kiosk", site="example-pp", version="1.2.3", hostname="pp-kiosk",
                    addresses=(Address("eth0", "192.168.10.5", "ipv4"),), config_path="/etc/palvelupiste/device.toml",
                    data_dir="/var/lib/palvelupiste", collected_at=time.time(),
                    doctor_result=worst if doctor else None, doctor_counts=counts if doctor else {},
                    doctor={"checks": checks, "result": worst} if doctor else None)


def test_rows_show_who_where_and_every_check_problems_first():
    from core.config import Broker
    from uikit.techoverlay import Gathered, Known, TechTexts, about_rows, broker_view, doctor_rows

    checks = [{"check": "configuration", "status": "OK", "detail": "valid", "hint": ""},
              {"check": "central broker", "status": "FAIL", "detail": "connection refused",
               "hint": "the internet connection"},
              {"check": "disk", "status": "WARN", "detail": "800 MiB free", "hint": "free some space"}]
    got = Gathered(_info(checks), (broker_view("site", Broker("mqtt://hub.local:1883", "kiosk-1",
                                                                "/etc/palvelupiste/site.password")),
                                   broker_view("central", None)), doctor_ran=True)
    t = TechTexts()
    about = {r.ident: r.value for r in about_rows(Known("kiosk-1", "kiosk", "example-pp", "Example"), got, t)}
    assert about["tech_device"] == "kiosk-1 (kiosk)"
    assert about["tech_site"] == "example-pp — Example"
    assert about["tech_version"] == "1.2.3" and "192.168.10.5 (eth0)" in about["tech_addresses"]
    assert about["tech_site_broker"] == "mqtt://hub.local:1883 (user kiosk-1)"
    assert about["tech_central_broker"] == "not configured"
    rows = doctor_rows(got, t, checking=False)
    checks_shown = [r for r in rows if r.kind == "check"]
    assert [r.status for r in checks_shown] == ["FAIL", "WARN", "OK"]
    assert checks_shown[0].hint == "Fix: the internet connection" and checks_shown[2].hint == ""
    summary = next(r for r in rows if r.kind == "summary")
    assert summary.status == "FAIL" and summary.value == "Failed: 1 · Warnings: 1 · OK: 1"


def test_rows_while_checking_and_on_failure():
    from uikit.techoverlay import Gathered, Known, TechTexts, about_rows, doctor_rows

    t = TechTexts(checking="Tarkistetaan…")
    assert [r.value for r in doctor_rows(None, t)][-1] == "Tarkistetaan…"
    quick = Gathered(_info([], doctor=False))
    assert doctor_rows(quick, t, checking=True)[-1].ident == "tech_checking"
    assert "boom" in doctor_rows(quick, t, error="RuntimeError: boom")[-1].value
    pending = {r.ident: r.value for r in about_rows(Known("d-1", "display", "s"), None, t)}
    assert pending["tech_device"] == "d-1 (display)" and pending["tech_version"] == "…"


def test_no_secret_reaches_the_screen(tmp_path):
    from core.config import Broker
    from uikit.techoverlay import Gathered, Known, TechTexts, about_rows, broker_view, doctor_rows, redact

    secret = "S3cr3t-pw-42"
    pw = tmp_path / "site.password"
    pw.write_text(secret)
    checks = [{"check": "site broker", "status": "FAIL", "detail": f"mqtt://kiosk-1:{secret}@hub:1883 refused",
               "hint": f"password={secret}"}]
    got = Gathered(_info(checks), (broker_view("site", Broker("mqtt://hub:1883", "kiosk-1", str(pw))),
                                   broker_view("central", f"mqtts://u:{secret}@central:8883")))
    t = TechTexts()
    shown = [r.key + r.value + r.hint for r in about_rows(Known("kiosk-1", "kiosk", "s"), got, t)
             + doctor_rows(got, t, checking=False)]
    assert not [s for s in shown if secret in s], shown
    assert redact("mqtts://user:pw@host:8883") == "mqtts://user@host:8883"
    assert redact("secret: abc") == "secret: ***"
    assert redact("password refused: not authorised") == "password refused: not authorised"


def test_gather_without_doctor_is_quick_and_without_configuration_says_why(tmp_path):
    from uikit.techoverlay import gather

    t0 = time.monotonic()
    got = gather(None, run_doctor=True, broker_fallback="mqtt://127.0.0.1:1883")
    assert time.monotonic() - t0 < 2.0
    assert got.info.doctor is None and got.note and not got.doctor_ran
    assert got.brokers[0].url == "mqtt://127.0.0.1:1883" and got.brokers[1].url is None

"""Recorded jobs as text and as a PNG (what the demo shows instead of paper)."""
from __future__ import annotations

import io

from PIL import Image

from printer.escpos_render import render
from printer.layout import TicketInfo, build_ticket
from sim.printer_render import WIDTH, job_text, render_png

QR = "https://palvelupiste.example/t/A042"


def job(lang="fi", profile=None) -> bytes:
    return render(build_ticket(TicketInfo(
        site_name="Yhteispalvelupiste Kallio", number="A042",
        service_names={"fi": "Verohallinto", "sv": "Skatteförvaltningen",
                       "en": "Finnish Tax Administration"},
        lang=lang, people_ahead=7, est_wait_min=25, issued_ms=1_751_360_700_000,
        where_to_wait=None, qr_url=QR)), profile)


def test_text_rendering():
    t = job_text(job("fi"))
    assert "A042" in t and "Verohallinto" in t and "Skatteförvaltningen" in t
    assert f"[QR {QR}]" in t and t.rstrip().endswith("-- cut --")


def test_png_is_produced(tmp_path, output_dir):
    path = output_dir / "printer-ticket-fi.png"
    img = render_png(job("fi"), path)
    assert path.stat().st_size > 1000
    with Image.open(path) as back:
        assert back.format == "PNG" and back.width == WIDTH and back.height > 400
    # The large number is drawn: some dark pixels in the band under the site name.
    dark = sum(img.crop((0, 80, WIDTH, 200)).convert("L").histogram()[:70])
    assert dark > 500
    buf = io.BytesIO()
    render_png(job("ru"), output_dir / "printer-ticket-ru.png").save(buf, "PNG")
    assert buf.tell() > 1000


def test_png_of_image_fallback_job(output_dir):
    img = render_png(job("sv", "simple"), output_dir / "printer-ticket-simple-profile.png")
    assert img.width == WIDTH and img.height > 400

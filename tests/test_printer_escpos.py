"""ESC/POS bytes of a ticket: init, one code page, Nordic letters, native QR, size."""
from __future__ import annotations

import datetime as dt

import pytest
from escpos.printer import Dummy

from printer.escpos_render import render
from printer.layout import Cut, Feed, Qr, Rule, Text, TicketInfo, TicketLayout, build_ticket
from sim.escpos_decode import Line, QrCode, Raster, decode, decode_text, extract_qr_payloads, split_jobs

ESC_AT = b"\x1b@"
SELECT_CP858 = b"\x1bt\x13"  # ESC t 19: PC858 in Epson's table and python-escpos' profiles
MS = int(dt.datetime(2025, 3, 30, 1, 30, tzinfo=dt.timezone.utc).timestamp() * 1000)
QR = "https://palvelupiste.example/t/kallio/2025-03-30/A001"


def ticket(lang="fi", **kw) -> TicketLayout:
    base = dict(site_name="Yhteispalvelupiste Åbo–Turku", number="A001",
                service_names={"fi": "Kela", "sv": "FPA", "en": "Kela",
                               "ru": "Кела (социальное страхование)"},
                lang=lang, people_ahead=12, est_wait_min=35, issued_ms=MS,
                where_to_wait=None, qr_url=QR)
    base.update(kw)
    return build_ticket(TicketInfo(**base))


def test_job_starts_with_init_then_one_code_page_select():
    data = render(ticket("fi"))
    assert data.startswith(ESC_AT + SELECT_CP858)
    assert data.count(ESC_AT) == 1
    assert data.count(b"\x1bt") == 1
    assert decode(data).codepage_selects == [19]


def test_nordic_letters_round_trip_in_finnish_and_swedish():
    lay = TicketLayout((Text("ÄÖÅ äöå Öljy-Äijä, Åland, €"), Text("Väntetid för Åsa"), Cut()))
    data = render(lay)
    # The bytes themselves, not only our decoder's opinion of them (CP858).
    assert b"\x8e\x99\x8f \x84\x94\x86 \x99ljy-\x8eij\x84, \x8fland, \xd5" in data
    assert decode_text(data).splitlines()[:2] == ["ÄÖÅ äöå Öljy-Äijä, Åland, €",
                                                  "Väntetid för Åsa"]
    fi = decode_text(render(ticket("fi")))
    assert "Yhteispalvelupiste Åbo-Turku" in fi  # en dash (not in CP858) printed as "-"
    assert "Edelläsi jonossa: 12" in fi and "Seuraa näyttöä." in fi
    assert "30.3.2025 4.30" in fi  # 01:30 UTC, just after the switch to summer time
    sv = decode_text(render(ticket("sv")))
    assert "Före dig i kön: 12" in sv and "Beräknad väntetid: 35 minuter" in sv
    assert "Följ skärmen. Ditt nummer ropas upp när det är din tur." in " ".join(sv.split("\n"))


def test_magic_encode_would_switch_pages_ours_does_not():
    """The reason we force the page: python-escpos' default picks pages per character."""
    p = Dummy()
    p.text("ä€")
    assert p.output.count(b"\x1bt") == 2  # CP437 for ä, then another page for €
    data = render(TicketLayout((Text("ä€ ä€ Å"),)))
    assert data.count(b"\x1bt") == 1 and b"\x84\xd5 \x84\xd5 \x8f" in data


def test_native_qr_carries_the_payload():
    data = render(ticket("fi"))
    assert b"\x1d(k" in data
    assert extract_qr_payloads(data) == [QR]
    # store (fn 80) then print (fn 81), centred by ESC a 1 just before
    store = b"\x1d(k" + bytes([len(QR) + 3, 0]) + b"1P0" + QR.encode()
    assert store in data and data.index(store) < data.index(b"\x1d(k\x03\x001Q0")
    assert data.rfind(b"\x1ba\x01", 0, data.index(b"\x1d(k")) != -1
    qr = next(b for b in decode(data).blocks if isinstance(b, QrCode))
    assert qr.align == "center" and qr.module == 6


@pytest.mark.parametrize("lang", ["fi", "sv", "en", "ru", "et", "uk", "so"])
def test_ticket_is_under_1024_bytes_with_native_qr(lang):
    data = render(ticket(lang, where_to_wait="Odota aulan B-puolella"))
    assert len(data) < 1024, (lang, len(data))


def test_number_is_large_and_bold_and_sizes_reset():
    d = decode(render(ticket("fi")))
    number = next(li for li in d.lines if li.text == "A001")
    assert (number.width, number.height, number.bold, number.align) == (4, 4, True, "center")
    after = d.lines[d.lines.index(number) + 1]
    assert (after.width, after.height) == (1, 2)  # body text: double height (>= 3 mm, issue 16)
    assert d.cuts == 1 and d.inits == 1


def test_cyrillic_lines_switch_explicitly_and_come_back():
    data = render(ticket("ru"))
    text = decode_text(data)
    assert "Ваш номер" in text and "Перед вами в очереди: 12" in text
    assert "Кела (социальное страхование)" in text and "FPA" in text
    selects = decode(data).codepage_selects
    assert selects[0] == 19 and set(selects) == {19, 46}  # CP858 and CP1251 only
    uk = decode_text(render(ticket("uk")))
    assert "Орієнтовний час очікування: 35 хвилин" in uk  # і needs CP1251 (CP866 has none)


def test_each_job_selects_its_page_again():
    """A printer keeps the page across jobs, and ESC @ may reset it: every job selects."""
    a, b = render(ticket("fi")), render(ticket("sv"))
    for job in split_jobs(a + b):
        assert job.startswith(ESC_AT + SELECT_CP858)
    assert len(split_jobs(a + b)) == 2


def test_control_characters_in_data_cannot_become_commands():
    lay = TicketLayout((Text("Site\x1b@\x1dV\x00 name\twith\ntabs"),))
    data = render(lay)
    assert data.count(ESC_AT) == 1 and b"\x1dV" not in data
    assert decode_text(data) == "Site@V name with tabs"


def test_long_lines_wrap_to_the_columns_of_their_size():
    lay = TicketLayout((Text("Myndigheten för digitalisering och befolkningsdata", bold=True),
                        Text("ABCDEFGHIJKLMNOP", size="large")))
    d = decode(render(lay, columns=42))
    assert [li.text for li in d.lines] == ["Myndigheten för digitalisering och",
                                           "befolkningsdata", "ABCDEFGHIJ", "KLMNOP"]
    assert len(render(lay, "TM-T20II")) > 0  # 48-column profile


def test_profile_without_native_qr_gets_an_image():
    data = render(ticket("fi"), "simple")
    assert b"\x1d(k" not in data and b"\x1dv0" in data
    img = next(b for b in decode(data, "simple").blocks if isinstance(b, Raster))
    assert img.width >= 100 and img.height >= 100
    assert len(render(ticket("fi"), native_qr=False)) > 1024  # why native QR matters


def test_rule_and_feed_elements():
    d = decode(render(TicketLayout((Rule(), Feed(2), Qr("x")))))
    assert d.lines[0].text == "-" * 42
    assert d.lines[1].text == d.lines[2].text == ""
    assert d.qr_payloads == ["x"]
    assert isinstance(d.lines[0], Line)

"""Site and device configuration (every error names its field), and core.i18n."""
from __future__ import annotations

import copy
import datetime as _dt
import tomllib
from pathlib import Path

import pytest

from core import i18n
from core.config import Broker, ConfigError, load_device, load_site, loads_site, parse_device, parse_site

EXAMPLE = Path(__file__).resolve().parent.parent / "assets" / "sites" / "example.toml"
DOC = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))


def issues_of(doc) -> dict[str, str]:
    with pytest.raises(ConfigError) as exc:
        parse_site(doc, "test.toml")
    return {i.field: i.message for i in exc.value.issues}


def doc() -> dict:
    return copy.deepcopy(DOC)


# --- site ----------------------------------------------------------------------------------

def test_example_site_is_valid():
    site = load_site(EXAMPLE)
    assert site.id == "example-pp" and site.timezone == "Europe/Helsinki"
    assert len(site.services) == 14 and len(site.counters) == 8
    assert site.general_advice_service().id == "neuvonta"
    assert {s.prefix for s in site.services.values()}.__len__() == 14
    for s in site.services.values():
        assert s.name["fi"] and s.name["sv"] and s.name["en"]
    assert site.services["kela"].label("sv") == "FPA"
    # Every text a citizen sees, in every language the example offers (all 13: issue 16).
    assert len(site.languages) == 13
    for lang in site.languages:
        assert all(lang in s.name and lang in s.description for s in site.services.values()), lang
        assert lang in site.name and all(lang in c.name for c in site.counters.values()), lang
    assert site.services["kela"].label("so") != site.services["kela"].name["en"]
    assert site.counters["H1"].kind == "room" and site.counters["1"].services == ("neuvonta", "digituki", "kela")
    assert site.opening_hours["thu"] == (_dt.time(8, 0), _dt.time(18, 0)) and site.opening_hours["sun"] is None
    assert site.appointments.early_min == 30 and site.appointments.late_min == 10
    assert site.devices["hub-1"] == "hub" and site.tz.key == "Europe/Helsinki"
    # Every service is served by some counter.
    assert set().union(*(c.services for c in site.counters.values())) == set(site.services)


def test_unknown_service_in_a_counter():
    d = doc()
    d["counters"][2]["services"].append("poliisi2")
    iss = issues_of(d)
    assert "unknown service 'poliisi2'" in iss["counters[2] (3).services"]


def test_a_table_where_a_service_id_belongs():
    d = doc()
    d["counters"][0]["services"].append({"id": "kela"})
    assert "{'id': 'kela'} must be a service id" in issues_of(d)["counters[0] (1).services"]


def test_duplicate_prefix():
    d = doc()
    d["services"][2]["prefix"] = "K"
    iss = issues_of(d)
    assert "duplicate prefix 'K'" in iss["services[2] (poliisi).prefix"]
    assert "'kela'" in iss["services[2] (poliisi).prefix"]


@pytest.mark.parametrize("prefix", ["k", "KKK", "", 5, "Ä", "K\n", "1"])
def test_bad_prefix(prefix):
    d = doc()
    d["services"][1]["prefix"] = prefix
    assert "services[1] (kela).prefix" in issues_of(d)


def test_missing_swedish_name():
    d = doc()
    del d["services"][1]["name"]["sv"]
    iss = issues_of(d)
    assert iss == {"services[1] (kela).name.sv": "missing Swedish text"}
    d = doc()
    d["site"]["name"]["sv"] = "   "
    assert issues_of(d) == {"site.name.sv": "missing Swedish text"}


@pytest.mark.parametrize("tz", ["Helsinki", "Europe/Nowhere", "EET+2", "Europe/", "../etc/passwd", 5, ""])
def test_bad_time_zone(tz):
    d = doc()
    d["site"]["timezone"] = tz
    assert "unknown time zone" in issues_of(d)["site.timezone"]


def test_no_general_advice_service_and_two_of_them():
    d = doc()
    d["services"][0]["general_advice"] = False
    assert "exactly one service must have general_advice" in issues_of(d)["services"]
    d = doc()
    d["services"][3]["general_advice"] = True
    assert "['neuvonta', 'vero']" in issues_of(d)["services"]
    d = doc()
    d["services"][3]["general_advice"] = "false"  # text, not a boolean: not quietly true
    iss = issues_of(d)
    assert iss["services[3] (vero).general_advice"] == "must be true or false"
    assert "['neuvonta', 'vero']" not in iss.get("services", "")


@pytest.mark.parametrize("day,span,msg", [
    ("mon", "8-16", "HH:MM-HH:MM"), ("mon", "08:00-24:30", "HH:MM-HH:MM"), ("mon", "24:00-24:00", "HH:MM-HH:MM"), ("tue", "16:00-08:00", "closes before"),
    ("wed", "08:00-08:00", "closes before"), ("thu", 800, "HH:MM-HH:MM"), ("maanantai", "08:00-16:00", "unknown day"),
    ("fri", "08:00-16:00\n", "HH:MM-HH:MM"),
])
def test_bad_opening_hours(day, span, msg):
    d = doc()
    d["opening_hours"][day] = span
    assert msg in issues_of(d)[f"opening_hours.{day}"]


def test_unknown_language():
    d = doc()
    d["site"]["languages"].append("xx")
    assert "'xx' is not a known language code" in issues_of(d)["site.languages"]
    d = doc()
    d["services"][1]["name"]["de"] = "Kela"
    assert "unknown language code" in issues_of(d)["services[1] (kela).name.de"]
    d = doc()
    d["site"]["languages"] = ["fi", "en"]
    assert "must offer 'sv'" in issues_of(d)["site.languages"]
    d = doc()
    d["site"]["default_language"] = "de"
    assert "site.default_language" in issues_of(d)


def test_every_problem_is_reported_at_once():
    d = doc()
    d["site"]["timezone"] = "Nowhere"
    del d["services"][1]["name"]["sv"]
    d["counters"][0]["services"] = ["nope"]
    d["surprise"] = {}
    iss = issues_of(d)
    assert {"site.timezone", "services[1] (kela).name.sv", "counters[0] (1).services", "surprise"} <= set(iss)


def test_other_structural_errors():
    d = doc()
    d["counters"][0]["services"] = []
    assert "counters[0] (1).services" in issues_of(d)
    d = doc()
    d["counters"] = [c for c in d["counters"] if "rise" not in c["services"]]
    assert "no counter serves" in issues_of(d)["services (rise)"]
    d = doc()
    d["services"][1]["default_service_min"] = True
    assert "services[1] (kela).default_service_min" in issues_of(d)
    d = doc()
    d["appointments"]["early_min"] = -1
    assert "appointments.early_min" in issues_of(d)
    d = doc()
    d["devices"].append({"id": "x", "role": "toaster"})
    assert "devices[6].role" in issues_of(d)
    assert issues_of({}) == {"site": "missing [site] table"}


def test_toml_syntax_error_and_missing_file(tmp_path):
    with pytest.raises(ConfigError) as exc:
        loads_site("[site\nid=1")
    assert exc.value.issues[0].field == "toml"
    with pytest.raises(ConfigError) as exc:
        load_site(tmp_path / "nope.toml")
    assert exc.value.issues[0].field == "file"


# --- device --------------------------------------------------------------------------------

DEVICE = """
[device]
id = "kiosk-1"
role = "kiosk"
site = "example-pp"
data_dir = "/var/lib/palvelupiste"

[site_broker]
url = "mqtt://hub.local"
username = "kiosk-1"
password_file = "secret"

[central_broker]
url = "mqtts://central.example.fi:8884"
ca_file = "/etc/ssl/ca.pem"

[printer]
connection = "serial:/dev/ttyUSB0"
"""


def test_device_config_and_broker_urls(tmp_path):
    (tmp_path / "secret").write_text("s3cret\n")
    p = tmp_path / "device.toml"
    p.write_text(DEVICE.replace('password_file = "secret"', f'password_file = "{tmp_path / "secret"}"'))
    d = load_device(p)
    assert (d.id, d.role, d.site) == ("kiosk-1", "kiosk", "example-pp")
    assert d.store == "/var/lib/palvelupiste/events.sqlite" and d.site_config == "/var/lib/palvelupiste/site.toml"
    assert (d.site_broker.host, d.site_broker.port, d.site_broker.tls) == ("hub.local", 1883, False)
    assert (d.central_broker.host, d.central_broker.port, d.central_broker.tls) == ("central.example.fi", 8884, True)
    assert d.site_broker.password() == "s3cret" and d.central_broker.password() is None
    assert d.section("printer") == {"connection": "serial:/dev/ttyUSB0"} and d.section("kiosk") == {}
    assert Broker("mqtts://h").port == 8883 and Broker("mqtt://h:1884/").port == 1884


def test_device_paths_are_relative_to_the_file(tmp_path):
    doc_ = {"device": {"id": "hub-1", "role": "hub", "site": "example-pp"}}
    d = parse_device(doc_, base=Path("conf"))
    assert d.data_dir == "conf/data" and d.store == "conf/data/events.sqlite" and d.site_config == "conf/data/site.toml"
    d = parse_device({"device": {**doc_["device"], "store": "x.sqlite", "site_config": "/etc/site.toml"}},
                     base=Path("/etc/pp"))
    assert d.store == "/etc/pp/x.sqlite" and d.site_config == "/etc/site.toml"
    assert d.site_broker is None and d.central_broker is None


@pytest.mark.parametrize("change,field", [
    ({"device": {"id": "kiosk 1", "role": "kiosk", "site": "s"}}, "device.id"),
    ({"device": {"id": "k", "role": "toaster", "site": "s"}}, "device.role"),
    ({"device": {"id": "k", "role": "kiosk", "site": ""}}, "device.site"),
    ({"device": {"id": "k", "role": "kiosk", "site": "s", "data_dir": 5}}, "device.data_dir"),
    ({"device": {"id": "k", "role": "kiosk", "site": "s", "store": ["x"]}}, "device.store"),
    ({"site_broker": {"url": "http://hub"}}, "site_broker.url"),
    ({"site_broker": {"url": "mqtt://hub:99999"}}, "site_broker.url"),
    ({"site_broker": {"url": "mqtt://hub:0"}}, "site_broker.url"),
    ({"site_broker": {}}, "site_broker.url"),
    ({"central_broker": {"url": "mqtts://c", "pasword_file": "x"}}, "central_broker.pasword_file"),
    ({"device": {"id": "k", "role": "kiosk", "site": "s", "data_dri": "/x"}}, "device.data_dri"),
])
def test_device_errors_name_the_field(change, field):
    doc_ = {"device": {"id": "k", "role": "kiosk", "site": "s"}, **change}
    with pytest.raises(ConfigError) as exc:
        parse_device(doc_)
    assert field in {i.field for i in exc.value.issues}
    assert all(len(i.message) > 10 for i in exc.value.issues), exc.value  # says what is wrong
    with pytest.raises(ConfigError) as exc:
        parse_device({})
    assert exc.value.issues[0].field == "device"


def test_broker_url_errors():
    for url in ("mqtt://", "tcp://h:1883", "mqtt://h:port", "mqtt://h:1883/x", ""):
        with pytest.raises(ValueError):
            Broker(url).port


# --- i18n ----------------------------------------------------------------------------------

WINTER = int(_dt.datetime(2026, 11, 23, 12, 30, tzinfo=_dt.timezone.utc).timestamp() * 1000)  # 14:30 EET
SUMMER = int(_dt.datetime(2026, 7, 1, 12, 30, tzinfo=_dt.timezone.utc).timestamp() * 1000)  # 15:30 EEST


def test_translator_formats_helsinki_time_per_language():
    fi, sv, en = (i18n.translator(lang, "core") for lang in ("fi", "sv", "en"))
    assert fi.format_time(WINTER) == "14.30" and fi.format_time(SUMMER) == "15.30"
    assert sv.format_time(WINTER) == "14:30" and sv.format_time(SUMMER) == "15:30"
    assert en.format_time(WINTER).replace("\u202f", " ") == "2:30 PM"
    assert fi.format_date(WINTER) == "23.11.2026" and sv.format_date(WINTER) == "2026-11-23"
    # A datetime works as well as epoch ms; the site's time zone is what counts.
    dt = _dt.datetime(2026, 11, 23, 22, 30, tzinfo=_dt.timezone.utc)
    assert fi.format_date(dt) == "24.11.2026"
    assert i18n.translator("fi", "core", tz="UTC").format_time(WINTER) == "12.30"
    assert "15" in fi.format_minutes(15) and fi.format_minutes(15) != en.format_minutes(15)
    assert fi.format_number(1234.5).replace("\xa0", " ") == "1 234,5"
    assert i18n.native_name("sv") == "Svenska" and i18n.native_name("uk") == "Українська"
    assert i18n.native_name("xx") == "xx"


PO_HEADER = 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n"Plural-Forms: nplurals=2; plural=(n != 1);\\n"\n\n'


def write_po(root: Path, lang: str, domain: str, body: str) -> None:
    d = root / lang / "LC_MESSAGES"
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{domain}.po").write_text(PO_HEADER + body, encoding="utf-8")


@pytest.fixture
def temp_locale(tmp_path, monkeypatch):
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    i18n._translations.cache_clear()
    yield tmp_path
    i18n._translations.cache_clear()


def test_missing_translations_on_a_temp_catalog(temp_locale):
    write_po(temp_locale, "en", "demo", 'msgid "Take a number"\nmsgstr ""\n\nmsgid "Thank you"\nmsgstr ""\n\n'
             'msgid "One person ahead"\nmsgid_plural "{n} people ahead"\nmsgstr[0] ""\nmsgstr[1] ""\n\n'
             'msgid "Help"\nmsgstr ""\n')
    write_po(temp_locale, "fi", "demo", 'msgid "Take a number"\nmsgstr "Ota vuoronumero"\n\n'
             '#, fuzzy\nmsgid "Thank you"\nmsgstr "Kiitos"\n\n'
             'msgid "One person ahead"\nmsgid_plural "{n} people ahead"\nmsgstr[0] "Yksi edellä"\nmsgstr[1] ""\n')
    assert i18n.missing_translations("demo", "fi") == ["Thank you", "One person ahead", "Help"]
    assert i18n.missing_translations("demo", "sv") == ["Take a number", "Thank you", "One person ahead", "Help"]
    assert i18n.missing_translations("nodomain", "fi") == ["<no English catalog for domain nodomain>"]
    # Compiled, the catalog translates; an uncompiled one says so instead of showing English.
    write_po(temp_locale, "sv", "demo", 'msgid "Take a number"\nmsgstr "Ta en kölapp"\n')
    assert i18n.compile_all() == 3
    assert i18n.translator("fi", "demo")("Take a number") == "Ota vuoronumero"
    assert i18n.translator("fi", "demo")("Thank you") == "Thank you"  # fuzzy is not used
    assert i18n.translator("sv", "demo").gettext("Take a number") == "Ta en kölapp"
    assert i18n.translator("en", "demo")("Help") == "Help"
    write_po(temp_locale, "et", "demo", 'msgid "Take a number"\nmsgstr "Võta number"\n')
    with pytest.raises(RuntimeError, match="not compiled"):
        i18n.translator("et", "demo")("Take a number")
    assert i18n.compile_all() == 1  # only what changed


def test_an_offered_language_without_a_site_text_is_refused():
    """Offering Arabic while a service has no Arabic name would show the citizen another
    language without saying so: the check names each text and the missing language."""
    import re

    text = EXAMPLE.read_text(encoding="utf-8")
    text = re.sub(r'^ar = "الشباك 1"\n', "", text, count=1, flags=re.M)  # counter 1's name
    kela = text.index('id = "kela"')
    cut = text.index("\nar = ", kela)
    text = text[:cut] + text[text.index("\n", cut + 1):]  # Kela's Arabic name
    with pytest.raises(ConfigError) as e:
        loads_site(text, "example.toml")
    msgs = {i.field: i.message for i in e.value.issues}
    assert msgs["services[1] (kela).name"] == "no text in ar, which site.languages offers"
    assert msgs["counters[0] (1).name"] == "no text in ar, which site.languages offers"
    # Not offered, not needed: the same file without Arabic in site.languages is fine.
    ok = text.replace('"so", "ar", "fa"', '"so", "fa"')
    assert "ar" not in loads_site(ok, "example.toml").languages


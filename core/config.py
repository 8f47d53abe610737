"""Site and device configuration: TOML in, validated frozen objects out.

`load_site(path)` raises ConfigError carrying every problem found, each naming the field
("services[3] (vero).name.sv") and what is wrong, so a technician can fix a file in one pass.
The sections are declared once, as data (core.schema): SITE_FILE for the site file; DEVICE and
BROKER for the device file's own tables (each app declares its section beside the app).
"""
from __future__ import annotations

import datetime as _dt
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .events import valid_id
from .i18n import CITIZEN
from .national import AUTHORITIES, REGIONS
from .schema import (
    REQUIRED,
    Check,
    Choice,
    ConfigError,
    Field,
    Int,
    Invalid,
    Issue,
    ListOf,
    Number,
    Section,
    Table,
    Tables,
    Text,
    Texts,
    Type,
    build,
    parse,
)

REQUIRED_LANGS = ("fi", "sv", "en")
KNOWN_LANGS = CITIZEN  # every language with the citizen devices' catalogs (core/i18n.py)
LANG_NAMES = {"fi": "Finnish", "sv": "Swedish", "en": "English"}
#: the sections a device file of each role may carry beyond COMMON_SECTIONS (their schemas live
#: beside their owners: appliance.sections gathers them; appliance.roles is the rest of the registry)
ROLE_SECTIONS: dict[str, tuple[str, ...]] = {
    "hub": ("hub",),
    "kiosk": ("kiosk", "printer"),
    "display": ("display",),
    "counter": ("counter",),
    "feedback": ("feedback",),
}
ROLES = tuple(ROLE_SECTIONS)
#: the sections every device file may have
COMMON_SECTIONS = ("device", "site_broker", "central_broker", "sync")


def allowed_sections(role: str) -> tuple[str, ...]:
    """Every section a device file of `role` may carry (KeyError for an unknown role)."""
    return COMMON_SECTIONS + ROLE_SECTIONS[role]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Both used with fullmatch(): with match(), "$" also accepts a trailing newline ("K\n").
_PREFIX_RE = re.compile(r"^[A-Z]{1,2}$")
_HOURS_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")
#: "…-24:00": open until midnight (a time of day cannot be 24:00; the day's last instant stands in).
END_OF_DAY = _dt.time.max


@dataclass(frozen=True)
class Service:
    id: str
    prefix: str
    name: dict[str, str]
    description: dict[str, str]
    default_service_min: float
    target_wait_min: float
    general_advice: bool = False
    #: The national authority it is reported under (core.national); None: decided by its id.
    authority: str | None = None
    #: The outcomes a clerk may tap on finishing (ids of the site's [[outcomes]]), in this order.
    outcomes: tuple[str, ...] = ()

    def label(self, lang: str) -> str:
        return self.name.get(lang) or self.name["en"]

    def describe(self, lang: str) -> str:
        return self.description.get(lang) or self.description.get("en", "")


Span = tuple[_dt.time, _dt.time]


@dataclass(frozen=True)
class Counter:
    id: str
    kind: str  # "counter" or "room"
    name: dict[str, str]
    services: tuple[str, ...]
    #: Planned hours per weekday ("mon"…, or "*" for every day the site is open); None: the
    #: site's opening hours. Always within the site's hours of the day (core.hours clips them).
    hours: dict[str, Span | None] | None = None
    breaks: tuple[Span, ...] = ()  # planned breaks, every day

    def label(self, lang: str) -> str:
        return self.name.get(lang) or self.name["en"]


@dataclass(frozen=True)
class AppointmentWindow:
    early_min: int = 30
    late_min: int = 10


@dataclass(frozen=True)
class Site:
    id: str
    name: dict[str, str]
    timezone: str
    languages: tuple[str, ...]
    default_language: str
    opening_hours: dict[str, tuple[_dt.time, _dt.time] | None]
    services: dict[str, Service]
    counters: dict[str, Counter]
    appointments: AppointmentWindow
    devices: dict[str, str] = field(default_factory=dict)  # device id -> role
    #: Dates ("2026-12-24") whose opening hours differ from the weekday's: a span, or None (closed).
    opening_exceptions: dict[str, Span | None] = field(default_factory=dict)
    #: Outcomes a clerk may record on finishing: id -> name per language.
    outcomes: dict[str, dict[str, str]] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    region: str | None = None           # core.national.REGIONS
    municipality: str | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def hours_configured(self) -> bool:
        """Whether the file has [opening_hours]; without it the site counts as always open."""
        return isinstance(self.raw.get("opening_hours"), dict)

    def label(self, lang: str) -> str:
        return self.name.get(lang) or self.name["en"]

    def general_advice_service(self) -> Service | None:
        return next((s for s in self.services.values() if s.general_advice), None)


# --- types of the site file ------------------------------------------------------------------

_ID_RULE = "must be a short id of letters, digits, '-' or '_'"
ID = Text(test=lambda v: None if valid_id(v) else _ID_RULE, label="a short id", message=_ID_RULE)
#: The device id of the site broker's bridge to the central broker, where it logs in as
#: "<site>.bridge" (bus.brokerconf.bridge_username): no device of a site may have it, or the two would
#: share one central user name.
BRIDGE_DEVICE_ID = "bridge"
RESERVED_DEVICE_IDS = (BRIDGE_DEVICE_ID,)


def device_id_problem(value: str) -> str | None:
    """What is wrong with `value` as a device's id, or None."""
    if not valid_id(value):
        return _ID_RULE
    if value in RESERVED_DEVICE_IDS:
        return (f"{value!r} is reserved: the site broker's bridge logs in to the central broker as "
                f"\"<site>.{value}\"; give the device another id")
    return None


DEVICE_ID = Text(test=device_id_problem, label="a short id", message=_ID_RULE)
NAMES = Texts(required=REQUIRED_LANGS, known=KNOWN_LANGS, names=LANG_NAMES)


def _zone_problem(name: str) -> str | None:
    try:
        # A bare "Helsinki" or "EET+2" would load from some tz databases and not others.
        if "/" not in name and name != "UTC":
            raise ZoneInfoNotFoundError(name)
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {name!r} (e.g. \"Europe/Helsinki\")"
    return None


class Hours(Type):
    """ "HH:MM-HH:MM" as (opens, closes), or "closed" (also "") as None."""

    label = '"HH:MM-HH:MM" or "closed"'

    def check(self, value, ctx):
        if value in ("", "closed"):
            return None
        midnight = isinstance(value, str) and value.endswith("-24:00")
        m = _HOURS_RE.fullmatch(value[:-5] + "23:59" if midnight else value) if isinstance(value, str) else None
        if not m:
            raise Invalid('must be "HH:MM-HH:MM" or "closed"')
        start = _dt.time(int(m[1]), int(m[2]))
        end = END_OF_DAY if midnight else _dt.time(int(m[3]), int(m[4]))
        if end <= start:
            raise Invalid("closes before it opens")
        return start, end


class WeekHours(Type):
    """A counter's planned hours: one "HH:MM-HH:MM" for every day the site is open, or a table
    per weekday ({ mon = "08:00-12:00", fri = "closed" }; a day left out: the site's hours)."""

    label = '"HH:MM-HH:MM" or a table of them per weekday'

    def check(self, value, ctx):
        if isinstance(value, str):
            return {"*": Hours().check(value, ctx)}
        if not isinstance(value, dict):
            raise Invalid(f"must be {self.label}")
        out, bad = {}, []
        for day, v in value.items():
            if day not in WEEKDAYS:
                bad.append(f"{day!r} is not a weekday ({', '.join(WEEKDAYS)})")
                continue
            try:
                out[day] = Hours().check(v, ctx)
            except Invalid as exc:
                bad.append(f"{day}: {exc}")
        if bad:
            raise Invalid("; ".join(bad))
        return out


class BreakSpan(Type):
    """ "HH:MM-HH:MM" (a break): never "closed"."""

    label = '"HH:MM-HH:MM"'

    def check(self, value, ctx):
        span = Hours().check(value, ctx)
        if span is None:
            raise Invalid('must be "HH:MM-HH:MM"')
        return span


def _date_problem(value: str) -> str | None:
    try:
        _dt.date.fromisoformat(value)
    except ValueError:
        return 'must be a date like "2026-12-24"'
    return None if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) else 'must be a date like "2026-12-24"'


# --- the site file's sections ----------------------------------------------------------------

def _site_languages(v: dict[str, Any], ctx: Mapping[str, Any]) -> list[tuple[str, str]]:
    out = [("languages", f"must offer {lang!r} (Finnish, Swedish and English are always offered)")
           for lang in REQUIRED_LANGS if lang not in v["languages"]]
    if v["default_language"] not in v["languages"]:
        out.append(("default_language", f"{v['default_language']!r} is not among site.languages"))
    return out


SITE = Section("site", (
    Field("id", ID, REQUIRED, "the site's id; device files name it", example="example-pp"),
    Field("name", NAMES, REQUIRED, "the site's name per language", example={"fi": "…", "sv": "…", "en": "…"}),
    Field("timezone", Text(test=_zone_problem, label="a time zone name",
                             message='unknown time zone (e.g. "Europe/Helsinki")'), "Europe/Helsinki",
          "where the opening hours and the ticket times are"),
    Field("languages", ListOf(Choice(*KNOWN_LANGS, message="is not a known language code "
                                     f"(known: {', '.join(KNOWN_LANGS)})"), unique=True, what="language codes"),
          REQUIRED_LANGS, "the languages the devices offer, in this order (fi, sv, en always)"),
    Field("default_language", Text(label="a language code"), "fi",
          "the language the devices return to after a customer"),
    Field("region", Choice(*REGIONS, message="is not a region code (MK01 Uusimaa … MK21 Åland)"), None,
          "the region (maakunta) the national figures group the site under", example="MK01"),
    Field("municipality", Text(nonempty=True, label="a municipality's name"), None,
          "the municipality the site serves, as the figures name it", example="Helsinki"),
), checks=(Check(("languages", "default_language"), _site_languages),),
    description="the service point")

HOURS = Section("opening_hours", tuple(
    Field(day, Hours(), None, f"opening hours on {day}; missing: closed", example="08:00-16:00") for day in WEEKDAYS),
    noun="day", description="opening hours per weekday")

APPOINTMENTS = Section("appointments", (
    Field("early_min", Int(0, 240), 30, "a booked customer may check in this many minutes before the time"),
    Field("late_min", Int(0, 120), 10, "and this many minutes after it; later, the kiosk offers a walk-in number"),
), make=lambda v: AppointmentWindow(**v))


def _label_by_id(raw: dict[str, Any]) -> str | None:
    return raw.get("id") if valid_id(raw.get("id")) else None


SERVICE = Section("services", (
    Field("id", ID, REQUIRED, "the service's id", example="kela"),
    Field("prefix", Text(pattern=_PREFIX_RE.pattern, message="must be one or two capital letters A-Z",
                         label="one or two capital letters"), REQUIRED, "the ticket number's prefix", example="K"),
    Field("name", NAMES, REQUIRED, "the service's name per language", example={"fi": "…", "sv": "…", "en": "…"}),
    Field("description", NAMES, {}, "a line under the name on the kiosk, per language"),
    Field("default_service_min", Number(0.5, 240), 10.0, "minutes per customer until service times are learnt"),
    Field("target_wait_min", Number(0, 480), 20.0, "the wait the site aims at, in minutes"),
    Field("authority", Choice(*AUTHORITIES, message="is not an authority of the national list "
                              f"({', '.join(AUTHORITIES)})"), None,
          "the authority it is reported under nationally (default: its id, when that is one)", example="kela"),
    Field("general_advice", Choice(True, False, message="must be true or false"), False,
          "where \"I don't know which\" leads (exactly one service)"),
    Field("outcomes", ListOf(Text(nonempty=True, label="an outcome id"), unique=True, what="outcome ids"), (),
          "the outcomes a clerk may tap on finishing, ids of [[outcomes]] (none: no outcome is asked)",
          example=["advice", "application", "digital_support", "referred"]),
), make=lambda v: Service(**v), description="one service (an authority or a group); numbers run per service per day")

COUNTER = Section("counters", (
    Field("id", ID, REQUIRED, "the counter's or room's id", example="1"),
    Field("kind", Choice("counter", "room"), "counter", "a counter at the desk row or a separate room"),
    Field("name", NAMES, REQUIRED, "its name per language", example={"fi": "…", "sv": "…", "en": "…"}),
    Field("services", ListOf(Text(nonempty=True, label="a service id"), min_len=1, what="service ids"), REQUIRED,
          "the services it serves", missing="must list at least one service id", example=["kela"]),
    Field("hours", WeekHours(), None, "its planned hours (default: the site's opening hours); the wait "
          "estimates count on them", example="08:00-16:00"),
    Field("breaks", ListOf(BreakSpan(), what='"HH:MM-HH:MM" spans'), (), "its planned breaks, every day",
          example=["11:00-11:30"]),
), make=lambda v: Counter(**v), description="one counter or room")

EXCEPTION = Section("opening_exceptions", (
    Field("date", Text(test=_date_problem, label="a date", message='must be a date like "2026-12-24"'), REQUIRED,
          "the date, in the site's time zone", example="2026-12-24"),
    Field("hours", Hours(), None, 'the opening hours that day, or "closed"', example="08:00-12:00"),
), description="a date whose opening hours differ from its weekday's (a holiday, a closed afternoon)")

OUTCOME = Section("outcomes", (
    Field("id", ID, REQUIRED, "the outcome's id (it goes into the monthly figures)", example="advice"),
    Field("name", NAMES, REQUIRED, "its name on the counter panel, per language",
          example={"fi": "…", "sv": "…", "en": "…"}),
), description="an outcome a clerk may record when finishing a customer (nothing about the person)")

DEVICE_ENTRY = Section("devices", (
    Field("id", DEVICE_ID, REQUIRED, "the device's id", example="kiosk-1"),
    Field("role", Choice(*ROLES, message=f"must be one of {', '.join(ROLES)}"), REQUIRED, "what the device does",
          example="kiosk"),
), description="one device of the site")


def _entry(name: str, i: int, e: dict[str, Any]) -> str:
    return f"{name}[{i}] ({e['id']})" if e.get("id") else f"{name}[{i}]"


def _check_services(v: dict[str, Any], ctx: Mapping[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    ids: set[str] = set()
    prefixes: dict[str, str] = {}
    for i, s in enumerate(v["services"]):
        if not s or not s["id"]:
            continue
        where = _entry("services", i, s)
        if s["id"] in ids:
            out.append((f"{where}.id", "duplicate service id"))
        ids.add(s["id"])
        p = s["prefix"]
        if p in prefixes:
            out.append((f"{where}.prefix", f"duplicate prefix {p!r}, already used by {prefixes[p]!r}"))
        elif p:
            prefixes[p] = s["id"]
    advice = [s["id"] for s in v["services"] if s and s["id"] and s["general_advice"] is True]
    if len(advice) != 1:
        out.append(("services", "exactly one service must have general_advice = true "
                                "(where \"I don't know which\" leads)" + (f"; found {advice}" if advice else "")))
    return out


def _check_counters(v: dict[str, Any], ctx: Mapping[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    services = {s["id"] for s in v["services"] if s and s["id"]}
    seen: set[str] = set()
    served: set[str] = set()
    for i, c in enumerate(v["counters"]):
        if not c or not c["id"]:
            continue
        where = _entry("counters", i, c)
        if c["id"] in seen:
            out.append((f"{where}.id", "duplicate counter id"))
        seen.add(c["id"])
        for sid in c["services"] or ():
            if sid not in services:
                out.append((f"{where}.services", f"unknown service {sid!r}"))
        served.update(c["services"] or ())
    out += [(f"services ({sid})", "no counter serves this service") for sid in sorted(services - served)]
    return out


def _check_exceptions(v: dict[str, Any], ctx: Mapping[str, Any]) -> list[tuple[str, str]]:
    seen: set[str] = set()
    out = []
    for i, e in enumerate(v["opening_exceptions"]):
        if e and e["date"]:
            if e["date"] in seen:
                out.append((f"opening_exceptions[{i}].date", "the date is listed twice"))
            seen.add(e["date"])
    return out


def _check_outcomes(v: dict[str, Any], ctx: Mapping[str, Any]) -> list[tuple[str, str]]:
    known = {o["id"] for o in v["outcomes"] if o and o["id"]}
    out = []
    if len(known) != len([o for o in v["outcomes"] if o and o["id"]]):
        out.append(("outcomes", "an outcome id is listed twice"))
    for i, s in enumerate(v["services"]):
        for oid in (s or {}).get("outcomes") or ():
            if oid not in known:
                out.append((f"{_entry('services', i, s)}.outcomes", f"unknown outcome {oid!r} (declare it in [[outcomes]])"))
    return out


def _check_site_texts(v: dict[str, Any], ctx: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every language the site offers has every text a citizen sees: the site's name, each
    service's name and description and each counter's name (the display and the phone page
    send people to it). A missing one would show another language without saying so."""
    site = v["site"] or {}
    langs = [lang for lang in site.get("languages") or () if lang not in REQUIRED_LANGS]
    if not langs:
        return []
    texts: list[tuple[str, Any]] = [("site.name", site.get("name"))]
    for i, s in enumerate(v["services"]):
        if s:
            texts.append((f"{_entry('services', i, s)}.name", s.get("name")))
            if s.get("description"):
                texts.append((f"{_entry('services', i, s)}.description", s.get("description")))
    for i, c in enumerate(v["counters"]):
        if c:
            texts.append((f"{_entry('counters', i, c)}.name", c.get("name")))
    out = []
    for where, text in texts:
        if not isinstance(text, dict):
            continue  # reported where it was parsed
        missing = [lang for lang in langs if not text.get(lang)]
        if missing:
            out.append((where, f"no text in {', '.join(missing)}, which site.languages offers"))
    return out


def _check_devices(v: dict[str, Any], ctx: Mapping[str, Any]) -> list[tuple[str, str]]:
    seen: set[str] = set()
    out = []
    for i, d in enumerate(v["devices"]):
        if d and d["id"]:
            if d["id"] in seen:
                out.append((f"devices[{i}].id", "duplicate device id"))
            seen.add(d["id"])
    return out


SITE_FILE = Section("", (
    Field("site", Table(SITE), REQUIRED, missing="missing [site] table"),
    Field("opening_hours", Table(HOURS)),
    Field("appointments", Table(APPOINTMENTS)),
    Field("services", Tables(SERVICE, min_len=1, label=_label_by_id), REQUIRED,
          missing="at least one [[services]] entry is needed"),
    Field("counters", Tables(COUNTER, min_len=1, label=_label_by_id), REQUIRED,
          missing="at least one [[counters]] entry is needed"),
    Field("devices", Tables(DEVICE_ENTRY), []),
    Field("opening_exceptions", Tables(EXCEPTION, label=lambda raw: raw.get("date") if isinstance(raw.get("date"), str)
                                       else None), []),
    Field("outcomes", Tables(OUTCOME, label=_label_by_id), []),
), checks=(Check(("services",), _check_services), Check(("services", "counters"), _check_counters),
           Check(("devices",), _check_devices), Check(("opening_exceptions",), _check_exceptions),
           Check(("services", "outcomes"), _check_outcomes),
           Check(("site", "services", "counters"), _check_site_texts)),
    noun="section", description="a site configuration file")


def parse_site(doc: dict[str, Any], source: str = "<site>") -> Site:
    if not isinstance(doc.get("site"), dict):
        # Without it nothing else can be placed; one clear line beats a page of follow-on errors.
        raise ConfigError(source, [Issue("site", "missing [site] table")])
    values, issues = parse(SITE_FILE, doc, "")
    if issues:
        raise ConfigError(source, issues)
    v = build(SITE_FILE, values)
    s = v["site"]
    return Site(id=s["id"], name=s["name"], timezone=s["timezone"], languages=s["languages"],
                default_language=s["default_language"], opening_hours=v["opening_hours"],
                services={x.id: x for x in v["services"]}, counters={x.id: x for x in v["counters"]},
                appointments=v["appointments"], devices={d["id"]: d["role"] for d in v["devices"]},
                opening_exceptions={e["date"]: e["hours"] for e in v["opening_exceptions"]},
                outcomes={o["id"]: o["name"] for o in v["outcomes"]}, raw=doc,
                region=s["region"], municipality=s["municipality"])


def load_site(path: str | Path) -> Site:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [Issue("file", f"cannot read: {exc.strerror or exc}")]) from None
    return loads_site(text, str(path))


def loads_site(text: str, source: str = "<site>") -> Site:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [Issue("toml", str(exc))]) from None
    return parse_site(doc, source)


# --- device configuration --------------------------------------------------------------------

@dataclass(frozen=True)
class Broker:
    url: str
    username: str | None = None
    password_file: str | None = None
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None

    @property
    def host(self) -> str:
        return _split_url(self.url)[1]

    @property
    def port(self) -> int:
        return _split_url(self.url)[2]

    @property
    def tls(self) -> bool:
        return _split_url(self.url)[0] == "mqtts"

    def password(self) -> str | None:
        if not self.password_file:
            return None
        return Path(self.password_file).read_text(encoding="utf-8").strip()


def _split_url(url: str) -> tuple[str, str, int]:
    m = re.match(r"^(mqtts?)://([^:/]+)(?::(\d+))?/?$", url or "")
    if not m:
        raise ValueError(f"broker url {url!r} must look like mqtt://host:1883 or mqtts://host:8883")
    scheme, host, port = m[1], m[2], m[3]
    if port and not 1 <= int(port) <= 65535:
        raise ValueError(f"broker url {url!r}: port must be 1 to 65535")
    return scheme, host, int(port) if port else (8883 if scheme == "mqtts" else 1883)


@dataclass(frozen=True)
class Device:
    id: str
    role: str
    site: str
    site_config: str
    data_dir: str
    store: str
    site_broker: Broker | None
    central_broker: Broker | None
    sections: dict[str, Any] = field(default_factory=dict, compare=False)

    def section(self, name: str) -> dict[str, Any]:
        """A role's own section ([kiosk], [printer], [display], ...) as the TOML gave it."""
        v = self.sections.get(name, {})
        return v if isinstance(v, dict) else {}


def _url_problem(url: str) -> str | None:
    try:
        _split_url(url)
    except ValueError as exc:
        return str(exc)
    return None


_PATH = Text(nonempty=True, message="must be a path (text)", label="a path")

BROKER = Section("broker", (
    Field("url", Text(test=_url_problem, label="mqtt://host:port or mqtts://host:port"), REQUIRED,
          "the broker", missing="missing broker url", example="mqtts://broker.example.fi:8883"),
    Field("username", Text(), None, "the device's user name on that broker"),
    Field("password_file", _PATH, None, "a file holding the password (never the password itself)"),
    Field("ca_file", _PATH, None, "the CA certificate(s) to trust for TLS"),
    Field("cert_file", _PATH, None, "a client certificate"),
    Field("key_file", _PATH, None, "the client certificate's key"),
), make=lambda v: Broker(**v), description="an MQTT broker ([site_broker]: the site's; [central_broker]: the centre's)")

DEVICE = Section("device", (
    Field("id", DEVICE_ID, REQUIRED, "this device's id (as in the site file's [[devices]])", example="kiosk-1"),
    Field("role", Choice(*ROLES, message=f"must be one of {', '.join(ROLES)}"), REQUIRED,
          "what this device does", example="kiosk"),
    Field("site", ID, REQUIRED, "the site's id", example="example-pp"),
    Field("data_dir", _PATH, "data", "the device's data folder (relative: to this file's folder)"),
    Field("store", _PATH, None, "the event store; default <data_dir>/events.sqlite"),
    Field("site_config", _PATH, None, "the site file; default <data_dir>/site.toml"),
), description="this device")

#: the device file's own tables; every other table belongs to a role (appliance.sections)
DEVICE_TABLES = ("device", "site_broker", "central_broker")


def parse_device(doc: dict[str, Any], source: str = "<device>", base: Path | None = None) -> Device:
    if not isinstance(doc.get("device"), dict):
        raise ConfigError(source, [Issue("device", "missing [device] table")])
    d, issues = parse(DEVICE, doc["device"])
    brokers: dict[str, Broker | None] = {}
    for name in ("site_broker", "central_broker"):
        values, more = parse(BROKER, doc[name], name) if name in doc else (None, [])
        issues += more
        brokers[name] = build(BROKER, values) if values is not None and not more else None
    if issues:
        raise ConfigError(source, issues)
    base = base or Path(".")

    def under_base(p: str) -> str:
        return p if p.startswith("/") else str(base / p)

    data_dir = under_base(d["data_dir"])
    # The defaults derive from data_dir, which already has the base: joining the base again
    # gave conf/conf/data/... whenever the device file was loaded by a relative path.
    store = under_base(d["store"]) if d["store"] else str(Path(data_dir) / "events.sqlite")
    site_config = under_base(d["site_config"]) if d["site_config"] else str(Path(data_dir) / "site.toml")
    sections = {k: v for k, v in doc.items() if k not in DEVICE_TABLES}
    return Device(id=d["id"], role=d["role"], site=d["site"], site_config=site_config, data_dir=data_dir,
                  store=store, site_broker=brokers["site_broker"], central_broker=brokers["central_broker"],
                  sections=sections)


def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML file as a dict; ConfigError("file"/"toml") when it cannot be read or parsed."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(str(path), [Issue("file", f"cannot read: {exc.strerror or exc}")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [Issue("toml", str(exc))]) from None


def load_device(path: str | Path, role: str | None = None) -> Device:
    """The device file at `path`; with `role`, a file of another role is a ConfigError naming
    device.role (a kiosk's file given to the display must not half-start a display)."""
    path = Path(path)
    device = parse_device(read_toml(path), str(path), base=path.parent)
    if role is not None and device.role != role:
        raise ConfigError(str(path), [Issue("device.role", f"is {device.role!r}, but this command runs "
                                                           f"the {role!r}: give it a {role}'s configuration")])
    return device

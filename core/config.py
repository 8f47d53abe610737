"""Site and device configuration: TOML in, validated frozen objects out.

`load_site(path)` raises ConfigError carrying every problem found, each naming the field
("services[3].name.sv") and what is wrong, so a technician can fix a file in one pass.
"""
from __future__ import annotations

import datetime as _dt
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .events import valid_id

REQUIRED_LANGS = ("fi", "sv", "en")
KNOWN_LANGS = ("fi", "sv", "en", "ru", "et", "uk", "so", "ar", "fa")
ROLES = ("hub", "kiosk", "display", "counter", "feedback")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Both used with fullmatch(): with match(), "$" also accepts a trailing newline ("K\n").
_PREFIX_RE = re.compile(r"^[A-Z]{1,2}$")
_HOURS_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class Issue:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class ConfigError(Exception):
    def __init__(self, source: str, issues: list[Issue]) -> None:
        self.source = source
        self.issues = issues
        super().__init__(f"{source}: " + "; ".join(map(str, issues)))

    def report(self) -> str:
        """Every problem on its own line, for a technician fixing the file in one pass."""
        return "\n".join([f"{self.source}: {len(self.issues)} problem(s):",
                          *(f"  {i.field}: {i.message}" for i in self.issues)])


@dataclass(frozen=True)
class Service:
    id: str
    prefix: str
    name: dict[str, str]
    description: dict[str, str]
    default_service_min: float
    target_wait_min: float
    general_advice: bool = False

    def label(self, lang: str) -> str:
        return self.name.get(lang) or self.name["en"]

    def describe(self, lang: str) -> str:
        return self.description.get(lang) or self.description.get("en", "")


@dataclass(frozen=True)
class Counter:
    id: str
    kind: str  # "counter" or "room"
    name: dict[str, str]
    services: tuple[str, ...]

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
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def label(self, lang: str) -> str:
        return self.name.get(lang) or self.name["en"]

    def general_advice_service(self) -> Service | None:
        return next((s for s in self.services.values() if s.general_advice), None)


def _names(obj: Any, where: str, issues: list[Issue], required: tuple[str, ...] = REQUIRED_LANGS) -> dict[str, str]:
    if not isinstance(obj, dict):
        issues.append(Issue(where, "must be a table of names per language (fi, sv, en)"))
        return {}
    out = {}
    for lang in required:
        v = obj.get(lang)
        if not isinstance(v, str) or not v.strip():
            lang_name = {"fi": "Finnish", "sv": "Swedish", "en": "English"}.get(lang, lang)
            issues.append(Issue(f"{where}.{lang}", f"missing {lang_name} text"))
    for lang, v in obj.items():
        if lang not in KNOWN_LANGS:
            issues.append(Issue(f"{where}.{lang}", f"unknown language code (known: {', '.join(KNOWN_LANGS)})"))
        elif not isinstance(v, str):
            issues.append(Issue(f"{where}.{lang}", "must be text"))
        else:
            out[lang] = v.strip()
    return out


def _number(obj: Any, where: str, issues: list[Issue], default: float, lo: float, hi: float) -> float:
    if obj is None:
        return default
    if isinstance(obj, bool) or not isinstance(obj, (int, float)) or not lo <= obj <= hi:
        issues.append(Issue(where, f"must be a number from {lo:g} to {hi:g}"))
        return default
    return float(obj)


def _hours(obj: Any, issues: list[Issue]) -> dict[str, tuple[_dt.time, _dt.time] | None]:
    out: dict[str, tuple[_dt.time, _dt.time] | None] = {d: None for d in WEEKDAYS}
    if obj is None:
        return out
    if not isinstance(obj, dict):
        issues.append(Issue("opening_hours", "must be a table like mon = \"08:00-16:00\""))
        return out
    for day, span in obj.items():
        where = f"opening_hours.{day}"
        if day not in WEEKDAYS:
            issues.append(Issue(where, f"unknown day (use {', '.join(WEEKDAYS)})"))
            continue
        if span in ("", "closed"):
            continue
        m = _HOURS_RE.fullmatch(span) if isinstance(span, str) else None
        if not m:
            issues.append(Issue(where, "must be \"HH:MM-HH:MM\" or \"closed\""))
            continue
        start = _dt.time(int(m[1]), int(m[2]))
        end = _dt.time(int(m[3]), int(m[4]))
        if end <= start:
            issues.append(Issue(where, "closes before it opens"))
            continue
        out[day] = (start, end)
    return out


def parse_site(doc: dict[str, Any], source: str = "<site>") -> Site:
    issues: list[Issue] = []
    site = doc.get("site")
    if not isinstance(site, dict):
        raise ConfigError(source, [Issue("site", "missing [site] table")])
    site_id = site.get("id")
    if not valid_id(site_id):
        issues.append(Issue("site.id", "must be a short id of letters, digits, '-', '_' or '.'"))
    name = _names(site.get("name"), "site.name", issues)
    tzname = site.get("timezone", "Europe/Helsinki")
    try:
        if not isinstance(tzname, str) or "/" not in tzname and tzname != "UTC":
            raise ZoneInfoNotFoundError(tzname)
        ZoneInfo(tzname)
    except (ZoneInfoNotFoundError, ValueError):
        issues.append(Issue("site.timezone", f"unknown time zone {tzname!r} (e.g. \"Europe/Helsinki\")"))
        tzname = "Europe/Helsinki"
    langs = site.get("languages", list(REQUIRED_LANGS))
    if not isinstance(langs, list) or not all(isinstance(x, str) for x in langs):
        issues.append(Issue("site.languages", "must be a list of language codes"))
        langs = list(REQUIRED_LANGS)
    for lang in langs:
        if lang not in KNOWN_LANGS:
            issues.append(Issue("site.languages", f"unknown language code {lang!r}"))
    for lang in REQUIRED_LANGS:
        if lang not in langs:
            issues.append(Issue("site.languages", f"must offer {lang!r} (Finnish, Swedish and English are always offered)"))
    if len(set(langs)) != len(langs):
        issues.append(Issue("site.languages", "a language is listed twice"))
    default_lang = site.get("default_language", "fi")
    if default_lang not in langs:
        issues.append(Issue("site.default_language", f"{default_lang!r} is not among site.languages"))

    hours = _hours(doc.get("opening_hours"), issues)

    appt = doc.get("appointments", {})
    if not isinstance(appt, dict):
        issues.append(Issue("appointments", "must be a table"))
        appt = {}
    window = AppointmentWindow(
        early_min=int(_number(appt.get("early_min"), "appointments.early_min", issues, 30, 0, 240)),
        late_min=int(_number(appt.get("late_min"), "appointments.late_min", issues, 10, 0, 120)),
    )

    services: dict[str, Service] = {}
    prefixes: dict[str, str] = {}
    raw_services = doc.get("services")
    if not isinstance(raw_services, list) or not raw_services:
        issues.append(Issue("services", "at least one [[services]] entry is needed"))
        raw_services = []
    for i, s in enumerate(raw_services):
        where = f"services[{i}]"
        if not isinstance(s, dict):
            issues.append(Issue(where, "must be a table"))
            continue
        sid = s.get("id")
        if not valid_id(sid):
            issues.append(Issue(f"{where}.id", "must be a short id of letters, digits, '-', '_' or '.'"))
            continue
        where = f"services[{i}] ({sid})"
        if sid in services:
            issues.append(Issue(f"{where}.id", "duplicate service id"))
        prefix = s.get("prefix")
        if not isinstance(prefix, str) or not _PREFIX_RE.fullmatch(prefix):
            issues.append(Issue(f"{where}.prefix", "must be one or two capital letters A-Z"))
        elif prefix in prefixes:
            issues.append(Issue(f"{where}.prefix", f"duplicate prefix {prefix!r}, already used by {prefixes[prefix]!r}"))
        else:
            prefixes[prefix] = sid
        if not isinstance(s.get("general_advice", False), bool):  # "false" as text would count as true
            issues.append(Issue(f"{where}.general_advice", "must be true or false"))
        services[sid] = Service(
            id=sid, prefix=prefix if isinstance(prefix, str) else "?",
            name=_names(s.get("name"), f"{where}.name", issues),
            description=_names(s.get("description", {}), f"{where}.description", issues)
            if "description" in s else {},
            default_service_min=_number(s.get("default_service_min"), f"{where}.default_service_min", issues, 10, 0.5, 240),
            target_wait_min=_number(s.get("target_wait_min"), f"{where}.target_wait_min", issues, 20, 0, 480),
            general_advice=s.get("general_advice") is True,
        )
    advice = [s.id for s in services.values() if s.general_advice]
    if len(advice) != 1:
        issues.append(Issue("services", "exactly one service must have general_advice = true "
                            "(where \"I don't know which\" leads)" + (f"; found {advice}" if advice else "")))

    counters: dict[str, Counter] = {}
    raw_counters = doc.get("counters")
    if not isinstance(raw_counters, list) or not raw_counters:
        issues.append(Issue("counters", "at least one [[counters]] entry is needed"))
        raw_counters = []
    served: set[str] = set()
    for i, c in enumerate(raw_counters):
        where = f"counters[{i}]"
        if not isinstance(c, dict):
            issues.append(Issue(where, "must be a table"))
            continue
        cid = c.get("id")
        if not valid_id(cid):
            issues.append(Issue(f"{where}.id", "must be a short id of letters, digits, '-', '_' or '.'"))
            continue
        where = f"counters[{i}] ({cid})"
        if cid in counters:
            issues.append(Issue(f"{where}.id", "duplicate counter id"))
        kind = c.get("kind", "counter")
        if kind not in ("counter", "room"):
            issues.append(Issue(f"{where}.kind", "must be \"counter\" or \"room\""))
        svc = c.get("services")
        if not isinstance(svc, list) or not svc:
            issues.append(Issue(f"{where}.services", "must list at least one service id"))
            svc = []
        for s_id in svc:
            # isinstance first: a TOML inline table here is unhashable and `in` would raise.
            if not isinstance(s_id, str) or s_id not in services:
                issues.append(Issue(f"{where}.services", f"unknown service {s_id!r}"))
        served.update(x for x in svc if isinstance(x, str))
        counters[cid] = Counter(id=cid, kind=kind, name=_names(c.get("name"), f"{where}.name", issues),
                                services=tuple(x for x in svc if isinstance(x, str)))
    for sid in services:
        if raw_counters and sid not in served:
            issues.append(Issue(f"services ({sid})", "no counter serves this service"))

    devices: dict[str, str] = {}
    for i, d in enumerate(doc.get("devices", []) or []):
        where = f"devices[{i}]"
        if not isinstance(d, dict) or not valid_id(d.get("id")):
            issues.append(Issue(f"{where}.id", "must be a short id"))
            continue
        if d.get("role") not in ROLES:
            issues.append(Issue(f"{where}.role", f"must be one of {', '.join(ROLES)}"))
            continue
        if d["id"] in devices:
            issues.append(Issue(f"{where}.id", "duplicate device id"))
        devices[d["id"]] = d["role"]

    known_top = {"site", "opening_hours", "appointments", "services", "counters", "devices"}
    for key in doc:
        if key not in known_top:
            issues.append(Issue(key, f"unknown section (known: {', '.join(sorted(known_top))})"))

    if issues:
        raise ConfigError(source, issues)
    return Site(id=site_id, name=name, timezone=tzname, languages=tuple(langs), default_language=default_lang,
                opening_hours=hours, services=services, counters=counters, appointments=window,
                devices=devices, raw=doc)


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


def _broker(obj: Any, where: str, issues: list[Issue]) -> Broker | None:
    if obj is None:
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("url"), str):
        issues.append(Issue(f"{where}.url", "missing broker url"))
        return None
    try:
        _split_url(obj["url"])
    except ValueError as exc:
        issues.append(Issue(f"{where}.url", str(exc)))
        return None
    allowed = {"url", "username", "password_file", "ca_file", "cert_file", "key_file"}
    for k in obj:
        if k not in allowed:
            issues.append(Issue(f"{where}.{k}", "unknown key"))
    return Broker(**{k: v for k, v in obj.items() if k in allowed})


def parse_device(doc: dict[str, Any], source: str = "<device>", base: Path | None = None) -> Device:
    issues: list[Issue] = []
    d = doc.get("device")
    if not isinstance(d, dict):
        raise ConfigError(source, [Issue("device", "missing [device] table")])
    for key in ("id", "site"):
        if not valid_id(d.get(key)):
            issues.append(Issue(f"device.{key}", "must be a short id of letters, digits, '-', '_' or '.'"))
    if d.get("role") not in ROLES:
        issues.append(Issue("device.role", f"must be one of {', '.join(ROLES)}"))
    base = base or Path(".")
    for key in ("data_dir", "store", "site_config"):
        # Checked before use: `base / 5` would raise instead of naming the field.
        if key in d and (not isinstance(d[key], str) or not d[key]):
            issues.append(Issue(f"device.{key}", "must be a path (text)"))
            d = {k: v for k, v in d.items() if k != key}

    def under_base(p: str) -> str:
        return p if p.startswith("/") else str(base / p)

    data_dir = under_base(d.get("data_dir", "data"))
    # The defaults derive from data_dir, which already has the base: joining the base again
    # gave conf/conf/data/... whenever the device file was loaded by a relative path.
    store = under_base(d["store"]) if d.get("store") else str(Path(data_dir) / "events.sqlite")
    site_config = under_base(d["site_config"]) if d.get("site_config") else str(Path(data_dir) / "site.toml")
    site_b = _broker(doc.get("site_broker"), "site_broker", issues)
    central_b = _broker(doc.get("central_broker"), "central_broker", issues)
    if issues:
        raise ConfigError(source, issues)
    sections = {k: v for k, v in doc.items() if k not in ("device", "site_broker", "central_broker")}
    return Device(id=d["id"], role=d["role"], site=d["site"], site_config=site_config, data_dir=data_dir,
                  store=store, site_broker=site_b, central_broker=central_b, sections=sections)


def load_device(path: str | Path) -> Device:
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(str(path), [Issue("file", f"cannot read: {exc.strerror or exc}")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [Issue("toml", str(exc))]) from None
    return parse_device(doc, str(path), base=path.parent)

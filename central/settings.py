"""The central host's configuration, /etc/palvelupiste/central.toml, declared once (core.schema).

`palvelupiste provision --role central` writes it (and reads it back on the next run: options not
given keep what the file says); the units it installs, `palvelupiste central setup-db`,
`palvelupiste central devices` and `palvelupiste doctor` read it. No secret is ever in it: the
passwords live in files of their own, named here.

    [central]   workers, small_cell, retention_days
    [database]  dsn (the ingest workers' database), admin_dsn (set-up as the postgres user), reader
    [broker]    url (the devices' TLS listener as devices reach it), listen, service_url (the ingest
                workers' and the publisher's loopback listener), the TLS files, Mosquitto's password,
                services' password and ACL files, the services' own password files, reload (how the
                broker is told to read its files again)
    [alerts]    where the fleet's alerts go (`palvelupiste central alerts`, every minute by
                palvelupiste-central-alerts.timer): webhook_url, webhook_ca_file, timeout_s, smtp_host,
                smtp_port, smtp_starttls, smtp_ca_file, smtp_user, smtp_password_file, mail_from, mail_to
    [[feeds]]   the booking feeds of the sites' authorities (central/bookings/feeds.py)

`palvelupiste check-config --describe` does not list these sections (they are no device's);
`describe_central()` renders their reference.
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config import Broker, ConfigError, Issue, read_toml
from core.schema import REQUIRED, Bool, Check, Field, Int, ListOf, Number, Section, Table, Tables, Text, describe, load

from .bookings.feeds import FEED, Feed, feed_from_values, feeds_checks

CENTRAL_CONFIG = "/etc/palvelupiste/central.toml"
CENTRAL_DIR = "/etc/palvelupiste/central"
TLS_DIR = f"{CENTRAL_DIR}/tls"
INGEST_PASSWORD = f"{CENTRAL_DIR}/ingest.password"
PUBLISHER_PASSWORD = f"{CENTRAL_DIR}/publisher.password"
MOSQUITTO_CONF = "/etc/mosquitto/palvelupiste-central.conf"
MOSQUITTO_PASSWD = "/etc/mosquitto/palvelupiste-central.passwd"
MOSQUITTO_SERVICE_PASSWD = "/etc/mosquitto/palvelupiste-central-services.passwd"
MOSQUITTO_ACL = "/etc/mosquitto/palvelupiste-central.acl"
#: Debian's PostgreSQL socket. Given explicitly: psycopg's own libpq looks in /tmp by default.
PG_SOCKET_DIR = "/run/postgresql"
#: the ingest workers' database: the service user `palvelupiste` owns it and logs in over the unix
#: socket with peer authentication (Debian's default pg_hba.conf), so no password exists anywhere
DEFAULT_DSN = f"postgresql:///palvelupiste?host={PG_SOCKET_DIR}&user=palvelupiste"
#: setup-db runs as the OS user postgres (palvelupiste-central-db.service): peer authentication again
DEFAULT_ADMIN_DSN = f"postgresql:///postgres?host={PG_SOCKET_DIR}"
DEFAULT_READER = "palvelupiste_read"
DEFAULT_SERVICE_URL = "mqtt://127.0.0.1:1883"
DEFAULT_RELOAD = ("systemctl", "reload", "mosquitto.service")
INGEST_USER, PUBLISHER_USER = "ingest", "publisher"
MAX_WORKERS = 64


def _url_problem(url: str) -> str | None:
    try:
        Broker(url=url).port  # noqa: B018 — parses the URL
    except ValueError as exc:
        return str(exc)
    return None


def _abs_path_problem(p: str) -> str | None:
    if not p.startswith("/") or any(c.isspace() for c in p) or any(c in p for c in "%$\\\"'`;"):
        return "must be an absolute path without spaces, quotes, % or $"
    return None


def _role_problem(name: str) -> str | None:
    if name and not (name.replace("_", "a").isalnum() and name.isascii() and name[0].isalpha()
                     and name == name.lower() and len(name) <= 63):
        return "must be a PostgreSQL role name: lower-case letters, digits and '_', starting with a letter"
    return None


PATH = Text(test=_abs_path_problem, label="an absolute path")
DSN = Text(nonempty=True, label="a PostgreSQL connection string")

CENTRAL = Section("central", (
    Field("workers", Int(1, MAX_WORKERS), 2, "ingest workers: palvelupiste-ingest@1.service … @N, sharing the "
                                             "events through an MQTT shared subscription"),
    Field("small_cell", Int(0), None, "figures from fewer tickets or responses than this are withheld; set into "
                                      "the database by setup-db at every start (absent: the database's own "
                                      "setting, 5 unless changed with `palvelupiste central settings`)"),
    Field("retention_days", Int(0), None, "raw events are kept this many days (whole months; the roll-ups are kept "
                                          "forever; 0 keeps every event); set into the database by setup-db, "
                                          "applied daily by palvelupiste-central-prune.timer (absent: the "
                                          "database's own setting)"),
), description="the central host")


DATABASE = Section("database", (
    Field("dsn", DSN, DEFAULT_DSN, "the central database as the ingest workers reach it: its dbname is the "
                                   "database, its user owns it; no password (peer or .pgpass)"),
    Field("admin_dsn", DSN, DEFAULT_ADMIN_DSN, "how setup-db reaches the server as a superuser (it runs as the OS "
                                               "user postgres)"),
    Field("reader", Text(test=_role_problem, label="a role name"), DEFAULT_READER,
          "the analysts' read-only login role (SELECT on the analysts' views only); \"\" for none"),
), description="PostgreSQL (Debian's postgresql package)")


def _broker_checks(v: dict[str, Any], ctx: Mapping[str, Any]) -> list[tuple[str, str]]:
    out = []
    if not Broker(url=v["url"]).tls:
        out.append(("url", "the devices' listener must be TLS: mqtts://host:port"))
    svc = Broker(url=v["service_url"])
    if svc.tls:
        out.append(("service_url", "the services' listener is plain MQTT on this machine: mqtt://127.0.0.1:PORT"))
    else:
        try:
            loop = ipaddress.ip_address(svc.host).is_loopback
        except ValueError:
            loop = svc.host == "localhost"
        if not loop:
            out.append(("service_url", "plain MQTT must never leave the machine: use a loopback address"))
        if svc.port == Broker(url=v["url"]).port:
            out.append(("service_url", "the services' and the devices' listeners need different ports"))
    try:
        ipaddress.ip_address(v["listen"])
    except ValueError:
        out.append(("listen", "must be an IP address (0.0.0.0: every interface)"))
    files = [v[k] for k in ("password_file", "service_password_file")]
    if files[0] == files[1]:
        out.append(("service_password_file", "the devices and the services need separate password files"))
    return out


BROKER = Section("broker", (
    Field("url", Text(test=_url_problem, label="mqtts://host:port"), REQUIRED,
          "the devices' TLS listener as the devices reach it (its port is the listener's port)",
          example="mqtts://central.example.fi:8883"),
    Field("listen", Text(label="an IP address"), "0.0.0.0", "the address the devices' listener binds to"),
    Field("service_url", Text(test=_url_problem, label="mqtt://127.0.0.1:port"), DEFAULT_SERVICE_URL,
          "the ingest workers' and the publisher's own listener, on this machine only"),
    Field("ca_file", PATH, f"{TLS_DIR}/ca.pem", "the CA that signed the devices' view of this broker"),
    Field("cert_file", PATH, f"{TLS_DIR}/server.crt", "the broker's certificate (the doctor watches its expiry)"),
    Field("key_file", PATH, f"{TLS_DIR}/server.key", "its key (0600, owned by mosquitto)"),
    Field("require_certificate", Bool(), False, "devices must also present a client certificate signed by the CA"),
    Field("password_file", PATH, MOSQUITTO_PASSWD, "Mosquitto's password file of the devices "
                                                   "(palvelupiste central devices add|remove)"),
    Field("service_password_file", PATH, MOSQUITTO_SERVICE_PASSWD, "Mosquitto's password file of the services"),
    Field("acl_file", PATH, MOSQUITTO_ACL, "the ACL file, made from the device list (never edit it)"),
    Field("ingest_password_file", PATH, INGEST_PASSWORD, "the ingest workers' password"),
    Field("publisher_password_file", PATH, PUBLISHER_PASSWORD, "the publisher's password (publish-config, "
                                                               "publish-appointments)"),
    Field("reload", ListOf(Text(nonempty=True, label="a word"), min_len=1), list(DEFAULT_RELOAD),
          "the command that makes the broker read its password and ACL files again"),
), checks=(Check(("url", "service_url", "listen", "password_file", "service_password_file"), _broker_checks),),
    description="the central Mosquitto")


def _https_problem(url: str) -> str | None:
    from urllib.parse import urlsplit

    if not url:
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 — parses the port
    except ValueError as exc:
        return f"not a URL ({exc})"
    if parts.scheme != "https" or not parts.hostname:
        return "must be an https:// URL (the alerts never travel in clear), or \"\" for none"
    if any(c.isspace() for c in url):
        return "must not hold spaces"
    return None


def _optional_path_problem(p: str) -> str | None:
    return None if p == "" else _abs_path_problem(p)


def _mail_problem(addr: str) -> str | None:
    if not addr:
        return None
    if len(addr) > 254 or not re.fullmatch(r"[^@\s<>,;:\"()\[\]\\]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]+", addr):
        return "must be a plain e-mail address (name@example.fi)"
    return None


def _host_problem(host: str) -> str | None:
    if host and not re.fullmatch(r"[A-Za-z0-9.:-]+", host):
        return "must be a host name or an IP address"
    return None


OPTIONAL_PATH = Text(test=_optional_path_problem, label="an absolute path, or \"\"")


def _alerts_checks(v: dict[str, Any], ctx: Mapping[str, Any]) -> list[tuple[str, str]]:
    out = []
    if v["smtp_host"]:
        if not v["mail_from"]:
            out.append(("mail_from", "needed to send e-mail (smtp_host is set)"))
        if not v["mail_to"]:
            out.append(("mail_to", "needed to send e-mail (smtp_host is set): at least one address"))
    elif v["mail_to"]:
        out.append(("smtp_host", "needed to send to mail_to: the SMTP server's host name"))
    if v["smtp_user"] and not v["smtp_password_file"]:
        out.append(("smtp_password_file", "needed with smtp_user: the file holding the SMTP password"))
    if v["smtp_password_file"] and not v["smtp_user"]:
        out.append(("smtp_user", "needed with smtp_password_file: the SMTP login name"))
    if v["smtp_user"] and not v["smtp_starttls"]:
        out.append(("smtp_starttls", "must be true with smtp_user: a password never travels in clear"))
    return out


def _webhook_checks(v: dict[str, Any], ctx: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [("webhook_ca_file", "only with webhook_url")] if v["webhook_ca_file"] and not v["webhook_url"] else []


ALERTS = Section("alerts", (
    Field("webhook_url", Text(test=_https_problem, label="an https:// URL"), "",
          "each alert that starts or clears is POSTed here as JSON (\"\": no webhook)",
          example="https://hooks.example.fi/palvelupiste"),
    Field("webhook_ca_file", OPTIONAL_PATH, "", "the CA the webhook's certificate is checked against (\"\": the "
                                                "system's CAs)"),
    Field("timeout_s", Number(1, 120, unit="seconds"), 10.0, "how long a webhook request or an SMTP exchange may "
                                                             "take; what fails is sent again on the next run"),
    Field("smtp_host", Text(test=_host_problem, label="a host name"), "",
          "the SMTP server the alerts are mailed through (\"\": no e-mail)", example="smtp.example.fi"),
    Field("smtp_port", Int(1, 65535), 587, "its port (587: submission with STARTTLS)"),
    Field("smtp_starttls", Bool(), True, "switch to TLS with STARTTLS before anything is sent (and refuse a "
                                         "server that cannot)"),
    Field("smtp_ca_file", OPTIONAL_PATH, "", "the CA the SMTP server's certificate is checked against (\"\": the "
                                             "system's CAs)"),
    Field("smtp_user", Text(label="a login name"), "", "log in with this name (\"\": no login)"),
    Field("smtp_password_file", OPTIONAL_PATH, "", "the file holding the SMTP password (one line, 0600, readable "
                                                   "by the service user palvelupiste)"),
    Field("mail_from", Text(test=_mail_problem, label="an e-mail address"), "", "the sender's address",
          example="palvelupiste@example.fi"),
    Field("mail_to", ListOf(Text(test=_mail_problem, nonempty=True, label="an e-mail address"), unique=True),
          [], "who gets the alerts", example=["tekniikka@example.fi"]),
), checks=(Check(("smtp_host", "smtp_starttls", "smtp_user", "smtp_password_file", "mail_from", "mail_to"),
                 _alerts_checks),
           Check(("webhook_url", "webhook_ca_file"), _webhook_checks)),
    description="where the fleet's alerts are sent (palvelupiste central alerts; a message holds only site and "
                "device ids, the alert's kind and numbers)")


@dataclass(frozen=True)
class AlertSettings:
    webhook_url: str = ""
    webhook_ca_file: str = ""
    timeout_s: float = 10.0
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_ca_file: str = ""
    smtp_user: str = ""
    smtp_password_file: str = ""
    mail_from: str = ""
    mail_to: tuple[str, ...] = ()

    @property
    def webhook(self) -> bool:
        return bool(self.webhook_url)

    @property
    def mail(self) -> bool:
        return bool(self.smtp_host and self.mail_to)


def alert_settings(v: dict[str, Any]) -> AlertSettings:
    return AlertSettings(webhook_url=v["webhook_url"], webhook_ca_file=v["webhook_ca_file"], timeout_s=v["timeout_s"],
                         smtp_host=v["smtp_host"], smtp_port=v["smtp_port"], smtp_starttls=v["smtp_starttls"],
                         smtp_ca_file=v["smtp_ca_file"], smtp_user=v["smtp_user"],
                         smtp_password_file=v["smtp_password_file"], mail_from=v["mail_from"],
                         mail_to=tuple(v["mail_to"]))


CENTRAL_FILE = Section("", (
    Field("central", Table(CENTRAL), None, ""),
    Field("database", Table(DATABASE), None, ""),
    Field("broker", Table(BROKER), REQUIRED, "", missing="missing [broker] table (its url is required)"),
    Field("alerts", Table(ALERTS), None, ""),
    Field("feeds", Tables(FEED, label=lambda raw: raw.get("id") if isinstance(raw.get("id"), str) else None), [],
          "the booking feeds (central/bookings/feeds.py)"),
), checks=(Check(("feeds",), lambda v, ctx: feeds_checks(v["feeds"])),), noun="table")


@dataclass(frozen=True)
class CentralSettings:
    workers: int
    small_cell: int | None
    retention_days: int | None
    dsn: str
    admin_dsn: str
    reader: str
    url: str
    listen: str
    service_url: str
    ca_file: str
    cert_file: str
    key_file: str
    require_certificate: bool
    password_file: str
    service_password_file: str
    acl_file: str
    ingest_password_file: str
    publisher_password_file: str
    reload: tuple[str, ...]
    alerts: AlertSettings = AlertSettings()
    feeds: tuple[Feed, ...] = ()

    @property
    def device_broker(self) -> Broker:
        """The devices' listener, as a device (and the doctor) reaches it."""
        return Broker(url=self.url, ca_file=self.ca_file)

    @property
    def service_broker(self) -> Broker:
        return Broker(url=self.service_url, username=INGEST_USER, password_file=self.ingest_password_file)

    @property
    def publisher_broker(self) -> Broker:
        """The publisher's connection (configurations, appointment lists, booking changes)."""
        return Broker(url=self.service_url, username=PUBLISHER_USER, password_file=self.publisher_password_file)

    @property
    def worker_units(self) -> tuple[str, ...]:
        return tuple(f"palvelupiste-ingest@{i}.service" for i in range(1, self.workers + 1))


def from_values(v: dict[str, Any]) -> CentralSettings:
    c, d, b = v["central"], v["database"], v["broker"]
    return CentralSettings(workers=c["workers"], small_cell=c["small_cell"], retention_days=c["retention_days"],
                           dsn=d["dsn"], admin_dsn=d["admin_dsn"], reader=d["reader"], url=b["url"],
                           listen=b["listen"], service_url=b["service_url"], ca_file=b["ca_file"],
                           cert_file=b["cert_file"], key_file=b["key_file"],
                           require_certificate=b["require_certificate"], password_file=b["password_file"],
                           service_password_file=b["service_password_file"], acl_file=b["acl_file"],
                           ingest_password_file=b["ingest_password_file"],
                           publisher_password_file=b["publisher_password_file"], reload=tuple(b["reload"]),
                           alerts=alert_settings(v["alerts"]) if v.get("alerts") is not None else AlertSettings(),
                           feeds=tuple(feed_from_values(f) for f in v.get("feeds") or () if f))


def parse_central(doc: dict[str, Any], source: str = "<central>") -> CentralSettings:
    """The settings of a parsed central.toml, or ConfigError naming every problem."""
    values = load(CENTRAL_FILE, doc, source, prefix="")
    problems = [Issue(f"database.{k}", p) for k in ("dsn", "admin_dsn") if (p := dsn_parts_problem(values[
        "database"][k], need_user=k == "dsn"))]
    if problems:
        raise ConfigError(source, problems)
    return from_values(values)


def load_central(path: str | Path) -> CentralSettings:
    return parse_central(read_toml(path), str(path))


def looks_central(doc: dict[str, Any]) -> bool:
    """Whether a parsed TOML file is a central host's configuration rather than a device's."""
    return "device" not in doc and ("broker" in doc or "database" in doc or "central" in doc)


def dsn_parts(dsn: str) -> dict[str, str]:
    """The connection string's parameters (psycopg's parser: a URL or key=value words); ValueError."""
    try:
        from psycopg import conninfo
    except ImportError:  # pragma: no cover — the central extra is not installed
        raise ValueError("psycopg is not installed: pip install 'palvelupiste[central]'") from None
    try:
        return {k: str(v) for k, v in conninfo.conninfo_to_dict(dsn).items()}
    except Exception as exc:  # psycopg.ProgrammingError: not a connection string
        raise ValueError(f"not a PostgreSQL connection string ({str(exc).strip()})") from None


def dsn_parts_problem(dsn: str, *, need_user: bool) -> str | None:
    try:
        parts = dsn_parts(dsn)
    except ValueError as exc:
        return str(exc)
    if "password" in parts:
        return ("must not hold a password (it would be readable in the units): use peer authentication over the "
                "unix socket, or a .pgpass file")
    if need_user and not (parts.get("dbname") and parts.get("user")):
        return "must name the database (dbname) and its owner (user)"
    return None


def describe_central() -> list[str]:
    """The commented TOML reference of central.toml."""
    lines: list[str] = []
    for section in (CENTRAL, DATABASE, BROKER, ALERTS):
        if lines:
            lines.append("")
        lines += describe(section)
    return lines

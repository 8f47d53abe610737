"""The systemd units, the Kivy configuration and the sysusers/tmpfiles entries of a device.

The unit files in systemd/ are the real units with the production paths (DEFAULT_BIN,
DEVICE_CONFIG): `systemd-analyze verify` runs on them as they are. `render_unit()` gives the same
text with another `palvelupiste` executable or configuration path substituted — nothing else
changes. systemd/README.md explains every line.

Pure: text in, text out. Provisioning (appliance.provision) decides where the text goes.
"""
from __future__ import annotations

import re
import shlex

from core import resources
from uikit.launch import input_provider

SYSTEMD_DIR = resources.template()

SERVICE_USER = "palvelupiste"
DEFAULT_BIN = "/opt/palvelupiste/venv/bin/palvelupiste"
CONFIG_DIR = "/etc/palvelupiste"
DEVICE_CONFIG = f"{CONFIG_DIR}/device.toml"
DATA_DIR = "/var/lib/palvelupiste"          # = StateDirectory=palvelupiste
KIVY_HOME = f"{DATA_DIR}/kivy"
UNIT_DIR = "/etc/systemd/system"
WANTS_TARGET = "multi-user.target"

# --- the site broker on a hub ---------------------------------------------------------------------
MOSQUITTO_UNIT = "mosquitto.service"
MOSQUITTO_DROPIN = f"{UNIT_DIR}/mosquitto.service.d/palvelupiste.conf"
MOSQUITTO_CONF = "/etc/mosquitto/palvelupiste-site.conf"
MOSQUITTO_PASSWD = "/etc/mosquitto/palvelupiste-site.passwd"
#: The hub's own listener takes only the hub's user (bus.brokerconf.render_site_broker_conf).
MOSQUITTO_HUB_PASSWD = "/etc/mosquitto/palvelupiste-site-hub.passwd"
MOSQUITTO_ACL = "/etc/mosquitto/palvelupiste-site.acl"
MOSQUITTO_DATA = "/var/lib/mosquitto"
MOSQUITTO_USER = "mosquitto"

SYSUSERS_FILE = "/etc/sysusers.d/palvelupiste.conf"
TMPFILES_FILE = "/etc/tmpfiles.d/palvelupiste.conf"

_UNSAFE = re.compile(r"[\s%$\\\"';`]")


class UnitError(ValueError):
    pass


def check_unit_path(path: str, what: str) -> str:
    """A path that goes into a unit file as is: absolute, and nothing systemd would expand or
    split (whitespace, % specifiers, $ variables, quotes)."""
    if not path.startswith("/") or _UNSAFE.search(path) or "//" in path:
        raise UnitError(f"{what} {path!r} must be an absolute path without spaces, quotes, % or $")
    return path


def unit_template(name: str) -> str:
    try:
        return (SYSTEMD_DIR / name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UnitError(f"no unit file systemd/{name} in {SYSTEMD_DIR}") from None


def render_unit(name: str, *, bin: str = DEFAULT_BIN, config: str = DEVICE_CONFIG) -> str:
    """The unit `name` with `bin` as the palvelupiste executable and `config` as the device
    configuration. With the defaults it is the file in systemd/ byte for byte."""
    check_unit_path(bin, "the palvelupiste executable")
    check_unit_path(config, "the device configuration")
    text = unit_template(name)
    exec_line = f"ExecStart={DEFAULT_BIN} "
    if exec_line not in text or DEVICE_CONFIG not in text:
        raise UnitError(f"systemd/{name}: ExecStart must start with {DEFAULT_BIN} and name {DEVICE_CONFIG}")
    return text.replace(exec_line, f"ExecStart={bin} ").replace(DEVICE_CONFIG, config)


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """A unit file as systemd reads it: {section: {key: [value of each assignment, in order]}}.
    Comments (# or ; first on a line) and blank lines are skipped, a trailing backslash continues a
    line, whitespace around the key and the value is dropped. An empty assignment is kept as "" (for
    list settings systemd reads it as "forget the earlier ones"; none of ours relies on that)."""
    out: dict[str, dict[str, list[str]]] = {}
    section: dict[str, list[str]] | None = None
    pending = ""
    for raw in text.splitlines():
        line = (pending + " " + raw.strip()) if pending else raw.strip()
        pending = ""
        if not line or line[0] in "#;":
            continue
        if line.endswith("\\"):
            pending = line[:-1].rstrip()
            continue
        if line.startswith("[") and line.endswith("]"):
            section = out.setdefault(line[1:-1], {})
            continue
        key, eq, value = line.partition("=")
        if not eq or section is None:
            raise UnitError(f"not a unit file line: {raw!r}")
        section.setdefault(key.strip(), []).append(value.strip())
    return out


def directive(text: str, section: str, key: str) -> list[str]:
    """Every value of `key` in [section] (each assignment once, in order)."""
    return parse_unit(text).get(section, {}).get(key, [])


def exec_start(text: str) -> list[str]:
    values = directive(text, "Service", "ExecStart")
    return shlex.split(values[-1]) if values else []


def wanted_by(text: str) -> list[str]:
    """The [Install] WantedBy= targets of a unit text (what `systemctl enable` links into)."""
    return [t for v in directive(text, "Install", "WantedBy") for t in v.split()]


def unit_groups(text: str) -> list[str]:
    return [g for v in directive(text, "Service", "SupplementaryGroups") for g in v.split()]


def unit_environment(text: str) -> dict[str, str]:
    """The [Service] Environment= variables (quoted assignments as systemd splits them)."""
    out: dict[str, str] = {}
    for value in directive(text, "Service", "Environment"):
        for word in shlex.split(value):
            k, _, v = word.partition("=")
            out[k] = v
    return out


def mosquitto_dropin(conf: str = MOSQUITTO_CONF) -> str:
    """Drop-in for Debian's mosquitto.service: run the site broker's own configuration."""
    check_unit_path(conf, "the Mosquitto configuration")
    text = (SYSTEMD_DIR / "mosquitto.service.d" / "palvelupiste.conf").read_text(encoding="utf-8")
    return text.replace(MOSQUITTO_CONF, conf)


# --- accounts and file owners ---------------------------------------------------------------------

def sysusers_conf() -> str:
    return ("# The system user of the palvelupiste services (written by palvelupiste provision;\n"
            "# systemd-sysusers creates it at boot). No login shell, no extra groups: each unit\n"
            "# adds only the device groups it needs (SupplementaryGroups=).\n"
            f'u {SERVICE_USER} - "palvelupiste appliance services" {DATA_DIR} -\n')


def tmpfiles_conf(secrets: list[tuple[str, str]]) -> str:
    """`secrets`: (path, owner) of files that must be owned by the user that reads them, mode 0600.
    systemd-tmpfiles applies the lines at every boot (after systemd-sysusers made the users)."""
    lines = ["# Owners and modes for palvelupiste (written by palvelupiste provision; applied at boot by",
             "# systemd-tmpfiles). Secrets: 0600, owned by the service that reads them. The data",
             "# directory is handed to the service user recursively, so that files made by root",
             "# (provisioning, a technician) never lock the services out.",
             f"d {DATA_DIR} 0750 {SERVICE_USER} {SERVICE_USER} -",
             f"Z {DATA_DIR} - {SERVICE_USER} {SERVICE_USER} -"]
    for path, owner in secrets:
        check_unit_path(path, "a secret file")
        lines.append(f"z {path} 0600 {owner} {owner} -")
    return "\n".join(lines) + "\n"


# --- Kivy -----------------------------------------------------------------------------------------

#: Kivy 2.3's KIVY_CONFIG_VERSION. With it in [kivy], Kivy upgrades nothing and so adds no
#: default input providers (its first-run upgrade adds `%(name)s = probesysfs`, a second provider
#: for the same touch screen). tests/test_units.py checks it against the installed Kivy.
KIVY_CONFIG_VERSION = 27

# Kivy 2.3's own defaults, complete (a key missing here would crash Kivy: its upgrade step that
# fills defaults is skipped when config_version is current). Overrides are marked with a comment.
_KIVY_DEFAULTS: list[tuple[str, list[tuple[str, str]]]] = [
    ("kivy", [
        ("keyboard_repeat_delay", "300"), ("keyboard_repeat_rate", "30"), ("log_dir", "logs"),
        ("log_enable", "0"),  # logs go to stderr → journald, not to files on the SD card
        ("log_level", "info"), ("log_name", "kivy_%y-%m-%d_%_.txt"), ("window_icon", ""),
        ("keyboard_mode", ""), ("keyboard_layout", "qwerty"), ("desktop", "1"),
        ("exit_on_escape", "0"),  # a keyboard plugged into a kiosk must not close the app
        ("pause_on_minimize", "0"), ("kivy_clock", "default"),
        ("default_font", "['Roboto', 'data/fonts/Roboto-Regular.ttf', 'data/fonts/Roboto-Italic.ttf', "
                         "'data/fonts/Roboto-Bold.ttf', 'data/fonts/Roboto-BoldItalic.ttf']"),
        ("log_maxfiles", "100"), ("window_shape", "data/images/defaultshape.png"),
        ("config_version", str(KIVY_CONFIG_VERSION)),
    ]),
    ("graphics", [
        ("display", "-1"),
        ("fullscreen", "auto"),  # the screen's own mode
        ("height", "600"), ("left", "0"), ("maxfps", "60"), ("multisamples", "2"), ("position", "auto"),
        ("rotation", "0"),
        ("show_cursor", "0"),  # touch only: no pointer on screen
        ("top", "0"), ("width", "800"),
        ("resizable", "0"), ("borderless", "1"),  # no window decorations, ever
        ("window_state", "visible"), ("minimum_width", "0"), ("minimum_height", "0"),
        ("min_state_time", ".035"),
        ("allow_screensaver", "0"),  # SDL keeps the screen on (X11/Wayland screensaver, DPMS)
        ("shaped", "0"), ("vsync", ""), ("verify_gl_main_thread", "1"), ("custom_titlebar", "0"),
        ("custom_titlebar_border", "5"), ("always_on_top", "0"), ("show_taskbar_icon", "1"),
    ]),
    ("input", []),  # exactly one provider, filled in by kivy_config()
    ("postproc", [
        ("double_tap_distance", "20"), ("double_tap_time", "250"), ("ignore", "[]"),
        ("jitter_distance", "0"), ("jitter_ignore_devices", "mouse,mactouch,"), ("retain_distance", "50"),
        ("retain_time", "0"), ("triple_tap_distance", "20"), ("triple_tap_time", "375"),
    ]),
    ("widgets", [
        ("scroll_timeout", "250"), ("scroll_distance", "20"), ("scroll_friction", "1."),
        ("scroll_stoptime", "300"), ("scroll_moves", "5"),
    ]),
    ("modules", []),
    ("network", [("useragent", "curl"), ("implementation", "default")]),
]

def kivy_input(setting: str | None) -> tuple[str, str]:
    """The one [input] entry for a kiosk-style `input` setting (uikit.launch.input_provider, the
    same the app uses when it starts), or UnitError."""
    try:
        return input_provider(setting)
    except ValueError as exc:
        raise UnitError(str(exc)) from None


def kivy_config(input_setting: str | None = None) -> str:
    """config.ini for KIVY_HOME of a device with a screen: Kivy's complete defaults with exactly
    one input provider (`input_setting`, the kiosk's [kiosk] input; mouse otherwise), no cursor,
    full screen, no screensaver, logs to the journal."""
    key, value = kivy_input(input_setting)
    out = ["; Kivy configuration of this palvelupiste device, written by `palvelupiste provision`",
           "; (run it again instead of editing). [input] has exactly ONE provider: two providers",
           "; reading one touch screen give every tap twice (Kivy issues #3801, #8494).", ""]
    for section, items in _KIVY_DEFAULTS:
        out.append(f"[{section}]")
        if section == "input":
            items = [(key, value)]
        out.extend(f"{k} = {v}" for k, v in items)
        out.append("")
    return "\n".join(out)

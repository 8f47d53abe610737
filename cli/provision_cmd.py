"""palvelupiste provision — make this machine (or a folder) into one device of a service point."""
from __future__ import annotations

import os


def register(sub) -> None:
    p = sub.add_parser(
        "provision", help="install a device: configuration, data and store, systemd units, credentials",
        description="Writes the device configuration, creates the data directory and the event store, installs "
                    "and enables the systemd units of the role and its sync agent, the Kivy configuration (one "
                    "input provider, no cursor), a password per broker (0600, never printed) and, on a hub, the "
                    "site Mosquitto configuration. A second run with the same arguments changes nothing. Bad "
                    "arguments: a message naming each problem, exit 2, nothing changed.",
        epilog="Example: palvelupiste provision --role kiosk --site example-pp --device kiosk-1 "
               "--site-broker mqtt://hub.local:1883 --central-broker mqtts://central.example.fi:8883 "
               "--site-config example.toml --printer 'serial:/dev/ttyUSB0?baudrate=19200' --dry-run")
    p.add_argument("--role", required=True, metavar="ROLE", help="hub | kiosk | display | counter | feedback")
    p.add_argument("--site", required=True, help="the site id (as in the site configuration)")
    p.add_argument("--device", required=True, metavar="ID", help="this device's id (listed in the site's [[devices]])")
    p.add_argument("--site-broker", required=True, metavar="URL",
                   help="the site broker as this device reaches it, e.g. mqtt://hub.local:1883 "
                        "(on the hub: its port is the listener's port)")
    p.add_argument("--central-broker", required=True, metavar="URL", help="e.g. mqtts://central.example.fi:8883")
    p.add_argument("--printer", metavar="URL",
                   help="kiosk only: serial:/dev/ttyUSB0?baudrate=19200, usb:VID:PID, tcp:host:9100, file:/dev/usb/lp0")
    p.add_argument("--site-config", metavar="FILE",
                   help="the site configuration (TOML) to install; needed unless the device already has one")
    p.add_argument("--root", default="/", metavar="DIR",
                   help="do everything inside DIR as if it were / (an image, a test); default /")
    p.add_argument("--dry-run", action="store_true", help="print every file and command, write nothing")
    p.add_argument("--bin", metavar="PATH",
                   help="the palvelupiste executable for ExecStart (default: this one, else "
                        "/opt/palvelupiste/venv/bin/palvelupiste)")
    p.add_argument("--listen", metavar="ADDRESS", help="hub only: the site broker's listen address (default 0.0.0.0)")
    p.add_argument("--site-password-file", metavar="FILE",
                   help="this device's site broker password: the hub's "
                        "/etc/palvelupiste/site-credentials/ID.password")
    p.add_argument("--central-password-file", metavar="FILE",
                   help="this device's central broker password, when the central side made it")
    p.add_argument("--central-ca", metavar="FILE", help="CA certificate of an mqtts:// central broker")
    p.add_argument("--insecure-central-link", action="store_true",
                   help="allow a plain mqtt:// central broker (unencrypted: test benches only, never production)")
    p.set_defaults(func=run)


def run(args) -> int:
    from appliance.provision import options_from_args
    from appliance.provision import run as provision

    os.umask(0o022)
    return provision(options_from_args(args))

"""palvelupiste provision — make this machine (or a folder) into one device of a service point, or into
the central host (--role central: appliance/central_role.py)."""
from __future__ import annotations

import os


def register(sub) -> None:
    p = sub.add_parser(
        "provision", help="install a device: configuration, data and store, systemd units, credentials",
        description="Writes the device configuration, creates the data directory and the event store, installs "
                    "and enables the systemd units of the role and its sync agent, the Kivy configuration (one "
                    "input provider, no cursor), a password per broker (0600, never printed) and, on a hub, the "
                    "site Mosquitto configuration. --role central installs the central host instead: its "
                    "configuration (/etc/palvelupiste/central.toml), the central Mosquitto (TLS for the devices, a "
                    "loopback listener for the services), the PostgreSQL set-up unit and the ingest worker units. "
                    "A second run with the same arguments changes nothing. Bad "
                    "arguments: a message naming each problem, exit 2, nothing changed.",
        epilog="Example: palvelupiste provision --role kiosk --site example-pp --device kiosk-1 "
               "--site-broker mqtt://hub.local:1883 --central-broker mqtts://central.example.fi:8883 "
               "--site-config example.toml --printer 'serial:/dev/ttyUSB0?baudrate=19200' --dry-run; "
               "the central host: palvelupiste provision --role central --central-broker "
               "mqtts://central.example.fi:8883 --tls-cert server.crt --tls-key server.key --tls-ca ca.pem")
    p.add_argument("--role", required=True, metavar="ROLE",
                   help="hub | kiosk | display | counter | feedback | central (the central host)")
    p.add_argument("--site", help="devices: the site id (as in the site configuration)")
    p.add_argument("--device", metavar="ID", help="devices: this device's id (listed in the site's [[devices]])")
    p.add_argument("--site-broker", metavar="URL",
                   help="devices: the site broker as this device reaches it, e.g. mqtt://hub.local:1883 "
                        "(on the hub: its port is the listener's port)")
    p.add_argument("--central-broker", metavar="URL",
                   help="e.g. mqtts://central.example.fi:8883; on the central host: the devices' TLS listener (its "
                        "port is the listener's, its host the name in the certificate)")
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
    p.add_argument("--listen", metavar="ADDRESS",
                   help="hub: the site broker's listen address; central: the devices' TLS listener's (default 0.0.0.0)")
    p.add_argument("--site-password-file", metavar="FILE",
                   help="this device's site broker password: the hub's "
                        "/etc/palvelupiste/site-credentials/ID.password")
    p.add_argument("--central-password-file", metavar="FILE",
                   help="this device's central broker password, when the central side made it")
    p.add_argument("--central-ca", metavar="FILE", help="CA certificate of an mqtts:// central broker")
    p.add_argument("--insecure-central-link", action="store_true",
                   help="allow a plain mqtt:// central broker (unencrypted: test benches only, never production)")
    c = p.add_argument_group("the central host (--role central)")
    c.add_argument("--tls-cert", metavar="FILE", help="the broker's certificate (PEM; its host name is "
                                                      "--central-broker's); copied, needed on the first run")
    c.add_argument("--tls-key", metavar="FILE", help="its private key (PEM); copied 0600 for mosquitto")
    c.add_argument("--tls-ca", metavar="FILE", help="the CA certificate the devices trust (their --central-ca)")
    c.add_argument("--workers", type=int, metavar="N", help="ingest workers (default 2)")
    c.add_argument("--db", metavar="DSN", help="the database the ingest workers use, its dbname and owner user "
                                               "(default postgresql:///palvelupiste?host=/run/postgresql&"
                                               "user=palvelupiste: peer authentication, no password)")
    c.add_argument("--reader", metavar="ROLE", help="the analysts' read-only PostgreSQL role (default "
                                                    "palvelupiste_read; \"\" for none)")
    c.add_argument("--small-cell", type=int, metavar="N", help="withhold figures from fewer than N tickets or "
                                                               "responses (default: the database's, 5)")
    c.add_argument("--retention-days", type=int, metavar="DAYS", help="keep raw events this many days (roll-ups "
                                                                      "are kept; default: every event)")
    p.set_defaults(func=run)


def run(args) -> int:
    os.umask(0o022)
    if args.role == "central":
        from appliance import central_role

        return central_role.run(central_role.options_from_args(args))
    from appliance.provision import options_from_args
    from appliance.provision import run as provision

    return provision(options_from_args(args))

"""What a technician needs on a device: provisioning, systemd units, the self-test, tech info.

    provision.py  `palvelupiste provision`: device config, data dir and store, units, Kivy config,
                  credentials, and on a hub the site Mosquitto configuration — planned, validated,
                  then applied (idempotent; --dry-run prints the plan; --root writes into a folder)
    units.py      the systemd units (systemd/*.service), the Kivy config, sysusers/tmpfiles entries
    doctor.py     `palvelupiste doctor`: checks with substitutable sources, a table with fix hints
    sdnotify.py   sd_notify without a dependency: READY=1, WATCHDOG=1, STATUS=
    techinfo.py   what the hidden technician gesture on the kiosk and display shows

Imports core, sync and printer; no app imports it except for sdnotify and techinfo.
"""

"""What a technician needs on a device: provisioning, systemd units, the self-test, tech info.

    roles.py      the role registry: each role's sections, units and doctor checks
    provision.py  `palvelupiste provision`: device config, data dir and store, units, Kivy config,
                  credentials, and on a hub the site Mosquitto configuration — planned, validated,
                  then applied (idempotent; --dry-run prints the plan; --root writes into a folder)
    units.py      the systemd units (systemd/*.service), the Kivy config, sysusers/tmpfiles entries
    doctor.py     `palvelupiste doctor`: gathers the role's checks from the registry, runs them with
                  substitutable sources, prints a table with fix hints
    checks.py     the doctor's checks of any device (configuration, clock, disk, store, services);
                  the others live beside what they check (printer/, kiosk/, sync/, ... checks.py)
    techinfo.py   what the hidden technician gesture on the kiosk and display shows

The top of the stack below cli/: it imports the apps; nothing but cli/ imports it.
"""

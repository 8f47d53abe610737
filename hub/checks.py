"""The doctor's hub check: the site broker's files are there, with a password entry and an ACL
for every device of the site. Provisioning decides where the files are (appliance.units) and
hands the paths in."""
from __future__ import annotations

from pathlib import Path

from runtime.checks import FAIL, OK, SKIP, Check, Context, Result


def site_broker_files(conf: str, passwd: str, acl: str, hub_passwd: str) -> Check:
    """The check of the Mosquitto configuration, password file and ACL file at these paths."""

    def check(ctx: Context) -> Result:
        name = "site broker files"
        d, site = ctx.device, ctx.site
        if d is None or site is None:
            return Result(name, SKIP, "no valid configuration")
        base = ctx.root or Path("/")
        conf_p, pw_p, acl_p, hub_p = (base / p.lstrip("/") for p in (conf, passwd, acl, hub_passwd))
        hint = "run palvelupiste provision --role hub again (it writes the site broker's configuration)"
        try:
            users = {line.split(":", 1)[0] for line in pw_p.read_text().splitlines() if ":" in line}
            acl_text = acl_p.read_text()
            conf_p.read_text()
            hub_users = {line.split(":", 1)[0] for line in hub_p.read_text().splitlines() if ":" in line}
        except OSError as exc:
            return Result(name, FAIL, f"{exc.filename}: {exc.strerror}", hint)
        missing = [dev for dev in sorted(site.devices) if dev not in users]
        acl_users = {words[1] for words in map(str.split, acl_text.splitlines())
                     if len(words) == 2 and words[0] == "user"}
        no_acl = [dev for dev in sorted(site.devices) if dev not in acl_users]
        # The hub's own listener must take the hub, and nobody else.
        hub_wrong = hub_users != {d.id}
        if missing or no_acl or hub_wrong:
            return Result(name, FAIL, "; ".join(filter(None, [
                f"no password entry for {', '.join(missing)}" if missing else "",
                f"no ACL for {', '.join(no_acl)}" if no_acl else "",
                f"{hub_passwd} must hold the hub {d.id} alone, not {sorted(hub_users)}" if hub_wrong else ""])),
                hint)
        return Result(name, OK, f"{conf}: {len(users)} devices with password and ACL")

    return Check("site broker files", check)

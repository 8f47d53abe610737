"""`palvelupiste central publish-config / publish-appointments`: a file is validated whole and
refused whole, naming the field or line that is wrong; a good one is published retained (QoS 1) on
pp/<site>/config (the TOML text as it is) or pp/<site>/appointments (a JSON list of
{"code", "service", "at_ms"} — `core.appointments.appointments_to_json`)."""
from __future__ import annotations

from pathlib import Path

from bus import topics
from bus.retained import PublishError, fetch_retained, publish_retained
from core.config import Broker, Site
from core.downwire import DownwireError, appointments_bytes, validate_appointments, validate_site_config
from core.events import valid_id

__all__ = ["DownwireError", "PublishError", "publish_config", "publish_config_text", "publish_appointments"]


def publish_config(site_id: str, path: str | Path, broker: Broker, *, client_id: str | None = None) -> Site:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DownwireError(f"{path}: cannot read: {exc}") from None
    return publish_config_text(site_id, text, broker, str(path), client_id=client_id)


def publish_config_text(site_id: str, text: str, broker: Broker, source: str = "<config>", *,
                        client_id: str | None = None) -> Site:
    """Validate a site's configuration whole and publish it retained (the web service's upload
    and `central publish-config` alike)."""
    if not valid_id(site_id):
        raise DownwireError(f"{site_id!r} is not a valid site id")
    site = validate_site_config(site_id, text, source)
    publish_retained(broker, topics.config(site_id), text.encode("utf-8"), client_id=client_id)
    return site


def publish_appointments(site_id: str, path: str | Path, broker: Broker, site_config: str | Path | None = None, *,
                         client_id: str | None = None) -> int:
    """Validate against the site configuration (a local file, or the one published retained on
    the broker) and publish. Returns the number of appointments."""
    if not valid_id(site_id):
        raise DownwireError(f"{site_id!r} is not a valid site id")
    if site_config is not None:
        try:
            cfg_text = Path(site_config).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise DownwireError(f"{site_config}: cannot read: {exc}") from None
        site = validate_site_config(site_id, cfg_text, str(site_config))
    else:
        raw = fetch_retained(broker, topics.config(site_id), client_id=client_id)
        if raw is None:
            raise DownwireError(f"no configuration of site {site_id!r} is published on the broker; "
                                "publish it first or give --site-config FILE")
        site = validate_site_config(site_id, raw.decode("utf-8", "replace"), f"{topics.config(site_id)} (retained)")
    p = Path(path)
    fmt = "json" if p.suffix.lower() == ".json" else "csv" if p.suffix.lower() == ".csv" else "auto"
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DownwireError(f"{path}: cannot read: {exc}") from None
    items = validate_appointments(site, text, fmt, str(path))
    publish_retained(broker, topics.appointments(site_id), appointments_bytes(items), client_id=client_id)
    return len(items)

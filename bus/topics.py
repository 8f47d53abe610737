"""Every MQTT topic of the system, in one place. The README's topic table mirrors this module.

Conventions follow Zigbee2MQTT: one prefix, the site, then the device; availability is a
retained "online"/"offline" with the last will; state and status are retained JSON.

Site bus (the site broker; user name = device id):
    pp/<site>/hub/cmd/<device>          device → hub, MQTT 5 request (response topic + correlation data)
    pp/<site>/dev/<device>/reply        hub → device, the answer to each command
    pp/<site>/state                     hub, retained: live queue (waiting, estimates, counters, last calls)
    pp/<site>/calls                     hub: one message per call or recall, for displays to react at once
    pp/<site>/dev/<device>/availability retained "online" / last will "offline"
    pp/<site>/dev/<device>/status       retained JSON health of the device

Sync (the central broker; user name = "<site>.<device>"):
    pp/<site>/dev/<device>/events       device → central: a batch of events, QoS 1
    pp/<site>/dev/<device>/ack          central → device, retained: highest contiguous sequence stored
    pp/<site>/dev/<device>/availability, .../status   as above
    pp/<site>/config                    central, retained: the site configuration (TOML text)
    pp/<site>/appointments              central, retained: the appointment list (JSON)
    $share/ingest/pp/+/dev/+/events     what ingest workers subscribe to, sharing the load
"""
from __future__ import annotations

ROOT = "pp"
INGEST_GROUP = "ingest"


def _check(*levels: str) -> None:
    for level in levels:
        if not level or any(c in level for c in "/+#\0"):
            raise ValueError(f"{level!r} cannot be an MQTT topic level")


def command(site: str, device: str) -> str:
    _check(site, device)
    return f"{ROOT}/{site}/hub/cmd/{device}"


def commands_all(site: str) -> str:
    _check(site)
    return f"{ROOT}/{site}/hub/cmd/+"


def reply(site: str, device: str) -> str:
    _check(site, device)
    return f"{ROOT}/{site}/dev/{device}/reply"


def state(site: str) -> str:
    _check(site)
    return f"{ROOT}/{site}/state"


def calls(site: str) -> str:
    _check(site)
    return f"{ROOT}/{site}/calls"


def availability(site: str, device: str) -> str:
    _check(site, device)
    return f"{ROOT}/{site}/dev/{device}/availability"


def status(site: str, device: str) -> str:
    _check(site, device)
    return f"{ROOT}/{site}/dev/{device}/status"


def events(site: str, device: str) -> str:
    _check(site, device)
    return f"{ROOT}/{site}/dev/{device}/events"


def events_all(shared: bool = True) -> str:
    t = f"{ROOT}/+/dev/+/events"
    return f"$share/{INGEST_GROUP}/{t}" if shared else t


def ack(site: str, device: str) -> str:
    _check(site, device)
    return f"{ROOT}/{site}/dev/{device}/ack"


def config(site: str) -> str:
    _check(site)
    return f"{ROOT}/{site}/config"


def appointments(site: str) -> str:
    _check(site)
    return f"{ROOT}/{site}/appointments"


def central_username(site: str, device: str) -> str:
    return f"{site}.{device}"


def parse_device_topic(topic: str) -> tuple[str, str, str] | None:
    """'pp/<site>/dev/<device>/<leaf>' → (site, device, leaf); anything else → None."""
    parts = topic.split("/")
    if len(parts) == 5 and parts[0] == ROOT and parts[2] == "dev":
        return parts[1], parts[3], parts[4]
    return None


def parse_command_topic(topic: str) -> tuple[str, str] | None:
    """'pp/<site>/hub/cmd/<device>' → (site, device)."""
    parts = topic.split("/")
    if len(parts) == 5 and parts[0] == ROOT and parts[2] == "hub" and parts[3] == "cmd":
        return parts[1], parts[4]
    return None

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
    pp/<site>/follow                    hub, retained: each ticket's state for its phone page (core/follow.py);
                                        the site broker's bridge copies it to the central broker
    pp/<site>/follow/cancel             "I'm not coming" from a phone page, copied in by the bridge; hub only

Sync (the central broker; user name = "<site>.<device>"):
    pp/<site>/dev/<device>/events       device → central: a batch of events, QoS 1
    pp/<site>/dev/<device>/ack          central → device, retained: highest contiguous sequence stored
    pp/<site>/dev/<device>/availability, .../status   as above
    pp/<site>/config                    central, retained: the site configuration (TOML text)
    pp/<site>/appointments              central, retained: the appointment list (JSON)
    pp/<site>/bookings                  central, retained: the last batch of booking changes (JSON)
    pp/<site>/bookings/since            the hub's sync agent -> central: send the changes after seq N
    $share/<group>/pp/+/dev/+/events    what ingest workers subscribe to, sharing the load
    pp/<site>/follow, pp/<site>/follow/cancel   as above, between the site's bridge and the web service
    pp/<site>/bridge                    retained "1" / last will "0": the site broker's bridge is connected

The ingest's shared-subscription group is a secret derived from the ingest's password
(`ingest_group`): Mosquitto 2.0 checks a `$share/<group>/<filter>` subscription against the ACL as
plain `<filter>` and never looks at the group, so a device that knew the group could join it and
take (and, lacking the read right, drop) its share of every device's batches. A device joining any
other group gets its own copy of what it may read, and nothing of other devices.

Client ids are derived from user names (`client_id`): a device's is its user name, which the
brokers' device listeners enforce (`use_username_as_clientid`), so no device can take over another
client's session.
"""
from __future__ import annotations

import hashlib
import hmac

from core.events import valid_id

ROOT = "pp"
#: Between site and device in a device's central user name. Ids cannot contain it
#: (core.events.valid_id), so two (site, device) pairs never give one user name.
CENTRAL_USER_SEP = "."
#: Between a service's user name and its instance in the client id. No user name holds it, so a
#: device's client id (its user name, forced by the broker) is never a service's.
CLIENT_INSTANCE_SEP = "/"


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


def follow(site: str) -> str:
    _check(site)
    return f"{ROOT}/{site}/follow"


def follow_cancel(site: str) -> str:
    _check(site)
    return f"{ROOT}/{site}/follow/cancel"


def follow_all() -> str:
    return f"{ROOT}/+/follow"


def bridge_state(site: str) -> str:
    _check(site)
    return f"{ROOT}/{site}/bridge"


def bridge_state_all() -> str:
    return f"{ROOT}/+/bridge"


def parse_site_topic(topic: str, leaf: str) -> str | None:
    """'pp/<site>/<leaf>' → site; anything else → None."""
    parts = topic.split("/")
    if len(parts) == 3 and parts[0] == ROOT and parts[2] == leaf and parts[1]:
        return parts[1]
    return None


def availability(site: str, device: str) -> str:
    _check(site, device)
    return f"{ROOT}/{site}/dev/{device}/availability"


def status(site: str, device: str) -> str:
    _check(site, device)
    return f"{ROOT}/{site}/dev/{device}/status"


def events(site: str, device: str) -> str:
    _check(site, device)
    return f"{ROOT}/{site}/dev/{device}/events"


def ingest_group(secret: str) -> str:
    """The ingest workers' shared-subscription group: every worker with the ingest's password
    derives the same name, and nobody without it can (see the module's docstring)."""
    digest = hmac.new(secret.encode("utf-8"), b"palvelupiste ingest group", hashlib.sha256).hexdigest()
    return f"ingest-{digest[:32]}"


def _shared(group: str | None, topic_filter: str) -> str:
    if group is None:
        return topic_filter
    _check(group)
    return f"$share/{group}/{topic_filter}"


def events_all(group: str | None = None) -> str:
    """Every device's events; shared among the members of `group` when one is given."""
    return _shared(group, f"{ROOT}/+/dev/+/events")


def status_all(group: str | None = None) -> str:
    return _shared(group, f"{ROOT}/+/dev/+/status")


def availability_all(group: str | None = None) -> str:
    return _shared(group, f"{ROOT}/+/dev/+/availability")


def config_all() -> str:
    return f"{ROOT}/+/config"


def ack(site: str, device: str) -> str:
    _check(site, device)
    return f"{ROOT}/{site}/dev/{device}/ack"


def config(site: str) -> str:
    _check(site)
    return f"{ROOT}/{site}/config"


def appointments(site: str) -> str:
    _check(site)
    return f"{ROOT}/{site}/appointments"


def bookings(site: str) -> str:
    """central, retained: the last batch of the site's booking changes (core/bookbook.py)"""
    _check(site)
    return f"{ROOT}/{site}/bookings"


def bookings_since(site: str) -> str:
    """the site's hub (its sync agent) -> central: {"seq": N}, send the changes after N again"""
    _check(site)
    return f"{ROOT}/{site}/bookings/since"


def bookings_since_all() -> str:
    return f"{ROOT}/+/bookings/since"


def central_username(site: str, device: str) -> str:
    """A device's user name on the central broker, "<site>.<device>"; ValueError for an id that
    is not valid (one with the separator would let two devices share a name)."""
    for kind, value in (("site", site), ("device", device)):
        if not valid_id(value):
            raise ValueError(f"{kind} id {value!r} cannot be part of a central user name")
    return f"{site}{CENTRAL_USER_SEP}{device}"


def client_id(username: str, instance: str | None = None) -> str:
    """The MQTT client id of a connection made as `username`.

    Without `instance`: the user name itself — what every device uses, and what its broker
    enforces. With one: "<user>/<instance>", for the centre's services (several ingest workers,
    the publishing tools), which connect on their own listener and may run side by side."""
    if not username or CLIENT_INSTANCE_SEP in username:
        raise ValueError(f"user name {username!r} cannot make a client id")
    if instance is None:
        return username
    if not instance:
        raise ValueError("a client id instance cannot be empty")
    return f"{username}{CLIENT_INSTANCE_SEP}{instance}"


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

"""Central user names cannot collide: "<site>.<device>" with ids that cannot hold the ".", so
`a` + `b.c` and `a.b` + `c` (both once "a.b.c", with two ACL blocks for one user) are refused
wherever an id enters: the site configuration, provisioning, the user name, the ACL."""
import pytest

from bus import brokerconf, topics
from core.config import ConfigError, loads_site
from core.events import valid_id
from core.resources import example_site

EXAMPLE = example_site().read_text(encoding="utf-8")


@pytest.mark.parametrize("site,device", [("a", "b.c"), ("a.b", "c")])
def test_ids_with_the_separator_make_no_user_name(site, device):
    assert not valid_id(site) or not valid_id(device)
    with pytest.raises(ValueError):
        topics.central_username(site, device)


def test_the_config_parser_refuses_a_device_id_with_the_separator():
    site = loads_site(EXAMPLE)
    assert all(valid_id(d) for d in site.devices)
    with pytest.raises(ConfigError, match="short id"):
        loads_site(EXAMPLE + '\n[[devices]]\nid = "kiosk.2"\nrole = "kiosk"\n')
    with pytest.raises(ConfigError, match="short id"):
        loads_site(EXAMPLE.replace('id = "example-pp"', 'id = "example.pp"', 1))


def test_every_site_and_device_gets_its_own_user_name():
    sites = {"a": ["b-c", "b_c", "kiosk-1"], "a-b": ["c", "kiosk-1"], "a_b": ["c"]}
    names = brokerconf.central_users(sites)
    assert len(names) == len(set(names)) == 6
    acl = brokerconf.render_central_acl(sites)
    assert sorted(line.split()[1] for line in acl.splitlines() if line.startswith("user ")) == \
        sorted(names + ["ingest", "publisher", "web"])
    with pytest.raises((brokerconf.BrokerConfError, ValueError)):
        brokerconf.render_central_acl({"a": ["b.c"], "a.b": ["c"]})


def test_a_device_cannot_take_a_service_user_name_or_client_id():
    with pytest.raises(brokerconf.BrokerConfError, match="taken"):
        brokerconf.render_central_acl({"x": ["y"]}, ingest_user="x.y")
    # a device's client id is its user name; a service's has the instance separator in it
    assert topics.client_id("example-pp.kiosk-1") == "example-pp.kiosk-1"
    assert topics.client_id("ingest", "host-1") == "ingest/host-1"
    with pytest.raises(ValueError):
        topics.client_id("ingest/x")

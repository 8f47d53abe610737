"""The MQTT plumbing against a real Mosquitto: connect, request/response properties, PUBACK
reason codes (an ACL refusal is a failure, not a success), reconnect after a broker restart."""
import pytest

from bus.link import Connected, LinkOptions, Message, MqttLink, PubAck, backoff_delay
from tests.support.broker import MosquittoBroker, make_password_file
from tests.support.wait import next_item


def wait_for(inbox, kind, timeout=10.0, pred=lambda x: True):
    """The next item of `kind` on `inbox` that satisfies `pred`."""
    return next_item(inbox, lambda item: isinstance(item, kind) and pred(item), timeout, f"a {kind.__name__}")


@pytest.mark.broker
def test_publish_subscribe_with_response_properties(broker):
    a = MqttLink(LinkOptions("127.0.0.1", broker.port, "a", subscriptions=[("t/#", 1)])).start()
    b = MqttLink(LinkOptions("127.0.0.1", broker.port, "b")).start()
    try:
        wait_for(a.inbox, Connected)
        assert b.wait_connected(10)
        # Retained: the subscriber's SUBACK may still be on its way; a retained message (with its
        # MQTT 5 properties) reaches it either way.
        rc, mid = b.publish("t/x", b"hello", qos=1, retain=True, response_topic="r/b", correlation_data=b"42")
        assert rc == 0
        msg = wait_for(a.inbox, Message)
        assert (msg.topic, msg.payload, msg.response_topic, msg.correlation_data) == ("t/x", b"hello", "r/b", b"42")
        ack = wait_for(b.inbox, PubAck, pred=lambda p: p.mid == mid)
        assert not ack.failure
    finally:
        a.stop()
        b.stop()


@pytest.mark.broker
def test_acl_refusal_is_reported_as_failure(tmp_path):
    pw = make_password_file(tmp_path / "passwd", {"dev1": "secret1"})
    acl = tmp_path / "acl"
    acl.write_text("user dev1\ntopic write allowed/#\n")
    with MosquittoBroker(tmp_path / "b", anonymous=False, password_file=pw, acl_file=acl) as br:
        link = MqttLink(LinkOptions("127.0.0.1", br.port, "dev1", username="dev1", password="secret1")).start()
        try:
            assert link.wait_connected(10)
            _, ok_mid = link.publish("allowed/x", b"1", qos=1)
            _, bad_mid = link.publish("forbidden/x", b"1", qos=1)
            ok = wait_for(link.inbox, PubAck, pred=lambda p: p.mid == ok_mid)
            bad = wait_for(link.inbox, PubAck, pred=lambda p: p.mid == bad_mid)
            assert not ok.failure
            assert bad.failure and bad.code == 0x87, bad
        finally:
            link.stop()


@pytest.mark.broker
def test_reconnects_after_broker_restart(broker):
    link = MqttLink(LinkOptions("127.0.0.1", broker.port, "r", min_backoff_s=0.05, max_backoff_s=0.5)).start()
    try:
        wait_for(link.inbox, Connected)
        broker.kill()
        broker.start()
        wait_for(link.inbox, Connected, timeout=15)
        assert link.connects >= 2
    finally:
        link.stop()


def test_backoff_has_jitter_and_a_ceiling():
    import random

    rng = random.Random(3)
    delays = [backoff_delay(5, 0.5, 30, rng) for _ in range(50)]
    assert len(set(delays)) > 40  # not lock-step
    assert all(8 <= d <= 16 for d in delays)
    assert all(15 <= backoff_delay(30, 0.5, 30, rng) <= 30 for _ in range(20))

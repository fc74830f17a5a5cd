"""MqttConnection against a real Mosquitto: round trip, persistent session, broker restart, manual ack."""

from __future__ import annotations

import time

import pytest

from edge.broker import Mosquitto
from ingest.mqtt_client import InboundMessage, MqttConnection
from tests.ingest.mqtt_helpers import Inbox, fast_config

TOPIC = "grid/water/m-1/reading"


def subscriber(broker: Mosquitto, inbox: Inbox, client_id: str = "sub", protocol: str = "5",
               **kwargs: object) -> MqttConnection:
    return MqttConnection(
        fast_config(broker.url, protocol=protocol), client_id, subscriptions=["grid/water/+/reading"],
        on_message=inbox, **kwargs,
    )


@pytest.fixture(params=["5", "3.1.1"])
def protocol(request: pytest.FixtureRequest) -> str:
    """The session guarantees hold in both protocols the client speaks."""
    return request.param


def ready(sub: MqttConnection, pub: MqttConnection, inbox: Inbox, tag: str = "probe") -> None:
    """Connected and subscribed: a probe went through."""
    assert sub.wait_connected(10) and pub.wait_connected(10)
    probe = f"{tag}-{time.monotonic_ns()}".encode()
    deadline = time.monotonic() + 10
    while not any(m.payload == probe for m in inbox.messages):
        # The SUBSCRIBE may still be on its way: repeat the probe until it arrives.
        assert time.monotonic() < deadline, "subscription never became active"
        pub.publish(TOPIC, probe)
        time.sleep(0.05)


def test_round_trip_with_user_properties(mosquitto: Mosquitto) -> None:
    inbox = Inbox()
    with subscriber(mosquitto, inbox) as sub, MqttConnection(fast_config(mosquitto.url), "pub") as pub:
        ready(sub, pub, inbox)
        assert pub.publish(TOPIC, b'{"ts": 1, "total_l": 2}', user_properties={"ts": "1714564800000"})
        [msg] = [m for m in inbox.wait_payload(b'{"ts": 1, "total_l": 2}') if m.payload.startswith(b"{")]
        assert msg.topic == TOPIC and msg.qos == 1
        assert msg.user_properties == {"ts": "1714564800000"}
        assert abs(msg.received_at - time.time()) < 10
        assert pub.flush(5) and pub.pending == 0
        assert sub.counters()["received"] >= 2 and pub.counters()["published"] >= 2


def test_persistent_session_receives_what_was_published_while_away(mosquitto: Mosquitto, protocol: str) -> None:
    inbox = Inbox()
    pub = MqttConnection(fast_config(mosquitto.url, protocol=protocol), "pub").start()
    sub = subscriber(mosquitto, inbox, "edge-worker", protocol=protocol).start()
    ready(sub, pub, inbox)
    sub.stop()
    inbox.messages.clear()

    sent = [f"away-{i}".encode() for i in range(200)]
    for payload in sent:
        assert pub.publish(TOPIC, payload, qos=1)
    assert pub.flush(10), "the broker did not acknowledge the messages"

    back = subscriber(mosquitto, inbox, "edge-worker", protocol=protocol).start()
    try:
        wanted = set(sent)
        got = inbox.wait_for(lambda msgs: len({m.payload for m in msgs} & wanted) == len(sent))
        assert [m.payload for m in got if m.payload in wanted] == sent  # all, once, in order
    finally:
        back.stop()
        pub.stop()


def test_not_persistent_session_misses_what_was_published_while_away(mosquitto: Mosquitto, protocol: str) -> None:
    inbox = Inbox()
    with MqttConnection(fast_config(mosquitto.url, protocol=protocol), "pub") as pub:
        sub = subscriber(mosquitto, inbox, "viewer", protocol=protocol, persistent=False).start()
        ready(sub, pub, inbox)
        sub.stop()
        pub.publish(TOPIC, b"missed")
        assert pub.flush(5)
        inbox.messages.clear()
        with subscriber(mosquitto, inbox, "viewer", protocol=protocol, persistent=False) as again:
            ready(again, pub, inbox, tag="after")
            assert b"missed" not in inbox.payloads()


def test_reconnects_after_broker_restart_and_keeps_receiving(mosquitto: Mosquitto) -> None:
    inbox = Inbox()
    with subscriber(mosquitto, inbox) as sub, MqttConnection(fast_config(mosquitto.url), "pub") as pub:
        ready(sub, pub, inbox)
        mosquitto.stop()
        deadline = time.monotonic() + 10
        while sub.connected.is_set() or pub.connected.is_set():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        # Published while the broker is down: paho keeps QoS 1 messages and sends them later.
        assert pub.publish(TOPIC, b"while-down", qos=1)
        mosquitto.start()
        assert sub.wait_connected(10) and pub.wait_connected(10)
        inbox.wait_payload(b"while-down")
        pub.publish(TOPIC, b"after-restart")
        inbox.wait_payload(b"after-restart")
        assert sub.counters()["reconnects"] >= 1 and pub.counters()["reconnects"] >= 1


def test_start_without_a_broker_connects_when_it_comes(mosquitto: Mosquitto) -> None:
    mosquitto.stop()
    inbox = Inbox()
    sub = subscriber(mosquitto, inbox).start()  # must not raise
    try:
        assert not sub.wait_connected(0.3)
        mosquitto.start()
        assert sub.wait_connected(10)
        with MqttConnection(fast_config(mosquitto.url), "pub") as pub:
            ready(sub, pub, inbox)
    finally:
        sub.stop()


def test_unacked_message_is_redelivered_after_reconnect(mosquitto: Mosquitto, protocol: str) -> None:
    inbox = Inbox()
    with MqttConnection(fast_config(mosquitto.url, protocol=protocol), "pub") as pub:
        sub = subscriber(mosquitto, inbox, "worker", protocol=protocol, manual_ack=True).start()
        ready(sub, pub, inbox)
        for msg in inbox.messages:
            assert sub.ack(msg)
        pub.publish(TOPIC, b"unacked")
        pub.publish(TOPIC, b"acked")
        got = inbox.wait_payload(b"acked")
        assert sub.ack(next(m for m in got if m.payload == b"acked"))
        sub.stop()  # the PUBACK is queued before the DISCONNECT, so it reaches the broker
        inbox.messages.clear()

        again = subscriber(mosquitto, inbox, "worker", protocol=protocol, manual_ack=True).start()
        try:
            redelivered = inbox.wait_payload(b"unacked")
            message = next(m for m in redelivered if m.payload == b"unacked")
            assert message.dup
            assert again.ack(message)
            # The acked message does not come back: a marker sent now arrives with nothing before it.
            pub.publish(TOPIC, b"marker")
            got = inbox.wait_payload(b"marker")
            assert b"acked" not in [m.payload for m in got]
            for m in got:
                again.ack(m)
        finally:
            again.stop()


def test_ack_from_a_lost_session_is_skipped(mosquitto: Mosquitto) -> None:
    inbox = Inbox()
    with MqttConnection(fast_config(mosquitto.url), "pub") as pub:
        sub = subscriber(mosquitto, inbox, "worker", manual_ack=True, persistent=False).start()
        ready(sub, pub, inbox)
        old = inbox.messages[-1]
        sub.stop()
        sub.start()  # clean start: a new session, old packet ids mean nothing now
        assert sub.wait_connected(10)
        try:
            assert sub.ack(old) is False
        finally:
            sub.stop()


def test_an_exception_in_on_message_does_not_stop_the_loop(mosquitto: Mosquitto) -> None:
    inbox = Inbox()

    def handler(msg: InboundMessage) -> None:
        if msg.payload == b"boom":
            raise RuntimeError("handler bug")
        inbox(msg)

    sub = MqttConnection(fast_config(mosquitto.url), "sub", subscriptions=[TOPIC], on_message=handler)
    with sub, MqttConnection(fast_config(mosquitto.url), "pub") as pub:
        ready(sub, pub, inbox)
        pub.publish(TOPIC, b"boom")
        pub.publish(TOPIC, b"after")
        inbox.wait_payload(b"after")
        assert sub.counters()["callback_errors"] == 1


def test_full_outgoing_queue_refuses_instead_of_growing(mosquitto: Mosquitto) -> None:
    mosquitto.stop()
    pub = MqttConnection(fast_config(mosquitto.url), "pub", max_queued=10).start()
    try:
        results = [pub.publish(TOPIC, b"x", qos=1) for _ in range(15)]
        assert results == [True] * 10 + [False] * 5
        assert pub.publish(TOPIC, b"q0", qos=0) is False  # QoS 0 while disconnected is dropped
        assert pub.counters()["dropped"] == 6
    finally:
        pub.stop()


def test_subscribed_means_the_next_message_is_delivered_and_it_follows_the_broker(mosquitto: Mosquitto) -> None:
    inbox = Inbox()
    sub = subscriber(mosquitto, inbox, client_id="sub-ready", persistent=False)
    with sub, MqttConnection(fast_config(mosquitto.url), "pub-ready", persistent=False) as pub:
        assert sub.wait_subscribed(10) and pub.wait_connected(10)
        pub.publish(TOPIC, b"first")  # no probe: subscribed means the broker has the subscription
        deadline = time.monotonic() + 5
        while not inbox.messages and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [m.payload for m in inbox.messages] == [b"first"]
        mosquitto.stop()
        deadline = time.monotonic() + 5
        while sub.subscribed.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not sub.subscribed.is_set()
        mosquitto.start()
        assert sub.wait_subscribed(10)

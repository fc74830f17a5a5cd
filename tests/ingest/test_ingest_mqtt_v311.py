"""MqttConnection with protocol "3.1.1" against a real Mosquitto (which speaks v5 and 3.1.1)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from edge.broker import Mosquitto
from ingest.config import MqttConfig
from ingest.mqtt_client import MqttConnection
from ingest.yamlconf import validate_file
from tests.ingest.mqtt_helpers import Inbox, fast_config
from tests.ingest.test_ingest_mqtt_client import TOPIC, ready


def v311(url: str) -> MqttConfig:
    return fast_config(url, protocol="3.1.1")


def subscriber(broker: Mosquitto, inbox: Inbox, client_id: str = "sub", **kwargs: object) -> MqttConnection:
    return MqttConnection(
        v311(broker.url), client_id, subscriptions=["grid/water/+/reading"], on_message=inbox, **kwargs
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [("5", "5"), (5, "5"), ("3.1.1", "3.1.1"), (None, "5"), ("4", ValidationError), ("3.1", ValidationError)],
)
def test_protocol_values(value: object, expected: object) -> None:
    kwargs = {} if value is None else {"protocol": value}
    if expected is ValidationError:
        with pytest.raises(ValidationError, match="protocol"):
            MqttConfig(**kwargs)  # type: ignore[arg-type]
    else:
        assert MqttConfig(**kwargs).protocol == expected  # type: ignore[arg-type]


def test_protocol_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "mqtt.yaml"
    path.write_text("url: mqtt://127.0.0.1:1884\nprotocol: 3.1.1\n")
    assert validate_file(MqttConfig, path).protocol == "3.1.1"
    path.write_text("url: mqtt://127.0.0.1:1884\nprotocol: 5\n")
    assert validate_file(MqttConfig, path).protocol == "5"


def test_round_trip_qos1_drops_user_properties(mosquitto: Mosquitto) -> None:
    inbox = Inbox()
    with subscriber(mosquitto, inbox) as sub, MqttConnection(v311(mosquitto.url), "pub") as pub:
        assert not sub.v5 and not pub.v5
        ready(sub, pub, inbox)
        assert pub.publish(TOPIC, b'{"ts": 1}', qos=1, user_properties={"ts": "1714564800000"})
        [msg] = [m for m in inbox.wait_payload(b'{"ts": 1}') if m.payload == b'{"ts": 1}']
        assert msg.topic == TOPIC and msg.qos == 1
        assert msg.user_properties == {}  # 3.1.1 has none: dropped, not an error
        assert pub.flush(5) and pub.pending == 0


def test_persistent_session_receives_what_was_published_while_away(mosquitto: Mosquitto) -> None:
    inbox = Inbox()
    pub = MqttConnection(v311(mosquitto.url), "pub").start()
    sub = subscriber(mosquitto, inbox, "edge-worker").start()
    try:
        ready(sub, pub, inbox)
        sub.stop()
        inbox.messages.clear()
        sent = [f"away-{i}".encode() for i in range(200)]
        for payload in sent:
            assert pub.publish(TOPIC, payload, qos=1)
        assert pub.flush(10), "the broker did not acknowledge the messages"

        sub = subscriber(mosquitto, inbox, "edge-worker").start()
        wanted = set(sent)
        got = inbox.wait_for(lambda msgs: len({m.payload for m in msgs} & wanted) == len(sent))
        assert [m.payload for m in got if m.payload in wanted] == sent  # all, once, in order
    finally:
        sub.stop()
        pub.stop()


def test_clean_session_misses_what_was_published_while_away(mosquitto: Mosquitto) -> None:
    inbox = Inbox()
    with MqttConnection(v311(mosquitto.url), "pub") as pub:
        sub = subscriber(mosquitto, inbox, "viewer", persistent=False).start()
        ready(sub, pub, inbox)
        sub.stop()
        pub.publish(TOPIC, b"missed")
        assert pub.flush(5)
        inbox.messages.clear()
        with subscriber(mosquitto, inbox, "viewer", persistent=False) as again:
            ready(again, pub, inbox, tag="after")
            assert b"missed" not in inbox.payloads()


def test_manual_ack_unacked_message_is_redelivered(mosquitto: Mosquitto) -> None:
    inbox = Inbox()
    with MqttConnection(v311(mosquitto.url), "pub") as pub:
        sub = subscriber(mosquitto, inbox, "worker", manual_ack=True).start()
        ready(sub, pub, inbox)
        for msg in inbox.messages:
            assert sub.ack(msg)
        pub.publish(TOPIC, b"unacked")
        pub.publish(TOPIC, b"acked")
        got = inbox.wait_payload(b"acked")
        assert sub.ack(next(m for m in got if m.payload == b"acked"))
        sub.stop()
        inbox.messages.clear()

        again = subscriber(mosquitto, inbox, "worker", manual_ack=True).start()
        try:
            message = next(m for m in inbox.wait_payload(b"unacked") if m.payload == b"unacked")
            assert message.dup
            assert again.ack(message)
            pub.publish(TOPIC, b"marker")
            got = inbox.wait_payload(b"marker")
            assert b"acked" not in [m.payload for m in got]
            for m in got:
                again.ack(m)
        finally:
            again.stop()

"""MqttConnection with protocol "3.1.1" against a real Mosquitto (which speaks v5 and 3.1.1).

The session guarantees (persistence, redelivery of unacknowledged messages) are tested for both
protocols in test_ingest_mqtt_client.py.
"""

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

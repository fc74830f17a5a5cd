"""The embedded demo broker (amqtt) with real MqttConnection clients, and `gridwatch demo` on it."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.embedded_broker import EmbeddedBroker
from ingest.config import MqttConfig
from ingest.mqtt_client import MqttConnection
from tests.ingest.mqtt_helpers import Inbox, fast_config
from tests.ingest.test_ingest_mqtt_client import TOPIC, ready

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def broker() -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker() as running:
        yield running


def v311(broker: EmbeddedBroker) -> MqttConfig:
    return fast_config(broker.url, protocol="3.1.1")


def subscriber(broker: EmbeddedBroker, inbox: Inbox, client_id: str = "sub", **kwargs: object) -> MqttConnection:
    return MqttConnection(v311(broker), client_id, subscriptions=["grid/water/+/reading"], on_message=inbox, **kwargs)


def wait_until(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_carries_qos1_between_two_clients_in_order(broker: EmbeddedBroker) -> None:
    assert re.fullmatch(r"mqtt://127\.0\.0\.1:\d+", broker.url) and broker.port
    inbox = Inbox()
    with subscriber(broker, inbox) as sub, MqttConnection(v311(broker), "pub") as pub:
        ready(sub, pub, inbox)
        sent = [f"m-{i}".encode() for i in range(500)]
        for payload in sent:
            assert pub.publish(TOPIC, payload, qos=1)
        assert pub.flush(10), "the broker did not acknowledge every message"
        wanted = set(sent)
        got = inbox.wait_for(lambda msgs: len({m.payload for m in msgs} & wanted) == len(sent))
        mine = [m for m in got if m.payload in wanted]
        assert [m.payload for m in mine] == sent  # all, once, in order
        assert {m.qos for m in mine} == {1} and {m.topic for m in mine} == {TOPIC}


def test_persistent_session_gets_what_was_published_while_away(broker: EmbeddedBroker) -> None:
    inbox = Inbox()
    pub = MqttConnection(v311(broker), "pub").start()
    sub = subscriber(broker, inbox, "edge-worker", manual_ack=True).start()
    try:
        ready(sub, pub, inbox)
        for msg in inbox.messages:
            sub.ack(msg)
        sub.stop()
        # amqtt loses QoS 1 messages routed to a connection while it closes (a documented limit):
        # publish once the broker has marked the session as away.
        wait_until(lambda: not broker.connected("edge-worker"))
        inbox.messages.clear()
        sent = [f"away-{i}".encode() for i in range(100)]
        for payload in sent:
            assert pub.publish(TOPIC, payload, qos=1)
        assert pub.flush(10)

        sub = subscriber(broker, inbox, "edge-worker", manual_ack=True).start()
        wanted = set(sent)
        got = inbox.wait_for(lambda msgs: len({m.payload for m in msgs} & wanted) == len(sent))
        assert [m.payload for m in got if m.payload in wanted] == sent
        assert all(sub.ack(m) for m in got)
    finally:
        sub.stop()
        pub.stop()


def test_refuses_mqtt_v5_clients(broker: EmbeddedBroker) -> None:
    v5 = MqttConnection(fast_config(broker.url), "v5-client").start()
    try:
        assert not v5.wait_connected(1.0)
    finally:
        v5.stop()


def test_a_taken_port_is_a_clear_error(broker: EmbeddedBroker) -> None:
    with pytest.raises(RuntimeError, match="could not start"):
        EmbeddedBroker(port=broker.port).start()


def test_stop_closes_the_listener_and_twice_is_harmless() -> None:
    embedded = EmbeddedBroker().start()
    client = MqttConnection(v311(embedded), "c").start()
    try:
        assert client.wait_connected(5)
        embedded.stop()
        wait_until(lambda: not client.connected.is_set())
        embedded.stop()
        assert not embedded.running
    finally:
        client.stop()


def test_demo_runs_on_the_embedded_broker(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "edge.cli", "demo", "--broker", "embedded", "--duration", "12", "--meters", "5",
           "--port", "0", "--state-dir", str(tmp_path / "demo")]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert "broker: embedded amqtt broker at mqtt://127.0.0.1:" in out and "MQTT 3.1.1 only" in out
    found = re.search(r"demo stopped: (\d+) readings", out)
    assert found, out[-3000:]
    assert int(found.group(1)) > 0
    assert "Traceback" not in out, out[-3000:]

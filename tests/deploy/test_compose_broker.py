"""The compose site's broker, run for real: deploy/compose/mosquitto-start.sh sets the edge's and dispatch's
accounts from the secret and starts Debian's Mosquitto with deploy/compose/mosquitto.conf and the ACL of
deploy/mosquitto/. Paths are moved into a temp folder and the listener to a free loopback port; nothing else
of the files changes."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.broker import find_mosquitto, free_port, wait_for_port
from ingest.config import MqttConfig
from ingest.mqtt_client import InboundMessage, MqttConnection

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PASSWORD = "compose-test-password"


@pytest.fixture
def compose_broker(tmp_path: Path) -> Iterator[str]:
    if find_mosquitto() is None:
        pytest.fail("mosquitto is not installed: run the README's set-up")
    root = tmp_path / "mosquitto"
    (root / "config").mkdir(parents=True)
    (root / "data").mkdir()
    secrets = tmp_path / "run-secrets"
    secrets.mkdir()
    (secrets / "GRIDWATCH_MQTT_PASSWORD").write_text(PASSWORD + "\n")
    port = free_port()
    conf = (DEPLOY / "compose/mosquitto.conf").read_text().replace("/mosquitto/", f"{root}/")
    conf = conf.replace("listener 1883\n", f"listener {port} 127.0.0.1\n")
    # This test runs as root in a private temp folder that Mosquitto's own user cannot enter.
    (root / "config/mosquitto.conf").write_text(conf + "user root\n")
    (root / "config/gridwatch.acl").write_text((DEPLOY / "mosquitto/gridwatch.acl").read_text())
    script = (DEPLOY / "compose/mosquitto-start.sh").read_text()
    script = script.replace("/mosquitto/", f"{root}/").replace("/run/secrets/", f"{secrets}/")
    path = os.environ["PATH"] + ":" + str(Path(find_mosquitto() or "mosquitto").parent) + ":/usr/sbin:/usr/bin"
    log = (tmp_path / "mosquitto.log").open("wb")
    process = subprocess.Popen(["/bin/sh", "-c", script], env={"PATH": path}, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port("127.0.0.1", port, 10)
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def connect(url: str, user: str | None, password: str | None, **kwargs: object) -> MqttConnection:
    connection = MqttConnection(MqttConfig(url=url, username=user), f"compose-{user}-{free_port()}",
                                persistent=False, password=password, **kwargs)  # type: ignore[arg-type]
    return connection.start()


def test_the_compose_broker_admits_the_accounts_and_keeps_the_acl(compose_broker: str) -> None:
    alerts: list[InboundMessage] = []
    readings: list[InboundMessage] = []
    dispatch = connect(compose_broker, "dispatch", PASSWORD, subscriptions=["grid/alerts/#"], on_message=alerts.append)
    edge = connect(compose_broker, "edge-01", PASSWORD, subscriptions=["grid/water/#"], on_message=readings.append)
    intruders = [connect(compose_broker, "edge-01", "wrong"), connect(compose_broker, None, None)]
    try:
        assert dispatch.wait_subscribed(10) and edge.wait_subscribed(10), "the accounts from the secret log in"
        time.sleep(1.0)
        assert not any(i.connected.is_set() for i in intruders), "a wrong password and no account are refused"
        edge.publish("grid/alerts/g1", b'{"id": "a1"}', qos=1)
        dispatch.publish("grid/water/m-1/reading", b'{"ts": 1, "total_l": 1}', qos=1)  # dispatch may not
        deadline = time.monotonic() + 10
        while not alerts and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        assert [m.topic for m in alerts] == ["grid/alerts/g1"]
        assert readings == [], "the ACL lets no one but a meter write its readings"
    finally:
        for connection in (dispatch, edge, *intruders):
            connection.stop()

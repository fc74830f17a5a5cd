"""The water pipeline end to end: simulated meters speak the contract's topics to a real
Mosquitto, an edge worker raises alerts, a real dispatch endpoint stores them."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from edge.broker import Mosquitto, free_port
from edge.config import load_registry
from ingest.topics import Topics
from simulators.water.publish import MqttPublisher
from simulators.water.runner import outgoing
from simulators.water.scenario import ScenarioSpec, generate
from tests.e2e.harness import (
    TOKENS,
    Dispatch,
    EdgeProcess,
    assert_none_twice,
    change_identity,
    deadletter_listener,
    reference_changes,
    reference_from_messages,
    start_worker,
    wait_for,
    write_edge_config,
)


@pytest.fixture(autouse=True)
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in TOKENS.items():
        monkeypatch.setenv(name, value)


def publish(broker_url: str, messages) -> None:
    publisher = MqttPublisher(broker_url, f"e2e-pub-{free_port()}")
    try:
        for out in outgoing(messages, Topics()):
            publisher.publish(out.topic, out.payload)
        assert publisher.flush(60), "the broker did not acknowledge every message"
    finally:
        publisher.close()


def test_scenario_with_transport_faults_reaches_dispatch_once(tmp_path: Path, mosquitto: Mosquitto) -> None:
    spec = ScenarioSpec(meters=12, days=3, interval_min=15, seed=21, faults=True)
    scenario = generate(spec)
    scenario.write(tmp_path / "scenario")
    registry_path = tmp_path / "scenario" / "registry.yaml"
    dispatch = Dispatch(tmp_path / "dispatch", registry_path, free_port()).start()

    dead_letters: list[dict] = []
    listener = deadletter_listener(mosquitto.url, dead_letters)
    worker = start_worker(tmp_path, mosquitto.url, dispatch, registry_path)
    try:
        publish(mosquitto.url, scenario.messages)
        wait_for(lambda: worker.stats.messages >= len(scenario.messages), 120, "the edge to take every message")
        wait_for(lambda: worker.outbox.stats()["pending_http"] == 0, 60, "the outbox to drain")
        malformed = sum(m.malformed for m in scenario.messages)
        wait_for(lambda: len(dead_letters) >= malformed, 10, "a dead letter for each malformed payload")
        changes = dispatch.changes()
    finally:
        worker.stop()
        listener.stop()
        dispatch.stop()

    assert malformed > 0 and all(d["reason"] and d["topic"].startswith("grid/water/") for d in dead_letters)
    assert worker.stats.outcomes["duplicate"] > 0, "the simulator's duplicates were seen as duplicates"
    assert_none_twice(changes)
    # The worker survived transport faults and raised what an undisturbed run on clean data raises.
    got = {(c["type"], c["subject"]) for c in changes}
    reference = reference_changes(scenario.readings(), registry_path, scenario.away_notices())
    expected = {(c.type, c.subject) for c in reference}
    assert expected and expected <= got, f"missed: {expected - got}"
    # Every event the published rules must catch is at dispatch, on the right meter and grid.
    registry = load_registry(registry_path)
    for event in scenario.truth:
        for alert_type in event.expect:
            assert (alert_type, event.meter) in got, f"{event.kind} on {event.meter}: no {alert_type}"
    for change in changes:
        assert change["grid"] == registry.place_of_meter(change["subject"])[1]


def test_kill9_broker_restart_and_dispatch_outage_deliver_every_change_once(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    spec = ScenarioSpec(meters=10, days=3, interval_min=15, seed=5, faults=False)
    scenario = generate(spec)
    scenario.write(tmp_path / "scenario")
    registry_path = tmp_path / "scenario" / "registry.yaml"
    messages = scenario.messages
    causes: list[int] = []
    reference = reference_from_messages(messages, registry_path, causes)
    expected = {(c.id, c.state, c.severity, c.revision) for c in reference}
    assert len(expected) >= 5, "the scenario must raise alerts for this test to mean anything"

    dispatch = Dispatch(tmp_path / "dispatch", registry_path, free_port()).start()
    edge = EdgeProcess(write_edge_config(tmp_path, mosquitto.url, dispatch.url, registry_path),
                       tmp_path / "edge.log").start()
    # Quarters of the messages up to the last one that changes an alert, so that the last part (sent while
    # dispatch is down) raises something whatever the time of day the scenario starts at.
    quarter = (causes[-1] + 1) // 4
    parts = [messages[:quarter], messages[quarter:2 * quarter], messages[2 * quarter:3 * quarter],
             messages[3 * quarter:]]
    try:
        # 1. kill -9 the worker while it is taking a stream of readings
        publish(mosquitto.url, parts[0])
        sender = threading.Thread(target=publish, args=(mosquitto.url, parts[1]))
        sender.start()
        wait_for(lambda: edge.status().get("messages", 0) > quarter + 50, 60, "the worker to be mid-stream",
                 every_s=0.01)
        edge.kill9()
        sender.join()
        edge.start()

        # 2. restart the broker while the worker holds unacknowledged messages
        publish(mosquitto.url, parts[2])
        wait_for(lambda: edge.status().get("messages", 0) > 10, 60, "the worker to be busy again", every_s=0.01)
        mosquitto.restart()

        # 3. stop the dispatch endpoint while alerts are raised, bring it back later
        dispatch.stop()
        publish(mosquitto.url, parts[3])
        wait_for(lambda: edge.status().get("queue", 1) == 0 and edge.status().get("readings", 0) > 0
                 and edge.status().get("outbox", {}).get("pending_http", 0) > 0, 120,
                 "alerts to wait in the outbox while dispatch is down")
        time.sleep(1.5)  # an outage of several retries, while the worker goes on
        assert edge.status()["outbox"]["pending_http"] > 0
        dispatch.start()
        wait_for(lambda: edge.status().get("outbox", {}).get("pending_http", 1) == 0
                 and len({change_identity(c) for c in dispatch.changes()}) >= len(expected), 120,
                 "the outbox to drain into dispatch")
        changes = dispatch.changes()
    finally:
        edge.stop()
        dispatch.stop()

    assert_none_twice(changes)
    got = {change_identity(c) for c in changes}
    assert got == expected, f"missing: {sorted(expected - got)}; unexpected: {sorted(got - expected)}"

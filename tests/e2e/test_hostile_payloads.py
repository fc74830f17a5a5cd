"""Floods at a real edge worker (real Mosquitto): a batch of 10,000 bad readings is a bounded number of dead
letters, each quoting its own reading; meters nobody registered are bounded and forgotten when silent;
timestamps that overflow in UTC are dead letters, not tracebacks."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from edge.broker import Mosquitto, free_port
from edge.config import load_edge_config, load_registry
from edge.worker import MAX_LETTERS_PER_BATCH, EdgeWorker
from ingest.config import MqttConfig
from ingest.mqtt_client import MqttConnection
from tests.e2e.harness import TOKENS, Dispatch, deadletter_listener, wait_for, write_edge_config

REGISTRY = """\
grids: [{id: g1, workers: [w1]}]
workers: [{id: w1}]
buildings: [{id: b1, grid: g1}]
meters: [{id: m-1, building: b1}]
elevators: [{id: e-1, building: b1}]
"""


@pytest.fixture(autouse=True)
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in TOKENS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def setup(tmp_path: Path, mosquitto: Mosquitto):  # noqa: ANN201
    registry_path = tmp_path / "registry.yaml"
    registry_path.write_text(REGISTRY)
    dispatch = Dispatch(tmp_path / "dispatch", registry_path, free_port()).start()
    letters: list[dict] = []
    listener = deadletter_listener(mosquitto.url, letters)
    sender = MqttConnection(MqttConfig(url=mosquitto.url), "hostile-sender", persistent=False)
    sender.start()
    assert sender.wait_connected(10)
    workers: list[EdgeWorker] = []

    def start(**ingest: object) -> EdgeWorker:
        path = write_edge_config(tmp_path, mosquitto.url, dispatch.url, registry_path, health_listen=None,
                                 ingest=ingest, elevator={"flywheel": {"enabled": False}})
        worker = EdgeWorker(load_edge_config(path), load_registry(registry_path))
        worker.start()
        assert worker.mqtt.wait_subscribed(10)
        workers.append(worker)
        return worker

    yield start, sender, letters
    sender.stop()
    for worker in workers:
        worker.stop()
    listener.stop()
    dispatch.stop()


def test_a_batch_of_bad_readings_is_a_bounded_number_of_letters_each_quoting_its_reading(setup) -> None:  # noqa: ANN001
    start, sender, letters = setup
    worker = start()
    now_ms = int(time.time() * 1000)
    readings = [{"ts": now_ms - 10_000_000 + i, "total_l": -i - 1, "seq": i} for i in range(10_000)]
    readings[5000] = {"ts": now_ms - 1000, "total_l": 12.0}  # one good one among them
    sender.publish("grid/water/m-1/reading", json.dumps({"readings": readings}).encode(), qos=1)
    wait_for(lambda: worker.stats.readings >= 1, 30, "the good reading")
    wait_for(lambda: len(letters) >= MAX_LETTERS_PER_BATCH + 1, 30, "the dead letters")
    time.sleep(0.5)
    assert len(letters) == MAX_LETTERS_PER_BATCH + 1
    for n, letter in enumerate(letters[:MAX_LETTERS_PER_BATCH]):
        assert letter["reason"] == f"total_l: must be >= 0 (reading {n} of the batch)"
        assert json.loads(letter["payload_excerpt"])["seq"] == n  # its own reading, not the batch's head
    assert letters[-1]["reason"].startswith(f"batch: {9999 - MAX_LETTERS_PER_BATCH} more bad readings")
    assert "total_l x" in letters[-1]["reason"]


@pytest.mark.parametrize("ts", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_timestamps_that_overflow_in_utc_are_dead_letters(setup, ts: str) -> None:  # noqa: ANN001
    start, sender, letters = setup
    worker = start()
    sender.publish("grid/water/m-1/reading", json.dumps({"ts": ts, "total_l": 1}).encode(), qos=1)
    sender.publish("grid/elevator/e-1/status", json.dumps({"ts": ts, "door": "open"}).encode(), qos=1)
    wait_for(lambda: len(letters) >= 2, 30, "two dead letters")
    assert {letter["topic"] for letter in letters} == {"grid/water/m-1/reading", "grid/elevator/e-1/status"}
    assert all("out of range" in letter["reason"] for letter in letters), letters
    assert worker.healthy()


def test_meters_nobody_registered_are_bounded_and_forgotten_when_silent(setup) -> None:  # noqa: ANN001
    start, sender, letters = setup
    worker = start(max_unregistered_meters=5, unregistered_meter_expire_h=1.0)
    base = int(time.time() * 1000) - 5 * 3600_000
    for n in range(40):
        sender.publish(f"grid/water/made-up-{n}/reading", json.dumps({"ts": base, "total_l": 1.0}).encode(), qos=1)
    wait_for(lambda: len(letters) >= 40, 30, "a letter for each made-up meter")
    during = worker.snapshot()
    assert during["unregistered_meters"] == {"kept": 5, "refused_readings": 35, "expired": 0}
    assert during["meters"] == 5
    assert sum("over the limit of 5" in letter["reason"] for letter in letters) == 35
    away = {"from": base, "until": base + 3600_000}  # away notices of made-up meters are bounded too
    sender.publish("grid/water/made-up-99/away", json.dumps(away).encode(), qos=1)
    wait_for(lambda: len(letters) >= 41, 30, "the away notice refused")
    assert letters[40]["topic"] == "grid/water/made-up-99/away" and "over the limit" in letters[40]["reason"]
    assert worker.snapshot()["meters"] == 5
    # The registered meter moves the fleet's watermark 2 h on: the made-up ones are far behind it.
    sender.publish("grid/water/m-1/reading", json.dumps({"ts": base + 2 * 3600_000, "total_l": 1.0}).encode(), qos=1)
    wait_for(lambda: worker.snapshot()["unregistered_meters"]["expired"] == 5, 30, "the five forgotten")
    assert worker.snapshot()["meters"] == 1
    worker.stop()
    assert set(worker.store.__class__(worker.store.path).load_meter_states()) == {"m-1"}

"""A corpus of bad payloads ends in dead letters, each with its reason, and a running worker."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from edge.broker import Mosquitto, free_port
from ingest.config import MqttConfig
from ingest.mqtt_client import MqttConnection
from tests.e2e.harness import TOKENS, Dispatch, deadletter_listener, start_worker, wait_for

REGISTRY = """\
grids: [{id: g1, workers: [w1]}]
workers: [{id: w1}]
buildings: [{id: b1, grid: g1}]
meters: [{id: m-1, building: b1}]
"""

# (topic suffix, payload, a word the reason must contain)
CORPUS: list[tuple[str, bytes, str]] = [
    ("water/m-1/reading", b"\x00\xff not json", "UTF-8"),
    ("water/m-1/reading", b"{not json", "JSON"),
    ("water/m-1/reading", b"[1, 2, 3]", "object"),
    ("water/m-1/reading", b'{"ts": "2026-01-20T10:00:00Z", "total_l": "12.5"}', "total_l"),
    ("water/m-1/reading", b'{"ts": "2026-01-20T10:00:00Z", "total_l": NaN}', "NaN"),
    ("water/m-1/reading", b'{"ts": "2026-01-20T10:00:00Z", "total_l": -4}', "total_l"),
    ("water/m-1/reading", b'{"ts": "2026-01-20T10:00:00Z", "total_l": 1e30}', "total_l"),
    ("water/m-1/reading", b'{"ts": "2099-01-01T00:00:00Z", "total_l": 10}', "ahead"),
    ("water/m-1/reading", b'{"ts": "1970-01-02T00:00:00Z", "total_l": 10}', "ts"),
    ("water/m-1/reading", b'{"ts": "yesterday", "total_l": 10}', "ts"),
    ("water/m-1/reading", b'{"total_l": 10}', "ts"),
    ("water/m-1/reading", b'{"readings": []}', "batch"),
    ("water/m-1/reading", b"x" * 2_000_000, "large"),
    ("water/m-1/away", b'{"from": "2026-01-20T10:00:00Z", "until": "2026-01-19T10:00:00Z"}', "until"),
    ("water/bad id!/reading", b'{"ts": "2026-01-20T10:00:00Z", "total_l": 10}', "meter"),
]


@pytest.fixture(autouse=True)
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in TOKENS.items():
        monkeypatch.setenv(name, value)


def test_bad_payloads_become_dead_letters_and_the_worker_goes_on(tmp_path: Path, mosquitto: Mosquitto) -> None:
    registry_path = tmp_path / "registry.yaml"
    registry_path.write_text(REGISTRY)
    dispatch = Dispatch(tmp_path / "dispatch", registry_path, free_port()).start()
    letters: list[dict] = []
    listener = deadletter_listener(mosquitto.url, letters)
    worker = start_worker(tmp_path, mosquitto.url, dispatch, registry_path)
    sender = MqttConnection(MqttConfig(url=mosquitto.url), "e2e-bad-sender", persistent=False)
    sender.start()
    sender.wait_connected(10)
    try:
        for suffix, payload, _ in CORPUS:
            sender.publish(f"grid/{suffix}", payload)
        # then good readings, one from a meter nobody registered
        now_ms = int(time.time() * 1000)
        sender.publish("grid/water/m-1/reading", json.dumps({"ts": now_ms - 60_000, "total_l": 100.0}).encode())
        sender.publish("grid/water/m-9/reading", json.dumps({"ts": now_ms, "total_l": 5}).encode())
        wait_for(lambda: worker.stats.outcomes["accepted"] >= 2, 20, "the good readings after the bad ones")
        wait_for(lambda: len(letters) >= len(CORPUS) + 1, 20, "a dead letter for each bad payload")
        assert worker.healthy(), "the worker must still be connected and running"
    finally:
        sender.stop()
        worker.stop()
        listener.stop()
        dispatch.stop()

    by_topic: dict[str, list[str]] = {}
    for letter in letters:
        by_topic.setdefault(letter["topic"], []).append(letter["reason"])
        assert letter["ts"] and len(letter["payload_excerpt"]) <= 201
    reasons = [letter["reason"] for letter in letters]
    for (_suffix, _payload, word), reason in zip(CORPUS, reasons, strict=False):
        assert word.lower() in reason.lower(), (word, reason)
    assert any("unknown meter" in r for r in by_topic.get("grid/water/m-9/reading", [])), by_topic
    assert sum(worker.deadletters.counts.values()) == len(CORPUS) + 1

"""The elevator pipeline inside a real edge worker (real Mosquitto, real model): bad frames and statuses become
dead letters while judging goes on, a silent camera raises `elevator.camera_offline` and clears on its return."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from edge.broker import Mosquitto, free_port
from edge.elevator.pipeline import MAX_FRAME_AGE_S, frame_ts
from ingest.config import MqttConfig
from ingest.mqtt_client import MqttConnection
from tests.e2e.harness import TOKENS, Dispatch, deadletter_listener, wait_for
from tests.e2e.test_elevator_e2e import ebike_jpeg, grey_jpeg, start_edge

REGISTRY = """\
grids: [{id: g1, workers: [w1]}]
workers: [{id: w1}]
buildings: [{id: b1, grid: g1}]
elevators: [{id: e-1, building: b1}, {id: e-2, building: b1}]
"""
NOW = 1_760_000_000.0


@pytest.fixture(autouse=True)
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in TOKENS.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize(("properties", "expected", "sane"), [
    ({}, NOW, True),
    ({"ts": str(int((NOW - 2) * 1000))}, NOW - 2, True),
    ({"ts": "soon"}, NOW, False),
    ({"ts": str(int((NOW + 3600) * 1000))}, NOW, False),  # ahead of the clock by more than the skew
    ({"ts": str(int((NOW - MAX_FRAME_AGE_S - 60) * 1000))}, NOW, False),
    ({"ts": str(int(NOW))}, NOW, False),  # seconds where milliseconds were due: 1970
])
def test_frame_ts_is_the_camera_ts_when_sane_else_arrival(properties: dict, expected: float, sane: bool) -> None:
    assert frame_ts(properties, NOW, 300.0) == (pytest.approx(expected), sane)


def test_bad_frames_and_statuses_are_dead_letters_and_judging_goes_on(
    tmp_path: Path, mosquitto: Mosquitto, shared_dir: Path
) -> None:
    registry_path = tmp_path / "registry.yaml"
    registry_path.write_text(REGISTRY)
    dispatch = Dispatch(tmp_path / "dispatch", registry_path, free_port()).start()
    letters: list[dict] = []
    listener = deadletter_listener(mosquitto.url, letters)
    worker = start_edge(tmp_path, mosquitto.url, dispatch, registry_path)
    sender = MqttConnection(MqttConfig(url=mosquitto.url), "e2e-elevator-bad", persistent=False)
    sender.start()
    assert sender.wait_connected(10)
    good = ebike_jpeg(shared_dir)
    corpus = [  # (topic, payload, a word the reason must contain); one at a time: a slot keeps only the newest
        ("grid/elevator/e-1/frame", b"\xff\xd8" + b"\x13\x37" * 500 + b"\xff\xd9", "corrupt"),
        ("grid/elevator/e-1/frame", good[: len(good) // 2], "truncated"),
        ("grid/elevator/e-1/frame", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "not a JPEG"),
        ("grid/elevator/e-1/frame", b"", "empty"),
        ("grid/elevator/e-1/status", json.dumps({"ts": int(time.time() * 1000), "door": "ajar"}).encode(), "door"),
        ("grid/elevator/e-1/status", b"{not json", "status"),
        ("grid/elevator/e 1/frame", grey_jpeg(), "elevator_id"),
        ("grid/elevator/e-9/frame", grey_jpeg(), "unknown elevator"),
    ]
    try:
        for topic, payload, _word in corpus:
            before = len(letters)
            sender.publish(topic, payload, qos=1)
            wait_for(lambda before=before: len(letters) > before, 30, f"a dead letter for {topic}")
        judged = worker.snapshot()["elevator"]["judged"]
        sender.publish("grid/elevator/e-1/frame", good, qos=1)
        sender.publish("grid/elevator/e-9/frame", grey_jpeg(), qos=1)  # unknown: said once, judged all the same
        wait_for(lambda: worker.snapshot()["elevator"]["judged"] >= judged + 2, 30, "the good frames judged")
        assert worker.healthy()
    finally:
        sender.stop()
        worker.stop()
        listener.stop()
        dispatch.stop()
    reasons = [letter["reason"] for letter in letters]
    assert len(reasons) == len(corpus), reasons
    for (topic, _payload, word), letter in zip(corpus, letters, strict=True):
        assert letter["topic"] == topic and word in letter["reason"], (word, letter)
    metrics = worker.snapshot()["elevator"]
    assert metrics["decode_errors"] == 4 and metrics["statuses"] == 0


def test_a_silent_camera_raises_camera_offline_and_clears_when_frames_return(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    registry_path = tmp_path / "registry.yaml"
    registry_path.write_text(REGISTRY)
    dispatch = Dispatch(tmp_path / "dispatch", registry_path, free_port()).start()
    worker = start_edge(tmp_path, mosquitto.url, dispatch, registry_path, camera_silent_s=1.5)
    sender = MqttConnection(MqttConfig(url=mosquitto.url), "e2e-elevator-silent", persistent=False)
    sender.start()
    assert sender.wait_connected(10)

    def offline(state: str) -> list[dict]:
        return [c for c in dispatch.changes() if c["type"] == "elevator.camera_offline" and c["state"] == state]

    try:
        # e-1 and e-2 are in the registry and never send: both go offline; e-1 comes back.
        wait_for(lambda: {c["subject"] for c in offline("active")} == {"e-1", "e-2"}, 30, "both cameras offline")
        raised = next(c for c in offline("active") if c["subject"] == "e-1")
        assert raised["severity"] == "warning" and raised["grid"] == "g1"
        sender.publish("grid/elevator/e-1/frame", grey_jpeg(), qos=1)
        wait_for(lambda: [c["subject"] for c in offline("cleared")] == ["e-1"], 30, "e-1 back online")
        assert offline("cleared")[0]["id"] == raised["id"]
        # Silent again: a new episode, raised once.
        wait_for(lambda: len([c for c in offline("active") if c["subject"] == "e-1"]) == 2, 30, "e-1 offline again")
        assert len([c for c in offline("active") if c["subject"] == "e-2"]) == 1
    finally:
        sender.stop()
        worker.stop()
        dispatch.stop()

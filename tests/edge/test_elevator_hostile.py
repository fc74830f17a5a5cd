"""Hostile frames and made-up cameras at a real edge worker (real Mosquitto, the bundled model): a JPEG that
declares 30000x30000 is a dead letter in microseconds and the other cameras are judged as usual; cameras
nobody registered are judged up to a bound, forgotten when silent, and never raise camera_offline."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from edge.broker import Mosquitto, free_port
from ingest.config import MqttConfig
from ingest.mqtt_client import MqttConnection
from tests.e2e.harness import TOKENS, Dispatch, deadletter_listener, wait_for
from tests.e2e.test_elevator_e2e import grey_jpeg, start_edge
from tests.models.test_vision_jpeg_header import declaring

REGISTRY = """\
grids: [{id: g1, workers: [w1]}]
workers: [{id: w1}]
buildings: [{id: b1, grid: g1}]
elevators: [{id: e-1, building: b1}, {id: e-2, building: b1}]
"""


@pytest.fixture(autouse=True)
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in TOKENS.items():
        monkeypatch.setenv(name, value)


def test_bombs_on_one_camera_are_dead_letters_and_the_other_camera_is_judged(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    registry_path = tmp_path / "registry.yaml"
    registry_path.write_text(REGISTRY)
    dispatch = Dispatch(tmp_path / "dispatch", registry_path, free_port()).start()
    letters: list[dict] = []
    listener = deadletter_listener(mosquitto.url, letters)
    worker = start_edge(tmp_path, mosquitto.url, dispatch, registry_path)
    sender = MqttConnection(MqttConfig(url=mosquitto.url), "hostile-frames", persistent=False)
    sender.start()
    assert sender.wait_connected(10)
    bomb = declaring(30000, 30000, grey_jpeg())
    try:
        started = time.monotonic()
        for _ in range(30):
            sender.publish("grid/elevator/e-1/frame", bomb, qos=1)
            sender.publish("grid/elevator/e-2/frame", grey_jpeg(), qos=1)
        wait_for(lambda: len(letters) >= 30, 30, "30 dead letters")
        wait_for(lambda: worker.snapshot()["elevator"]["cameras"].get("e-2", {}).get("frames", 0) >= 30, 30,
                 "e-2's frames taken")
        wait_for(lambda: worker.snapshot()["elevator"]["judged"] >= 1, 30, "e-2 judged")
        elapsed = time.monotonic() - started
        metrics = worker.snapshot()["elevator"]
    finally:
        sender.stop()
        worker.stop()
        listener.stop()
        dispatch.stop()
    assert elapsed < 15  # a single bomb decoded took 12 s
    assert all(letter["topic"] == "grid/elevator/e-1/frame" for letter in letters)
    assert "declares 30000x30000" in letters[0]["reason"]
    assert metrics["decode_errors"] == 30
    assert metrics["cameras"]["e-1"].get("frames", 0) == 0  # not one bomb reached the detector's slot


def test_unregistered_cameras_are_bounded_expire_and_never_go_offline(tmp_path: Path, mosquitto: Mosquitto) -> None:
    registry_path = tmp_path / "registry.yaml"
    registry_path.write_text(REGISTRY)
    dispatch = Dispatch(tmp_path / "dispatch", registry_path, free_port()).start()
    letters: list[dict] = []
    listener = deadletter_listener(mosquitto.url, letters)
    worker = start_edge(tmp_path, mosquitto.url, dispatch, registry_path, camera_silent_s=1.0,
                        max_unregistered=5, unregistered_expire_s=1.5)
    sender = MqttConnection(MqttConfig(url=mosquitto.url), "hostile-ids", persistent=False)
    sender.start()
    assert sender.wait_connected(10)
    frame = grey_jpeg()
    try:
        for n in range(40):
            sender.publish(f"grid/elevator/made-up-{n}/frame", frame, qos=1)
        wait_for(lambda: len(letters) >= 40, 30, "a dead letter for each made-up camera")
        during = worker.snapshot()["elevator"]
        wait_for(lambda: worker.snapshot()["elevator"]["unregistered"]["expired"] >= 5, 30, "the five forgotten")
        after = worker.snapshot()["elevator"]
        time.sleep(1.5)  # well past camera_silent_s
        sender.publish("grid/elevator/made-up-39/frame", frame, qos=1)  # room again: judged, said again
        wait_for(lambda: len(letters) >= 41, 30, "the returning camera reported")

        def offline() -> set[str]:
            return {c["subject"] for c in dispatch.changes() if c["type"] == "elevator.camera_offline"}

        wait_for(lambda: {"e-1", "e-2"} <= offline(), 30, "the registered cameras offline")
        time.sleep(1.0)
        offline_subjects = offline()
    finally:
        sender.stop()
        worker.stop()
        listener.stop()
        dispatch.stop()
    assert during["unregistered"] == {"judged": 5, "refused_frames": 35, "expired": 0}
    assert sum("over the limit of 5" in letter["reason"] for letter in letters[:40]) == 35
    assert after["unregistered"]["judged"] == 0
    assert set(after["cameras"]) <= {"e-1", "e-2"}  # what /metrics shows
    assert "processed" in letters[40]["reason"]
    assert offline_subjects == {"e-1", "e-2"}  # the registered ones only

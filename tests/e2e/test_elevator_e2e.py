"""An e-bike wheeled into an elevator, end to end: camera frames over MQTT -> the edge worker (real model) ->
door hold and announcement on the command topic, an alert with its annotated snapshot at the real dispatch,
then release and clear when the bike is gone; and doors released when the worker stops or restarts."""

from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from edge.broker import Mosquitto, free_port
from edge.config import load_edge_config, load_registry
from edge.elevator.evidence import EBIKE_COLOR
from edge.worker import EdgeWorker
from ingest.config import MqttConfig
from ingest.mqtt_client import MqttConnection
from rules.elevator.ebike import DEFAULT_ANNOUNCEMENT
from tests.e2e.harness import OPERATOR_TOKEN, TOKENS, Dispatch, wait_for, write_edge_config

REGISTRY = """\
grids: [{id: g1, workers: [w1]}]
workers: [{id: w1}]
buildings: [{id: b1, grid: g1}]
elevators: [{id: e-1, building: b1}]
"""
EBIKE_FRAME = "Snipaste_2024-01-01_12-07-27.png"  # a rider with an e-bike in the car (model score ~0.9)
# Small counts so the test runs in seconds; the rule's logic is the same as with the defaults.
ELEVATOR = {
    "camera_silent_s": 3600.0,
    "ebike": {"clear_after_frames": 5},
    "evidence": {"clip_before_s": 1.0, "clip_after_s": 1.0},
    "flywheel": {"enabled": False},
}


@pytest.fixture(autouse=True)
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in TOKENS.items():
        monkeypatch.setenv(name, value)


def jpeg_of(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return buf.tobytes()


def ebike_jpeg(shared_dir: Path) -> bytes:
    image = cv2.imread(str(shared_dir / "data/vision/ebike-elevator/originals" / EBIKE_FRAME))
    assert image is not None
    return jpeg_of(image)


def grey_jpeg() -> bytes:
    return jpeg_of(np.full((720, 1280, 3), 128, np.uint8))


class Commands:
    """Collects what the edge publishes on `grid/elevator/+/command`, with the arrival time."""

    def __init__(self, broker_url: str) -> None:
        self.items: list[tuple[float, str, dict]] = []
        self._lock = threading.Lock()
        self.conn = MqttConnection(MqttConfig(url=broker_url), f"e2e-commands-{free_port()}",
                                   subscriptions=["grid/elevator/+/command"], persistent=False,
                                   on_message=self._on)
        self.conn.start()
        assert self.conn.wait_subscribed(10)

    def _on(self, message) -> None:
        with self._lock:
            self.items.append((time.time(), message.topic.split("/")[2], json.loads(message.payload)))

    def actions(self, elevator_id: str = "e-1") -> list[str]:
        with self._lock:
            return [c["action"] for _, eid, c in self.items if eid == elevator_id]

    def first(self, action: str) -> tuple[float, dict]:
        with self._lock:
            return next((t, c) for t, _, c in self.items if c["action"] == action)

    def stop(self) -> None:
        self.conn.stop()


class Camera:
    """Publishes JPEG frames at ~fps in a thread, each with its `ts` user property (epoch ms)."""

    def __init__(self, broker_url: str, elevator_id: str = "e-1", fps: float = 5.0) -> None:
        self.topic = f"grid/elevator/{elevator_id}/frame"
        self.fps = fps
        self.frame: bytes | None = None
        self.sent = 0
        self.first_sent: float | None = None
        self._stop = threading.Event()
        self.conn = MqttConnection(MqttConfig(url=broker_url), f"e2e-camera-{free_port()}", persistent=False)
        self.conn.start()
        assert self.conn.wait_connected(10)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(1.0 / self.fps):
            frame = self.frame
            if frame is not None:
                now = time.time()
                self.first_sent = self.first_sent or now
                self.conn.publish(self.topic, frame, qos=0, user_properties={"ts": str(int(now * 1000))})
                self.sent += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.conn.stop()


def start_edge(folder: Path, broker_url: str, dispatch: Dispatch, registry_path: Path, **elevator) -> EdgeWorker:
    config = load_edge_config(write_edge_config(folder, broker_url, dispatch.url, registry_path, health_listen=None,
                                                elevator={**ELEVATOR, **elevator}))
    worker = EdgeWorker(config, load_registry(registry_path))
    worker.start()
    assert worker.mqtt.wait_subscribed(10), "the worker must be subscribed before anything is published"
    return worker


def elevator_changes(dispatch: Dispatch) -> list[dict]:
    return [c for c in dispatch.changes() if c["type"] == "elevator.ebike"]


def alert_detail(dispatch: Dispatch, alert_id: str) -> dict:
    headers = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    return httpx.get(f"{dispatch.url}/api/v1/alerts/{alert_id}", headers=headers, timeout=10).raise_for_status().json()


def red_pixels(image: np.ndarray) -> int:
    return int(np.all(np.abs(image.astype(int) - np.array(EBIKE_COLOR)) < 40, axis=2).sum())


def test_ebike_raises_holds_the_door_and_clears_when_gone(tmp_path: Path, mosquitto: Mosquitto,
                                                          shared_dir: Path) -> None:
    registry_path = tmp_path / "registry.yaml"
    registry_path.write_text(REGISTRY)
    dispatch = Dispatch(tmp_path / "dispatch", registry_path, free_port()).start()
    commands = Commands(mosquitto.url)
    worker = start_edge(tmp_path, mosquitto.url, dispatch, registry_path)
    camera = Camera(mosquitto.url)
    try:
        status = json.dumps({"ts": int(time.time() * 1000), "door": "open", "floor": 1}).encode()
        camera.conn.publish("grid/elevator/e-1/status", status)
        camera.frame = ebike_jpeg(shared_dir)
        wait_for(lambda: any(c["state"] == "active" for c in elevator_changes(dispatch)), 60,
                 "the e-bike alert at dispatch")
        wait_for(lambda: "announce" in commands.actions(), 10, "the announcement")
        hold_at, hold = commands.first("hold_door")
        _, announce = commands.first("announce")
        assert commands.actions()[:2] == ["hold_door", "announce"]
        assert announce["text"] == DEFAULT_ANNOUNCEMENT
        assert camera.first_sent is not None and hold_at - camera.first_sent < 20, "door held within seconds"

        # The same bike for longer: still one raise (one episode, one revision-1 change).
        sent = camera.sent
        wait_for(lambda: camera.sent >= sent + 15, 30, "more frames of the bike")
        raises = [c for c in elevator_changes(dispatch) if c["state"] == "active" and c["revision"] == 1]
        assert len(raises) == 1
        alert = raises[0]
        assert alert["subject"] == "e-1" and alert["grid"] == "g1" and alert["building"] == "b1"
        assert alert["severity"] == "critical" and hold["alert_id"] == alert["id"] == announce["alert_id"]

        # The snapshot is the deciding frame with the boxes drawn on it.
        snapshot = cv2.imdecode(np.frombuffer(base64.b64decode(alert["snapshot_jpeg_b64"]), np.uint8),
                                cv2.IMREAD_COLOR)
        assert snapshot is not None
        original = cv2.imdecode(np.frombuffer(camera.frame, np.uint8), cv2.IMREAD_COLOR)
        assert snapshot.shape[1] / snapshot.shape[0] == pytest.approx(original.shape[1] / original.shape[0], 0.02)
        small = cv2.resize(original, (snapshot.shape[1], snapshot.shape[0]))
        assert red_pixels(snapshot) > red_pixels(small) + 200, "the e-bike box must be drawn"

        # Alert first, evidence after: the clip follows as an update of the same episode.
        wait_for(lambda: any("clip" in c["evidence"] for c in elevator_changes(dispatch)), 60, "the clip update")
        clip = next(c for c in elevator_changes(dispatch) if "clip" in c["evidence"])
        assert clip["id"] == alert["id"] and Path(clip["evidence"]["clip"]).is_file()

        # The bike is gone: the door is released and the episode cleared.
        camera.frame = grey_jpeg()
        wait_for(lambda: "release_door" in commands.actions(), 60, "release_door")
        wait_for(lambda: any(c["state"] == "cleared" for c in elevator_changes(dispatch)), 30, "the cleared change")
        assert commands.first("release_door")[1]["alert_id"] == alert["id"]
        assert alert_detail(dispatch, alert["id"])["state"] == "cleared"
        assert worker.healthy()
        metrics = worker.snapshot()["elevator"]
        assert metrics["raises"] == 1 and metrics["clears"] == 1 and metrics["last_raise_latency_ms"] > 0
        assert metrics["cameras"]["e-1"]["frames"] >= metrics["judged"] > 20
    finally:
        camera.stop()
        worker.stop()
        commands.stop()
        dispatch.stop()


def test_a_stopping_worker_releases_and_a_restarted_one_releases_what_a_killed_one_held(
    tmp_path: Path, mosquitto: Mosquitto, shared_dir: Path
) -> None:
    registry_path = tmp_path / "registry.yaml"
    registry_path.write_text(REGISTRY)
    dispatch = Dispatch(tmp_path / "dispatch", registry_path, free_port()).start()
    commands = Commands(mosquitto.url)
    worker = start_edge(tmp_path, mosquitto.url, dispatch, registry_path, watchdog_s=600.0)
    camera = Camera(mosquitto.url)
    try:
        camera.frame = ebike_jpeg(shared_dir)
        wait_for(lambda: "hold_door" in commands.actions(), 60, "the door hold")
        camera.frame = None
        worker.stop()  # while holding
        wait_for(lambda: "release_door" in commands.actions(), 10, "the release on stop")
        _, hold = commands.first("hold_door")
        assert commands.first("release_door")[1]["alert_id"] == hold["alert_id"]

        # A run killed while holding (no stop) left its held doors in the state; the next run releases them.
        state = tmp_path / "edge-state" / "elevator_doors.json"
        state.write_text(json.dumps({"e-7": {"alert_id": "elevator.ebike:00ff", "since": time.time() - 30}}))
        worker = start_edge(tmp_path, mosquitto.url, dispatch, registry_path)
        wait_for(lambda: "release_door" in commands.actions("e-7"), 15, "the release of the left-over hold")
        assert json.loads(state.read_text()) == {}
    finally:
        camera.stop()
        worker.stop()
        commands.stop()
        dispatch.stop()

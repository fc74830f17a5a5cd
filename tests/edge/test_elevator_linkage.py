"""Door linkage: an elevator is never held by a dead program. The watchdog releases a door when the detector
stalls (a real worker, a real broker, the real model behind a gate that blocks), and the held set survives a
restart; re-announcement and the longest hold are checked on DoorLinkage itself."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from edge.broker import Mosquitto, free_port
from edge.config import load_edge_config, load_registry
from edge.elevator.linkage import DoorLinkage
from edge.worker import EdgeWorker
from ingest.topics import Topics
from ingest.wire.elevator import ElevatorCommand
from models.vision.model_file import load_detector
from models.vision.types import Detections
from tests.e2e.harness import TOKENS, Dispatch, wait_for, write_edge_config
from tests.e2e.test_elevator_e2e import ELEVATOR, REGISTRY, Camera, Commands, ebike_jpeg


@pytest.fixture(autouse=True)
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in TOKENS.items():
        monkeypatch.setenv(name, value)


class GatedDetector:
    """The real e-bike detector behind a gate: closing the gate makes detect() block, as a hung detector does."""

    def __init__(self) -> None:
        self.inner = load_detector(conf=0.2)
        self.gate = threading.Event()
        self.gate.set()

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.inner.class_names

    def detect(self, image_bgr: np.ndarray) -> Detections:
        self.gate.wait()
        return self.inner.detect(image_bgr)


def test_the_watchdog_releases_the_door_when_the_detector_stalls(
    tmp_path: Path, mosquitto: Mosquitto, shared_dir: Path
) -> None:
    registry_path = tmp_path / "registry.yaml"
    registry_path.write_text(REGISTRY)
    dispatch = Dispatch(tmp_path / "dispatch", registry_path, free_port()).start()
    commands = Commands(mosquitto.url)
    detector = GatedDetector()
    config = load_edge_config(write_edge_config(tmp_path, mosquitto.url, dispatch.url, registry_path,
                                                health_listen=None, elevator={**ELEVATOR, "watchdog_s": 1.5}))
    worker = EdgeWorker(config, load_registry(registry_path), detector=detector)
    worker.start()
    assert worker.mqtt.wait_subscribed(10)
    camera = Camera(mosquitto.url)
    try:
        camera.frame = ebike_jpeg(shared_dir)
        wait_for(lambda: "hold_door" in commands.actions(), 60, "the door hold")
        detector.gate.clear()  # the detector hangs; frames keep coming
        stalled_at = time.time()
        wait_for(lambda: "release_door" in commands.actions(), 30, "the watchdog's release")
        released_at, release = commands.first("release_door")
        assert released_at - stalled_at >= 0.5, "not before watchdog_s (less the last frame's age)"
        assert release["alert_id"] == commands.first("hold_door")[1]["alert_id"]
        elevator = worker.snapshot()["elevator"]
        assert elevator["linkage"]["watchdog_releases"] == 1 and elevator["linkage"]["held"] == {}
        assert elevator["raises"] == 1 and elevator["clears"] == 0, "the alert stays active"
    finally:
        detector.gate.set()
        camera.stop()
        worker.stop()
        commands.stop()
        dispatch.stop()


class Published:
    """What a DoorLinkage publishes, decoded: a real list of (topic, command)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, dict]] = []

    def __call__(self, topic: str, payload: bytes, qos: int = 1) -> bool:
        assert qos == 1
        self.items.append((topic, json.loads(payload)))
        return True

    def actions(self) -> list[str]:
        return [c["action"] for _, c in self.items]


def command(action: str, text: str | None = None) -> ElevatorCommand:
    return ElevatorCommand(action=action, alert_id="elevator.ebike:abc", text=text, ts=datetime.now(UTC))


def test_the_held_set_is_persisted_and_released_by_the_next_run(tmp_path: Path) -> None:
    state = tmp_path / "doors.json"
    published = Published()
    linkage = DoorLinkage(published, Topics(), state, watchdog_s=5, max_hold_s=300)
    linkage.send("e-1", command("hold_door"))
    linkage.send("e-1", command("announce", "请推出"))
    assert set(json.loads(state.read_text())) == {"e-1"}
    # killed here: the next run reads the state before anything else
    after = Published()
    assert DoorLinkage(after, Topics(), state, watchdog_s=5, max_hold_s=300).release_left_over() == 1
    assert after.items == [("grid/elevator/e-1/command", {**after.items[0][1], "action": "release_door",
                                                          "alert_id": "elevator.ebike:abc"})]
    assert json.loads(state.read_text()) == {}


def test_the_watchdog_reannounces_and_ends_long_holds(tmp_path: Path) -> None:
    published = Published()
    linkage = DoorLinkage(published, Topics(), tmp_path / "doors.json", watchdog_s=5, max_hold_s=62,
                          reannounce_s=15)
    linkage.send("e-1", command("hold_door"))
    linkage.send("e-1", command("announce", "请推出"))
    base = linkage.held()["e-1"].announced  # the clock is passed in from here on
    judged: dict[str, float] = {}
    for offset in range(1, 15):  # judged every second: no release, no re-announce yet
        judged["e-1"] = base + offset
        linkage.check(base + offset, judged.get)
    assert published.actions() == ["hold_door", "announce"]
    for offset in range(15, 64):  # the camera keeps being judged; announce every 15 s, release after 62 s
        judged["e-1"] = base + offset
        linkage.check(base + offset, judged.get)
    assert published.actions() == ["hold_door"] + ["announce"] * 5 + ["release_door"]
    assert [c["text"] for _, c in published.items if c["action"] == "announce"] == ["请推出"] * 5
    assert linkage.max_hold_releases == 1 and linkage.held() == {}
    linkage.send("e-1", command("release_door"))  # the rule's own release later: still sent, harmless
    assert published.actions()[-1] == "release_door"


def test_the_watchdog_releases_a_door_whose_camera_is_not_judged(tmp_path: Path) -> None:
    published = Published()
    linkage = DoorLinkage(published, Topics(), tmp_path / "doors.json", watchdog_s=5, max_hold_s=300)
    linkage.send("e-1", command("hold_door"))
    since = linkage.held()["e-1"].since
    linkage.check(since + 4.9, {"e-1": since - 1}.get)  # judged before the hold: the hold's own time counts
    assert published.actions() == ["hold_door"]
    linkage.check(since + 5.1, {}.get)
    assert published.actions() == ["hold_door", "release_door"] and linkage.watchdog_releases == 1

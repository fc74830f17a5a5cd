"""The elevator simulator: footage with ground truth from the real labelled images, and what it publishes to a
real Mosquitto (frames as JPEG with a `ts` user property, door status, truth, the edge's commands)."""

from __future__ import annotations

import json
import threading
import time
from itertools import islice
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.cli import main as gridwatch
from ingest.config import MqttConfig
from ingest.mqtt_client import MqttConnection
from ingest.wire.elevator import ElevatorCommand, ElevatorStatus
from models.vision.frames import decode_jpeg
from simulators.elevator.footage import (
    CROP_ASPECTS,
    MIN_CROP_SHARE,
    Camera,
    RideSpec,
    clean_crop,
    negative_ride,
    paint_out,
    positive_ride,
    ride_plan,
)
from simulators.elevator.publish import TruthWriter, run_elevators
from simulators.elevator.sources import Source, open_source, read_split
from tests.simulators.conftest import Subscriber


def _yolo(shared_dir: Path) -> Path:
    return shared_dir / "data" / "vision" / "ebike-elevator" / "yolo"


@pytest.fixture
def every_original(shared_dir: Path) -> Source:
    return open_source(_yolo(shared_dir))


def _overlap(rect: tuple[int, int, int, int], box: tuple[float, ...]) -> bool:
    x, y, w, h = rect
    return x < box[2] and box[0] < x + w and y < box[3] and box[1] < y + h


def test_one_still_per_original_and_the_split_keeps_the_held_out_ones(shared_dir: Path, every_original: Source):
    assert len(every_original.stills) == 28  # 195 augmented images, 28 originals
    assert all(s.path.stem == s.name for s in every_original.stills)  # the plain copy, not an augmentation
    split, split_file = read_split(None)
    assert split_file is not None and split
    held_out = open_source(_yolo(shared_dir), split=split, split_file=split_file)
    assert list(held_out.scored) == sorted(split)


def test_crops_never_touch_an_ebike_box(every_original: Source):
    rng = np.random.default_rng(0)
    found = 0
    for still in every_original.stills:
        image_hw = cv2.imread(str(still.path)).shape[:2]
        for _ in range(5):
            rect = clean_crop(image_hw, still.ebike_boxes, CROP_ASPECTS, rng)
            if rect is None:
                continue
            found += 1
            x, y, w, h = rect
            assert w * h >= MIN_CROP_SHARE * image_hw[0] * image_hw[1] - 2 * (w + h)  # rounding of the sides
            assert 0 <= x and x + w <= image_hw[1] and 0 <= y and y + h <= image_hw[0]
            assert not any(_overlap(rect, box) for box in still.ebike_boxes), (still.name, rect)
    assert found > 60  # most originals give clean crops


def test_a_positive_ride_is_true_from_its_first_ebike_frame(every_original: Source):
    still = next(s for s in every_original.stills if s.ebike_boxes)
    spec = RideSpec(fps=5, ride_s=4)
    ride = positive_ride(still, spec, seed=7)
    frames = list(ride.frames())
    assert len(frames) == ride.n_frames
    first = next(f for f in frames if f.ebike)
    assert first.t == pytest.approx(ride.first_ebike_s) and first.t >= spec.before_s[0]
    assert all(not f.ebike for f in frames if f.t < first.t) and all(f.ebike for f in frames if f.t >= first.t)
    assert frames[0].door == "open" and frames[-1].door == "closed"
    assert all(f.door == "open" for f in frames if f.t <= first.t)  # the bike comes in while the door is open
    assert ride.has_ebike is True and ride.kind == "positive"
    again = positive_ride(still, spec, seed=7)
    assert [f.jpeg for f in again.frames()][:3] == [f.jpeg for f in frames][:3]  # a seed reproduces the bytes


def test_camera_jitter_changes_pixels_but_not_the_scene(every_original: Source):
    image = every_original.stills[0].load()
    camera = Camera(image.shape[:2], np.random.default_rng(1))
    shots = [decode_jpeg(camera.shoot(image)) for _ in range(3)]

    def thumb(img: np.ndarray) -> np.ndarray:
        return cv2.resize(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), (32, 24), interpolation=cv2.INTER_AREA).astype(float)

    for shot in shots:
        assert shot.shape == image.shape
        assert np.abs(shot.astype(float) - image).mean() > 2  # not the identical frame
        assert np.abs(thumb(shot) - thumb(image)).mean() < 20  # the same scene
    assert np.abs(shots[0].astype(float) - shots[1]).mean() > 1


def test_negatives_hold_no_ebike_pixels(every_original: Source):
    still = next(s for s in every_original.stills if s.ebike_boxes)
    image = still.load()
    painted = paint_out(image, still.ebike_boxes)
    x1, y1, x2, y2 = (int(v) for v in still.ebike_boxes[0])
    assert np.abs(painted[y1:y2, x1:x2].astype(float) - image[y1:y2, x1:x2]).mean() > 5
    outside = np.ones(image.shape[:2], bool)
    for bx1, by1, bx2, by2 in still.ebike_boxes:
        mx, my = (bx2 - bx1) * 0.1, (by2 - by1) * 0.1
        outside[max(0, int(by1 - my)):int(by2 + my) + 1, max(0, int(bx1 - mx)):int(bx2 + mx) + 1] = False
    assert np.array_equal(painted[outside], image[outside])
    spec = RideSpec(ride_s=1)
    for kind in ("crop", "inpaint"):
        ride = next(r for r in (negative_ride(s, kind, spec, i) for i, s in enumerate(every_original.stills)) if r)
        assert ride.has_ebike is False and ride.first_ebike_s is None
        assert all(f.ebike is False for f in ride.frames())


def test_publishes_frames_status_and_truth_and_logs_commands(mosquitto, tmp_path: Path, every_original: Source):
    sub = Subscriber(mosquitto.url, "grid/#").start()  # grid/#: the probe must reach it too
    spec = RideSpec(fps=5, ride_s=2, before_s=(0.6, 1.0))
    source = Source("labelled", every_original.path, every_original.stills[:3], every_original.scored[:3])
    plans = {eid: (lambda i=i: islice(ride_plan(source, spec, seed=1 + i, start=i), 2))
             for i, eid in enumerate(["sim-elev-01", "sim-elev-02"])}
    truth_path = tmp_path / "truth.jsonl"
    result = {}
    with truth_path.open("w") as stream:
        runner = threading.Thread(target=lambda: result.setdefault(
            "report", run_elevators(mosquitto.url, plans, TruthWriter(stream))))
        runner.start()
        edge = MqttConnection(MqttConfig(url=mosquitto.url), "test-edge", persistent=False).start()
        assert edge.wait_connected(5)
        command = ElevatorCommand(action="hold_door", alert_id="a1", ts=time.time())
        deadline = time.monotonic() + 30
        while runner.is_alive() and time.monotonic() < deadline:  # until the sim's subscription has it
            edge.publish("grid/elevator/sim-elev-01/command", command.dump(), qos=1)
            runner.join(0.5)
        runner.join(30)
        edge.stop()
    assert not runner.is_alive()
    report = result["report"]
    assert ("sim-elev-01", "hold_door") in report.commands
    rows = [json.loads(line) for line in truth_path.read_text().splitlines()]
    assert len(rows) == 4 and {r["elevator_id"] for r in rows} == {"sim-elev-01", "sim-elev-02"}
    time.sleep(0.5)
    messages = list(sub.messages)
    sub.connection.stop()
    for eid in ("sim-elev-01", "sim-elev-02"):
        frames = [m for m in messages if m.topic == f"grid/elevator/{eid}/frame"]
        statuses = [ElevatorStatus.model_validate_json(m.payload) for m in messages
                    if m.topic == f"grid/elevator/{eid}/status"]
        mine = [r for r in rows if r["elevator_id"] == eid]
        assert len(frames) == sum(r["frames"] for r in mine)
        stamps = []
        for message in frames:
            image = decode_jpeg(message.payload)
            assert image.ndim == 3 and image.shape[2] == 3
            ts_ms = int(message.user_properties["ts"])
            assert abs(ts_ms / 1000 - message.received_at) < 1.0
            stamps.append(ts_ms)
        assert [s.door for s in statuses].count("open") == len(mine)  # every ride opens the door
        assert "closed" in [s.door for s in statuses]
        for row in mine:
            inside = [s for s in stamps if row["start_ts"] <= s <= row["end_ts"]]
            assert len(inside) == row["frames"]
            assert row["kind"] in ("positive", "crop", "inpaint") and row["has_ebike"] == (row["kind"] == "positive")
            if row["has_ebike"]:
                assert row["first_ebike_ts"] in inside and row["first_ebike_ts"] > row["start_ts"]
            else:
                assert row["first_ebike_ts"] is None


def test_cli_says_so_when_no_broker_answers(shared_dir: Path, capsys):
    from edge.broker import free_port

    code = gridwatch(["sim", "elevator", "--source", str(_yolo(shared_dir)), "--broker",
                      f"mqtt://127.0.0.1:{free_port()}", "--connect-timeout", "1", "--rides", "1"])
    out, err = capsys.readouterr()
    assert code == 2 and "no MQTT broker answered" in err
    assert "held out by" in out and "Snipaste_2024-01-01_12-07-27" in out  # which originals it plays

"""The flywheel, round trip: frames the edge saved as unsure are reviewed, merged, trained on, exported, scored
against the shipped model on the same held-out camera, and promoted only when better."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.cli import main as gridwatch
from edge.elevator.config import FlywheelConfig
from edge.elevator.flywheel import UnsureFrames
from models.vision.model_file import DEFAULT_EBIKE_MODEL, load_detector
from simulators.elevator.footage import Camera

GRIDWATCH = str(Path(sys.executable).parent / "gridwatch")
CAMERAS = {"lift-a": "Snipaste_2024-01-01_12-07-27", "lift-b": "Snipaste_2024-01-01_12-08-24"}
START_TS = 1_767_225_600.0


def _save_unsure(shared_dir: Path, root: Path) -> None:
    """Each camera's frames (its scene, jittered by the camera model) as the edge saves them, pre-labelled."""
    detector = load_detector(DEFAULT_EBIKE_MODEL, conf=0.2)
    unsure = UnsureFrames(root, FlywheelConfig(low=0.2, high=1.0, min_interval_s=0), detector.class_names)
    for c, (camera, original) in enumerate(CAMERAS.items()):
        image = cv2.imread(str(shared_dir / "data/vision/ebike-elevator/originals" / f"{original}.png"))
        shots = Camera(image.shape[:2], np.random.default_rng(c))
        for i in range(3):
            frame = cv2.imdecode(np.frombuffer(shots.shoot(image), np.uint8), cv2.IMREAD_COLOR)
            assert unsure.consider(camera, START_TS + 60 * i, frame, detector.detect(frame)) is not None


@pytest.mark.timeout(900)
def test_unsure_frames_round_trip_to_a_promotion_decision(yolo_env: Path, shared_dir: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]):
    flywheel = tmp_path / "unsure"
    _save_unsure(shared_dir, flywheel)
    review = subprocess.run([GRIDWATCH, "model", "review", str(flywheel), "--terminal"], input="a\n" * 6,
                            capture_output=True, text=True, timeout=120)
    assert review.returncode == 0, review.stderr
    labelled = tmp_path / "labelled"
    assert gridwatch(["model", "merge", str(flywheel), "--out", str(labelled)]) == 0

    run = tmp_path / "run"
    assert gridwatch(["model", "train", "--data", str(labelled), "--out", str(run), "--epochs", "1", "--imgsz", "96",
                      "--batch", "4", "--val-share", "0.5", "--device", "cpu", "--workers", "0",
                      "--background-crops", "0"]) == 0
    split = json.loads((run / "split.json").read_text())
    assert len(split["val_originals"]) == 1 and split["val_originals"][0].startswith("camera:")
    candidate = tmp_path / "candidate.onnx"
    assert gridwatch(["model", "export", str(run / "weights" / "last.pt"), "--out", str(candidate),
                      "--imgsz", "64", "96"]) == 0

    # Shipped files in a folder of their own, so that a promotion cannot touch the repository's model.
    shipped = tmp_path / "weights" / "ebike.onnx"
    shipped.parent.mkdir()
    shutil.copy(DEFAULT_EBIKE_MODEL, shipped)
    before = shipped.read_bytes()
    rides = ["--source", str(labelled), "--split", str(run / "split.json"), "--positives-per-original", "1",
             "--ride-s", "3", "--negative-hours", "0.002"]
    capsys.readouterr()
    assert gridwatch(["model", "promote", "--candidate", str(candidate), "--shipped", str(shipped), *rides]) == 1
    out = capsys.readouterr().out
    assert "not promoted: it catches fewer e-bike rides" in out and "candidate" in out and "shipped" in out
    assert shipped.read_bytes() == before and not (shipped.parent / "promotions.jsonl").exists()

    # The other way round: a model that catches them replaces one that does not, and the old one is kept.
    weak = tmp_path / "weak" / "ebike.onnx"
    weak.parent.mkdir()
    shutil.copy(candidate, weak)
    assert gridwatch(["model", "promote", "--candidate", str(shipped), "--shipped", str(weak), *rides]) == 0
    assert "promoted" in capsys.readouterr().out
    assert weak.read_bytes() == before and (weak.parent / "ebike.previous.onnx").read_bytes() == candidate.read_bytes()
    record = json.loads((weak.parent / "promotions.jsonl").read_text().splitlines()[-1])
    assert record["candidate"]["caught"] > record["shipped"]["caught"]

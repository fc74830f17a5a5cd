"""A flywheel folder under review: what a decision writes (the label, atomically; the pre-label once; a line in
reviewed.jsonl), where a person resumes, and that a crash mid-append loses no later decision.

The folders are written by the edge's own UnsureFrames, as a site's would be; the other review tests build theirs
with `write_flywheel` from here.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.elevator.config import FlywheelConfig
from edge.elevator.flywheel import UnsureFrames
from models.training.review.folder import FlywheelFolder
from models.vision.types import Detections

NAMES = ("ebike", "person")
START_TS = 1_767_225_600.0  # 2026-01-01, event time
W, H = 320, 180
# The model's boxes on every frame: an unsure e-bike (0.4, what makes the frame unsure) and a person.
PRE_BOXES = [(40, 30, 140, 150, 0.4, 0), (200, 20, 260, 170, 0.7, 1)]


def frame_image(seed: int) -> np.ndarray:
    """A small car-like frame, different for every seed (so two frames never share their bytes)."""
    rng = np.random.default_rng(seed)
    image = np.full((H, W, 3), 90, np.uint8)
    image += rng.integers(0, 40, image.shape, dtype=np.uint8)
    cv2.rectangle(image, (40, 30), (140, 150), (30, 30, 160), -1)
    cv2.rectangle(image, (200, 20), (260, 170), (160, 120, 60), -1)
    return image


def detections(names: tuple[str, ...] = NAMES) -> Detections:
    """PRE_BOXES, its classes numbered as in `names`."""
    arr = np.array(PRE_BOXES, dtype=np.float64)
    return Detections(arr[:, :4], arr[:, 4], [names.index(NAMES[int(c)]) for c in arr[:, 5]], names)


def write_flywheel(root: Path, frames: dict[str, int], *, names: tuple[str, ...] = NAMES, seed: int = 0,
                   start_ts: float = START_TS) -> list[str]:
    """`frames` camera -> how many unsure frames (a minute apart), saved by the edge's UnsureFrames; the stems."""
    unsure = UnsureFrames(root, FlywheelConfig(min_interval_s=0), names)
    stems = []
    for c, (camera, count) in enumerate(frames.items()):
        for i in range(count):
            path = unsure.consider(camera, start_ts + 60 * i, frame_image(seed + 100 * c + i), detections(names=names))
            assert path is not None
            stems.append(path.stem)
    return sorted(stems)


def label_rows(path: Path) -> list[list[float]]:
    return [[float(v) for v in line.split()] for line in path.read_text().splitlines() if line.strip()]


def decisions(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "reviewed.jsonl").read_text().splitlines()]


def test_a_decision_writes_the_label_keeps_the_model_prelabel_once_and_is_recorded(tmp_path: Path) -> None:
    root = tmp_path / "unsure"
    stem = write_flywheel(root, {"lift-a": 1})[0]
    folder = FlywheelFolder(root)
    frame = folder.frame(stem)
    model_label = (root / "labels" / f"{stem}.txt").read_text()
    ebike, person = folder.boxes(frame)
    assert (ebike.cls, person.cls) == (0, 1)

    # The person is right, the "e-bike" is a suitcase: delete it.
    first = folder.decide(frame, "save", [person])
    assert first.action == "correct"
    assert label_rows(root / "labels" / f"{stem}.txt") == [person.row()]
    assert (root / "prelabels" / f"{stem}.txt").read_text() == model_label

    # Looked at again: nothing in it after all. The pre-label stays the model's, not the first correction.
    second = folder.decide(frame, "empty")
    assert second.action == "empty"
    assert (root / "labels" / f"{stem}.txt").read_text() == ""
    assert (root / "prelabels" / f"{stem}.txt").read_text() == model_label

    records = decisions(root)
    assert [(r["stem"], r["action"]) for r in records] == [(stem, "correct"), (stem, "empty")]
    assert records[0]["before"] == [ebike.row(), person.row()] and records[0]["after"] == [person.row()]
    assert records[1]["before"] == [person.row()] and records[1]["after"] == []
    assert all(r["time"].endswith("+00:00") and r["via"] == "page" for r in records)
    leftovers = [p.name for p in root.rglob("*") if p.name.startswith(".")]
    assert leftovers == [], "a write leaves no temporary file behind"


def test_keeping_the_boxes_is_an_accept_and_a_skip_touches_nothing_nor_undoes_a_label(tmp_path: Path) -> None:
    root = tmp_path / "unsure"
    a, b = write_flywheel(root, {"lift-a": 2})
    folder = FlywheelFolder(root)
    model_label = (root / "labels" / f"{a}.txt").read_bytes()

    assert folder.decide(folder.frame(a), "save", folder.boxes(folder.frame(a))).action == "accept"
    assert (root / "labels" / f"{a}.txt").read_bytes() == model_label
    assert folder.decide(folder.frame(b), "skip").action == "skip"
    assert not (root / "prelabels" / f"{b}.txt").exists(), "a skip changes no label, so keeps no pre-label"
    assert decisions(root)[-1]["after"] is None

    folder.decide(folder.frame(a), "skip")  # passing a labelled frame by again
    state = {stem: d.action for stem, d in folder.decisions().items()}
    assert state == {a: "accept", b: "skip"}


def test_a_person_resumes_at_the_first_frame_nobody_decided_about(tmp_path: Path) -> None:
    root = tmp_path / "unsure"
    stems = write_flywheel(root, {"lift-a": 2, "lift-b": 2})
    folder = FlywheelFolder(root)
    frames = folder.frames()
    assert [f.stem for f in frames] == stems  # by camera, then time
    assert folder.start_index(frames, folder.decisions()) == 0
    folder.decide(frames[0], "empty")
    folder.decide(frames[1], "skip")
    assert folder.start_index(frames, folder.decisions()) == 2
    folder.decide(frames[2], "empty")
    folder.decide(frames[3], "empty")
    assert folder.start_index(frames, folder.decisions()) == 1, "then the skipped ones"


def test_a_decision_line_cut_short_by_a_crash_loses_no_later_decision(tmp_path: Path) -> None:
    root = tmp_path / "unsure"
    a, b = write_flywheel(root, {"lift-a": 2})
    folder = FlywheelFolder(root)
    folder.decide(folder.frame(a), "empty")
    with open(root / "reviewed.jsonl", "a") as f:
        f.write('{"stem": "lift-a_17672256')  # the process died here
    folder.decide(folder.frame(b), "empty")
    assert set(folder.decisions()) == {a, b}


@pytest.mark.parametrize(("names", "expected"), [
    ("names: [ebike, person]\n", ("ebike", "person")),
    ("names: {0: ebike, 1: person}\n", ("ebike", "person")),
])
def test_data_yaml_names_as_list_or_as_ultralytics_writes_them(tmp_path: Path, names: str, expected: tuple) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "data.yaml").write_text(names)
    assert FlywheelFolder(tmp_path).names == expected


def test_a_frame_name_from_a_url_never_leaves_the_images_folder(tmp_path: Path) -> None:
    root = tmp_path / "unsure"
    write_flywheel(root, {"lift-a": 1})
    (tmp_path / "secret.jpg").write_bytes(b"x")
    folder = FlywheelFolder(root)
    assert [folder.frame(s) for s in ("../../secret", "..", ".hidden", "", "a/b")] == [None] * 5


"""The data flywheel on a real screenshot: which frames are kept, their YOLO pre-labels, the limits, and a
data.yaml that ultralytics' loader would accept."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from edge.elevator.config import FlywheelConfig
from edge.elevator.flywheel import UnsureFrames
from models.vision.types import Detections

NAMES = ("ebike", "person")


@pytest.fixture
def frame(shared_dir: Path) -> np.ndarray:
    path = sorted((shared_dir / "data/vision/ebike-elevator/originals").glob("*.png"))[0]
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def dets(*rows: tuple[float, float, float, float, float, int]) -> Detections:
    arr = np.array(rows, dtype=np.float64).reshape(-1, 6)
    return Detections(arr[:, :4], arr[:, 4], arr[:, 5].astype(np.int64), NAMES)


def frames_dir(tmp_path: Path, **overrides: object) -> UnsureFrames:
    return UnsureFrames(tmp_path / "unsure", FlywheelConfig(**{"min_interval_s": 30, **overrides}), NAMES)


def test_an_unsure_frame_is_saved_with_yolo_prelabels(tmp_path: Path, frame: np.ndarray) -> None:
    h, w = frame.shape[:2]
    uf = frames_dir(tmp_path)
    found = dets((100, 200, 300, 600, 0.4, 0), (500, 100, 700, 700, 0.8, 1), (0, 0, 50, 50, 0.1, 1))
    path = uf.consider("el/1", 1_767_225_600.25, frame, found)

    assert path is not None and path.is_file() and path.parent == tmp_path / "unsure/images"
    assert path.name == f"{path.stem}.jpg" and "/" not in path.stem and path.stem.endswith("_1767225600250")
    saved = cv2.imread(str(path))
    assert saved.shape == frame.shape
    rows = [line.split() for line in (tmp_path / "unsure/labels" / f"{path.stem}.txt").read_text().splitlines()]
    assert len(rows) == 2, "the 0.1 box is under `low` and is not a pre-label"
    assert rows[0][0] == "0" and rows[1][0] == "1"
    cx, cy, bw, bh = map(float, rows[0][1:])
    assert (cx, cy, bw, bh) == pytest.approx((200 / w, 400 / h, 200 / w, 400 / h), abs=1e-5)
    assert uf.count() == 1


@pytest.mark.parametrize("rows", [
    [(100, 200, 300, 600, 0.9, 0)],                            # sure
    [(100, 200, 300, 600, 0.6, 0)],                            # `high` is sure
    [(100, 200, 300, 600, 0.1, 0)],                            # under `low`: nothing there
    [(100, 200, 300, 600, 0.4, 1)],                            # an unsure person is not an e-bike question
    [],                                                        # empty
])
def test_sure_and_empty_frames_are_not_kept(tmp_path: Path, frame: np.ndarray, rows: list) -> None:
    uf = frames_dir(tmp_path)
    assert uf.consider("el-1", 10.0, frame, dets(*rows)) is None
    assert uf.count() == 0 and not any((tmp_path / "unsure/images").iterdir())


def test_one_unsure_box_among_sure_ones_is_kept(tmp_path: Path, frame: np.ndarray) -> None:
    uf = frames_dir(tmp_path)
    assert uf.consider("el-1", 10.0, frame, dets((0, 0, 90, 90, 0.95, 0), (100, 200, 300, 600, 0.3, 0))) is not None


def test_rate_limit_per_camera_and_max_images(tmp_path: Path, frame: np.ndarray) -> None:
    unsure = dets((100, 200, 300, 600, 0.4, 0))
    uf = frames_dir(tmp_path, max_images=3)
    assert uf.consider("el-1", 100.0, frame, unsure) is not None
    assert uf.consider("el-1", 110.0, frame, unsure) is None  # within 30 s of the last one
    assert uf.consider("el-2", 110.0, frame, unsure) is not None  # another camera has its own interval
    assert uf.consider("el-1", 131.0, frame, unsure) is not None
    assert uf.count() == 3
    assert uf.consider("el-1", 200.0, frame, unsure) is None  # full
    assert uf.consider("el-3", 200.0, frame, unsure) is None
    assert len(list((tmp_path / "unsure/images").glob("*.jpg"))) == 3

    # A restarted worker counts what is already there.
    assert frames_dir(tmp_path, max_images=3).count() == 3
    assert frames_dir(tmp_path, max_images=4).consider("el-3", 300.0, frame, unsure) is not None


def test_data_yaml_names_the_classes_and_folders(tmp_path: Path, frame: np.ndarray) -> None:
    uf = frames_dir(tmp_path)
    uf.consider("el-1", 10.0, frame, dets((100, 200, 300, 600, 0.4, 0)))
    data = yaml.safe_load((tmp_path / "unsure/data.yaml").read_text())
    assert data["names"] == {0: "ebike", 1: "person"}
    root = Path(data["path"])
    assert root == (tmp_path / "unsure").resolve()
    images = list((root / data["train"]).glob("*.jpg"))
    assert len(images) == 1 and (root / data["val"]) == (root / data["train"])
    # ultralytics finds a label by replacing /images/ with /labels/ and the suffix with .txt
    label = Path(str(images[0]).replace("/images/", "/labels/")).with_suffix(".txt")
    assert label.is_file()


def test_disabled_keeps_nothing(tmp_path: Path, frame: np.ndarray) -> None:
    uf = frames_dir(tmp_path, enabled=False)
    assert uf.consider("el-1", 10.0, frame, dets((100, 200, 300, 600, 0.4, 0))) is None
    assert not (tmp_path / "unsure").exists()

"""Evidence on real elevator screenshots: the annotated snapshot, its JPEG, and clips written by a real
OpenCV VideoWriter, read back with VideoCapture, pruned by age and by size."""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.elevator.config import EvidenceConfig
from edge.elevator.evidence import ClipRecorder, annotate, encode_snapshot, safe_name
from models.vision.types import Detections

NAMES = ("ebike", "person")


def original(shared_dir: Path, n: int = 0) -> np.ndarray:
    paths = sorted((shared_dir / "data/vision/ebike-elevator/originals").glob("*.png"))
    image = cv2.imread(str(paths[n]), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def dets(*rows: tuple[float, float, float, float, float, int]) -> Detections:
    arr = np.array(rows, dtype=np.float64).reshape(-1, 6)
    return Detections(arr[:, :4], arr[:, 4], arr[:, 5].astype(np.int64), NAMES)


def poll(condition, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


# -- annotate, snapshot --


def test_annotate_draws_only_around_the_boxes_and_leaves_the_input(shared_dir: Path) -> None:
    image = original(shared_dir)
    before = image.copy()
    ebike, person = (200, 300, 500, 700), (600, 100, 800, 650)
    out = annotate(image, dets((*ebike, 0.87, 0), (*person, 0.55, 1)), highlight=[ebike])

    assert np.array_equal(image, before), "the input frame was changed"
    assert out.shape == image.shape and out is not image
    changed = np.any(out != image, axis=2)
    near = np.zeros_like(changed)
    for x1, y1, x2, y2 in (ebike, person):
        near[max(0, y1 - 40):y2 + 10, max(0, x1 - 10):x2 + 10] = True  # the label sits above the box
    assert changed.any()
    assert not (changed & ~near).any(), "pixels changed away from every box"
    # Red on the e-bike's edge, green on the person's.
    assert tuple(out[500, ebike[0]]) == (0, 0, 255)
    assert out[400, person[0], 1] > 150 and out[400, person[0], 2] < 50


def test_the_highlighted_box_is_thicker(shared_dir: Path) -> None:
    image = original(shared_dir)
    box = (200, 300, 500, 700)
    plain = np.any(annotate(image, dets((*box, 0.9, 0))) != image, axis=2)
    bold = np.any(annotate(image, dets((*box, 0.9, 0)), highlight=[box]) != image, axis=2)
    assert bold[500].sum() > plain[500].sum()


@pytest.mark.parametrize("box", [
    (-500, -500, -10, -10),       # wholly outside
    (1000, 700, 5000, 5000),      # runs off the bottom right
    (-50, -50, 30, 30),           # the label has no room above
    (10, 10, 10, 10),             # no area
])
def test_boxes_outside_the_image_do_not_crash(shared_dir: Path, box: tuple[int, int, int, int]) -> None:
    image = original(shared_dir)
    out = annotate(image, dets((*box, 0.5, 0)), highlight=[box, (float("nan"), 0, 1, 1)])
    assert out.shape == image.shape


def test_snapshot_decodes_at_most_max_side(shared_dir: Path) -> None:
    image = original(shared_dir)
    data = encode_snapshot(image, max_side=640, quality=80)
    back = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert max(back.shape[:2]) == 640
    assert abs(back.shape[1] / back.shape[0] - image.shape[1] / image.shape[0]) < 0.01
    small = encode_snapshot(image, max_side=4096, quality=80)  # never scaled up
    assert cv2.imdecode(np.frombuffer(small, np.uint8), cv2.IMREAD_COLOR).shape == image.shape


def test_a_4k_frame_gives_a_small_snapshot(shared_dir: Path) -> None:
    frame_4k = cv2.resize(original(shared_dir), (3840, 2160), interpolation=cv2.INTER_CUBIC)
    cfg = EvidenceConfig()
    data = encode_snapshot(frame_4k, cfg.snapshot_max_side, cfg.snapshot_quality)
    assert len(data) < 300_000
    assert cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).shape == (540, 960, 3)


@pytest.mark.parametrize("text", ["el-1", "../../etc/passwd", "电梯/3", ".hidden", "", "a b"])
def test_safe_names(text: str) -> None:
    name = safe_name(text)
    assert name and not name.startswith(".") and "/" not in name and name.isascii()
    assert safe_name("a/b") != safe_name("a_b")


# -- clips --


def frames(shared_dir: Path, size: tuple[int, int] = (480, 344)) -> list[np.ndarray]:
    return [cv2.resize(original(shared_dir, n), size) for n in range(4)]


def read_video(path: Path) -> tuple[int, tuple[int, int]]:
    cap = cv2.VideoCapture(str(path))
    count, shape = 0, (0, 0)
    while True:
        ok, image = cap.read()
        if not ok:
            break
        count, shape = count + 1, image.shape[:2]
    cap.release()
    return count, shape


def test_a_clip_is_the_seconds_before_and_after_the_alert(tmp_path: Path, shared_dir: Path) -> None:
    cfg = EvidenceConfig(clip_before_s=3, clip_after_s=4, clip_fps=5, snapshot_max_side=320)
    rec = ClipRecorder(tmp_path / "ev", cfg)
    images = frames(shared_dir)
    t0 = 1_767_225_600.0
    for i in range(200):  # 20 s at 10 fps, the alert at t=10
        ts = t0 + i / 10
        rec.add("el/1", ts, images[i % 4])
        if i == 100:
            rec.start("el/1", "alert:1", ts)
            rec.start("el/1", "alert:1", ts + 0.5)  # the same alert again: ignored
    clips = poll(rec.take_finished)
    rec.close()

    assert len(clips) == 1 and rec.take_finished() == []
    clip = clips[0]
    assert clip.alert_id == "alert:1" and clip.elevator_id == "el/1"
    assert clip.path.parent == tmp_path / "ev" and clip.path.is_file()
    assert clip.path.suffix in (".mp4", ".avi") and ":" not in clip.path.name and "/" not in clip.path.name
    assert abs(clip.frames - (3 + 4) * 5) <= 1
    assert clip.start_ts == pytest.approx(t0 + 7, abs=0.21) and clip.end_ts == pytest.approx(t0 + 14, abs=0.21)
    count, shape = read_video(clip.path)
    assert count == clip.frames
    assert shape[1] == 320 and shape[0] in (228, 229, 230)
    assert [p.name for p in (tmp_path / "ev").iterdir()] == [clip.path.name], "temporary files were left"
    # Its preview travels with the alert: 8 small frames spread over the clip, each a JPEG a browser shows.
    assert len(clip.preview) == 8
    for b64 in clip.preview:
        jpeg = base64.b64decode(b64)
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert max(image.shape[:2]) == 240 and len(jpeg) < 20_000


def test_a_camera_that_stops_mid_clip_still_gives_a_clip(tmp_path: Path, shared_dir: Path) -> None:
    cfg = EvidenceConfig(clip_before_s=2, clip_after_s=60, clip_fps=5, snapshot_max_side=320)
    rec = ClipRecorder(tmp_path / "ev", cfg, stall_s=0.5)
    images = frames(shared_dir)
    for i in range(40):  # 4 s at 10 fps; the alert at 3 s, then the camera goes silent
        rec.add("el-2", 100.0 + i / 10, images[i % 4])
        if i == 30:
            rec.start("el-2", "a2", 100.0 + i / 10)
    clips = poll(rec.take_finished)
    rec.close()
    assert len(clips) == 1 and clips[0].alert_id == "a2"
    assert abs(clips[0].frames - 15) <= 1  # 1 s..4 s at 5 fps
    assert read_video(clips[0].path)[0] == clips[0].frames


def test_close_writes_what_is_recording(tmp_path: Path, shared_dir: Path) -> None:
    rec = ClipRecorder(tmp_path / "ev", EvidenceConfig(clip_before_s=1, clip_after_s=60, snapshot_max_side=320),
                       stall_s=600)
    image = frames(shared_dir)[0]
    for i in range(10):
        rec.add("el-3", 50.0 + i / 5, image)
    rec.start("el-3", "a3", 51.0)
    rec.close()
    (clip,) = rec.take_finished()
    assert read_video(clip.path)[0] == clip.frames >= 5


def age(path: Path, days: float) -> None:
    t = time.time() - days * 86400
    os.utime(path, (t, t))


def test_retention_deletes_old_clips_then_the_oldest_over_the_size_limit(tmp_path: Path, shared_dir: Path) -> None:
    root = tmp_path / "ev"
    rec = ClipRecorder(root, EvidenceConfig(clip_before_s=2, clip_after_s=1, snapshot_max_side=320))
    images = frames(shared_dir)
    for k in range(4):  # four clips, one per alert
        t0 = 1000.0 * k
        for i in range(30):
            rec.add("el-4", t0 + i / 10, images[(i + k) % 4])
        rec.start("el-4", f"a{k}", t0 + 2.0)
        rec.add("el-4", t0 + 5.0, images[0])  # past the clip's end: it is finished
    clips = {c.alert_id: c.path for c in poll(lambda: (rec.take_finished() if rec.stats()["written"] == 4 else []))}
    rec.close()
    assert sorted(clips) == ["a0", "a1", "a2", "a3"]
    (root / "notes.txt").write_text("not a clip")
    for k, days in enumerate([40, 20, 10, 1]):
        age(clips[f"a{k}"], days)

    assert rec.prune(time.time()) == 1  # a0 is past 30 days
    assert not clips["a0"].exists() and clips["a1"].exists()

    # A restarted recorder prunes at once; a budget that fits about one and a half clips keeps the newest.
    size = max(p.stat().st_size for p in clips.values() if p.exists())
    ClipRecorder(root, EvidenceConfig(max_total_mb=size * 1.5 / 1e6)).close()
    assert [k for k in ("a1", "a2", "a3") if clips[k].exists()] == ["a3"]
    assert (root / "notes.txt").exists()


def test_ring_buffer_memory_is_small(tmp_path: Path, shared_dir: Path) -> None:
    """The figure in ClipRecorder's docstring: default config, real 1068x767 frames, one camera."""
    rec = ClipRecorder(tmp_path / "ev", EvidenceConfig(), max_queue_mb=1000)
    images = [original(shared_dir, n) for n in range(4)]
    for i in range(100):
        rec.add("el-5", 10.0 + i / 10, images[i % 4])
    poll(lambda: rec.stats()["queued_bytes"] == 0)
    stats = rec.stats()
    rec.close()
    assert stats["dropped"] == 0
    assert 0 < stats["buffered_bytes"] < 4_000_000, stats


def test_a_busy_clip_preview_still_fits_the_alerts_evidence_bound() -> None:
    # Noise compresses worst: eight such frames once made an evidence of 79 kB that dispatch refused (422).
    from edge.elevator.evidence import clip_preview
    from ingest.wire.alert import MAX_EVIDENCE_BYTES

    rng = np.random.default_rng(0)
    frames = [cv2.imencode(".jpg", rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8))[1].tobytes()
              for _ in range(20)]
    preview = clip_preview(frames)
    assert preview, "a busy clip still gets a preview"
    assert sum(len(b) for b in preview) < MAX_EVIDENCE_BYTES * 0.5  # room left for the rest of the evidence
    assert all(cv2.imdecode(np.frombuffer(base64.b64decode(b), np.uint8), cv2.IMREAD_COLOR) is not None
               for b in preview)

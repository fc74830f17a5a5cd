"""OpenCV camera sources against real inputs: a folder of real screenshots, a video file written here with
cv2.VideoWriter, and an RTSP address where nothing listens."""

from __future__ import annotations

import functools
import logging
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.elevator.frame import Frame
from edge.elevator.sources import OpenCvSource, is_opencv_source


class Collector:
    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self.at: list[float] = []
        self.lock = threading.Lock()

    def __call__(self, frame: Frame) -> None:
        with self.lock:
            self.frames.append(frame)
            self.at.append(time.monotonic())


def poll(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.mark.parametrize(("source", "expected"), [
    (None, False), ("mqtt", False), (" MQTT ", False), ("", False), ("mqtt://broker:1883", False),
    ("rtsp://10.0.0.5/stream1", True), ("http://cam/video.mjpg", True), ("https://cam/x", True),
    ("/var/video/car3.mp4", True), ("frames/", True),
])
def test_is_opencv_source(source: str | None, expected: bool) -> None:
    assert is_opencv_source(source) is expected


@pytest.fixture
def originals(shared_dir: Path) -> list[Path]:
    return sorted((shared_dir / "data/vision/ebike-elevator/originals").glob("*.png"))[:3]


def test_an_image_folder_is_delivered_in_order(tmp_path: Path, originals: list[Path]) -> None:
    folder = tmp_path / "cam"
    folder.mkdir()
    for name, src in zip(("c.png", "a.png", "b.png"), (originals[2], originals[0], originals[1]), strict=True):
        (folder / name).symlink_to(src)
    (folder / "b2-corrupt.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (folder / "notes.txt").write_text("ignored")
    got = Collector()
    src = OpenCvSource("el-7", str(folder), got, fps=20)
    started = time.time()
    src.start()
    poll(lambda: src.stats()["ended"])
    src.stop()

    assert len(got.frames) == 3
    for frame, path in zip(got.frames, originals, strict=True):  # a, b, c = originals 0, 1, 2
        assert frame.elevator_id == "el-7" and frame.jpeg is None
        assert np.array_equal(frame.image, cv2.imread(str(path)))
        assert started - 1 <= frame.ts <= time.time() and frame.received == frame.ts
    stats = src.stats()
    assert stats["frames"] == 3 and stats["errors"] == 1 and "b2-corrupt.jpg" in stats["last_error"]


def test_a_folder_loops(tmp_path: Path, originals: list[Path]) -> None:
    for path in originals[:2]:
        (tmp_path / path.name).symlink_to(path)
    got = Collector()
    src = OpenCvSource("el-8", str(tmp_path), got, fps=20, loop=True)
    src.start()
    poll(lambda: src.stats()["frames"] >= 5)
    src.stop()
    shapes = [f.image.shape for f in got.frames[:5]]
    assert shapes[0] == shapes[2] == shapes[4] and src.stats()["ended"] is False


def write_video(path: Path, frames: int, fps: float) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (160, 120))
    assert writer.isOpened()
    for i in range(frames):
        writer.write(np.full((120, 160, 3), 8 * i, np.uint8))  # the frame's index, as its brightness
    writer.release()


def test_a_video_file_plays_in_real_time_at_the_paced_rate(tmp_path: Path) -> None:
    video = tmp_path / "car.mp4"
    write_video(video, frames=30, fps=10)  # 3 s of video
    got = Collector()
    src = OpenCvSource("el-9", str(video), got, fps=5)
    src.start()
    poll(lambda: src.stats()["ended"])
    src.stop()

    assert len(got.frames) == 15, "every second frame of a 10 fps file at 5 fps"
    index = [round(float(f.image.mean()) / 8) for f in got.frames]
    assert index == list(range(0, 30, 2))
    elapsed = got.at[-1] - got.at[0]
    assert elapsed >= 14 / 5 * 0.9, f"faster than real time: {elapsed:.2f} s"
    assert elapsed < 20, f"far slower than paced: {elapsed:.2f} s"


def test_a_missing_file_is_an_error_not_a_crash(tmp_path: Path) -> None:
    src = OpenCvSource("el-10", str(tmp_path / "nope.mp4"), Collector(), fps=5)
    src.start()
    poll(lambda: src.stats()["errors"] >= 1)
    src.stop()
    assert src.stats()["connected"] is False


def test_a_bad_rtsp_url_reports_and_stops_promptly(caplog: pytest.LogCaptureFixture) -> None:
    got = Collector()
    src = OpenCvSource("el-11", "rtsp://127.0.0.1:1/none", got, fps=5)
    with caplog.at_level(logging.WARNING, logger="edge.elevator.sources"):
        src.start()  # does not raise
        poll(lambda: src.stats()["errors"] >= 2)  # the first retry comes after 1 s
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 1, "the loss is logged once"
    stats = src.stats()
    assert stats["connected"] is False and stats["last_error"] and stats["frames"] == 0
    t = time.monotonic()
    src.stop()
    assert time.monotonic() - t < 2.5
    assert src._thread is not None and not src._thread.is_alive()


def test_an_http_stream_is_read_and_reconnected_after_it_ends(tmp_path: Path) -> None:
    """A real HTTP server serving a video: OpenCV reads it as a stream; at its end the source counts an error,
    waits its backoff and connects again."""
    write_video(tmp_path / "live.mp4", frames=30, fps=10)
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    got = Collector()
    src = OpenCvSource("el-12", f"http://127.0.0.1:{server.server_address[1]}/live.mp4", got, fps=5)
    try:
        src.start()
        poll(lambda: src.stats()["frames"] >= 2 and src.stats()["errors"] >= 2)
    finally:
        src.stop()
        server.shutdown()
        server.server_close()
    assert got.frames[0].image.shape == (120, 160, 3)
    assert src.stats()["last_error"] == "stream read failed"


def test_a_camera_s_credentials_come_from_the_environment(monkeypatch) -> None:
    from ingest.registry import expand_source

    monkeypatch.setenv("CAM_TEST_PW", "p@ss/w:rd")
    assert expand_source("rtsp://viewer:${CAM_TEST_PW}@10.0.0.31:554/s1") == "rtsp://viewer:p%40ss%2Fw%3Ard@10.0.0.31:554/s1"
    monkeypatch.delenv("CAM_TEST_PW")
    with pytest.raises(ValueError, match="CAM_TEST_PW is not set"):
        expand_source("rtsp://viewer:${CAM_TEST_PW}@10.0.0.31:554/s1")

"""Camera sources read with OpenCV (a registry `source:` other than mqtt): RTSP/HTTP streams, video files,
image folders. Each runs one daemon thread and hands decoded frames to `on_frame`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge.elevator.frame import Frame
from ingest.registry import STREAM_SCHEMES, expand_source

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 30.0
OPEN_TIMEOUT_MS = 10_000  # a camera that does not answer must not hang the thread (nor stop()) for long
READ_TIMEOUT_MS = 10_000


def is_opencv_source(source: str | None) -> bool:
    """None, "" or "mqtt" (or an mqtt:// URL) is the broker; anything else (a stream URL, a video file, an image
    folder, even a path that does not exist yet) is read with OpenCV, so a typo shows up as a source error."""
    if source is None:
        return False
    s = source.strip().lower()
    return s not in ("", "mqtt") and not s.startswith(("mqtt://", "mqtts://"))


def _kind(source: str) -> str:
    if source.lower().startswith(STREAM_SCHEMES):
        return "stream"
    return "folder" if Path(source).is_dir() else "file"


class OpenCvSource:
    """One camera read by OpenCV. Streams are read continuously (so the newest frame is handed on, not one
    that waited in a buffer) at most `fps` frames a second, and reconnect with backoff (1 s doubling to 30 s);
    video files play in real time at most `fps` frames a second; folders give their images in name order at
    `fps`. `loop` restarts a file or folder at its end."""

    def __init__(self, elevator_id: str, source: str, on_frame: Callable[[Frame], None], fps: float,
                 loop: bool = False) -> None:
        if fps <= 0:
            raise ValueError("fps must be > 0")
        self.elevator_id = elevator_id
        self.source = source
        self.on_frame = on_frame
        self.fps = fps
        self.loop = loop
        self.kind = _kind(source)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._frames = 0
        self._errors = 0
        self._connected = False
        self._ended = False
        self._last_error: str | None = None
        self._lost_logged = False

    # -- control --

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name=f"camera-{self.elevator_id}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Returns within `timeout` even when a read is stuck in OpenCV (the daemon thread then ends on its own)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"frames": self._frames, "errors": self._errors, "connected": self._connected,
                    "last_error": self._last_error, "ended": self._ended}

    # -- bookkeeping --

    def _error(self, message: str) -> None:
        with self._lock:
            self._errors += 1
            self._last_error = message
            self._connected = False
        if not self._lost_logged:  # once per outage, not per retry
            log.warning("camera %s (%s): %s; retrying with backoff", self.elevator_id, self.source, message)
            self._lost_logged = True

    def _set_connected(self) -> None:
        with self._lock:
            self._connected = True
        if self._lost_logged:
            log.info("camera %s (%s) is back", self.elevator_id, self.source)
            self._lost_logged = False

    def _emit(self, image: np.ndarray) -> None:
        now = time.time()
        try:
            self.on_frame(Frame(self.elevator_id, ts=now, received=now, image=image))
        except Exception:
            log.exception("camera %s: the frame handler failed", self.elevator_id)
            with self._lock:
                self._errors += 1
            return
        with self._lock:
            self._frames += 1

    def _pace(self, next_due: float) -> float:
        """Waits until next_due (monotonic); returns the next due time, never one already far in the past."""
        self._stop.wait(max(0.0, next_due - time.monotonic()))
        return max(next_due + 1.0 / self.fps, time.monotonic() - 1.0 / self.fps)

    # -- the thread --

    def _run(self) -> None:
        backoff = BACKOFF_FIRST_S
        read = {"stream": self._read_stream, "file": self._read_file, "folder": self._read_folder}[self.kind]
        while not self._stop.is_set():
            try:
                finished = read()
            except Exception as exc:  # OpenCV raising must not end the camera thread
                self._error(f"{type(exc).__name__}: {exc}")
                finished = False
            if finished and not self.loop:
                with self._lock:
                    self._ended = True
                    self._connected = False
                return
            if finished:
                backoff = BACKOFF_FIRST_S
                continue
            self._stop.wait(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_S)

    def _open(self) -> cv2.VideoCapture | None:
        try:
            url = expand_source(self.source)  # credentials from the environment, at each (re)connect
        except ValueError as exc:
            self._error(f"cannot open the source: {exc}")
            return None
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, OPEN_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, READ_TIMEOUT_MS]
        cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
        if not cap.isOpened():
            cap.release()
            cap = cv2.VideoCapture(url)  # another backend (e.g. GStreamer, image sequences)
        if not cap.isOpened():
            cap.release()
            self._error("cannot open the source")
            return None
        return cap

    def _read_stream(self) -> bool:
        """Until the stream fails or stop(); returns False (a stream has no regular end)."""
        cap = self._open()
        if cap is None:
            return False
        try:
            self._set_connected()
            next_due = time.monotonic()
            while not self._stop.is_set():
                if not cap.grab():  # grab every frame: the capture's buffer never fills with old ones
                    self._error("stream read failed")
                    return False
                now = time.monotonic()
                if now < next_due:
                    continue
                ok, image = cap.retrieve()
                if ok and image is not None:
                    self._emit(image)
                next_due = max(next_due + 1.0 / self.fps, now)
            return False
        finally:
            cap.release()

    def _read_file(self) -> bool:
        """Plays the file once in real time; True at its end, False when it cannot be read at all."""
        cap = self._open()
        if cap is None:
            return False
        try:
            native = cap.get(cv2.CAP_PROP_FPS)
            if not 0 < native <= 1000:
                native = self.fps
            step = max(1.0, native / self.fps)  # file frames per frame handed on, to keep real time
            position = 0.0  # file frame to hand on next
            index = 0  # file frame grabbed next
            emitted = 0
            next_due = time.monotonic()
            while not self._stop.is_set():
                while index < int(position):  # skip frames between the paced ones without decoding them
                    if not cap.grab():
                        return self._file_end(emitted)
                    index += 1
                ok, image = cap.read()
                index += 1
                if not ok or image is None:
                    return self._file_end(emitted)
                self._set_connected()
                next_due = self._pace(next_due)
                if self._stop.is_set():
                    break
                self._emit(image)
                emitted += 1
                position += step
            return False
        finally:
            cap.release()

    def _file_end(self, emitted: int) -> bool:
        if emitted == 0:
            self._error("no frame could be read")
            return False
        return True

    def _images(self) -> Iterator[Path]:
        return iter(sorted(p for p in Path(self.source).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))

    def _read_folder(self) -> bool:
        """Each image of the folder once at fps; a corrupt one is skipped with a warning."""
        try:
            paths = list(self._images())
        except OSError as exc:
            self._error(f"cannot list the folder: {exc}")
            return False
        if not paths:
            self._error("no images in the folder")
            return False
        self._set_connected()
        emitted = 0
        next_due = time.monotonic()
        for path in paths:
            if self._stop.is_set():
                return False
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                log.warning("camera %s: skipping unreadable image %s", self.elevator_id, path.name)
                with self._lock:
                    self._errors += 1
                    self._last_error = f"unreadable image {path.name}"
                continue
            next_due = self._pace(next_due)
            if self._stop.is_set():
                return False
            self._emit(image)
            emitted += 1
        return self._file_end(emitted)

"""Evidence for an e-bike alert: the annotated snapshot, and short clips around the alert with retention.

The snapshot goes out with the alert at once; a clip (the seconds before the alert from a per-camera ring
buffer, plus the seconds after) follows when it is complete. Everything slow (scaling, JPEG, video encoding,
disk) runs on one writer thread: the detector thread only samples and hands over a reference.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import queue
import re
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edge.elevator.config import EvidenceConfig
from ingest.wire.alert import MAX_EVIDENCE_BYTES
from models.vision.types import Detections

log = logging.getLogger(__name__)

BoxLike = Sequence[float]  # x1, y1, x2, y2 in source pixels

EBIKE_COLOR = (0, 0, 255)  # BGR red
PERSON_COLOR = (0, 200, 0)
OTHER_COLOR = (0, 200, 255)
CLIP_SUFFIXES = (".mp4", ".avi")
_TMP_PREFIX = ".tmp-"
PREVIEW_FRAMES = 8  # the clip's animated preview on the command-center page: frames, long side, JPEG quality
PREVIEW_MAX_SIDE = 240
PREVIEW_QUALITY = 60
# The preview travels in the alert's evidence, which dispatch bounds: busy frames compress badly, so the
# preview keeps half the bound (the rest is for the other evidence), lowering quality, then dropping frames.
PREVIEW_MAX_BYTES = MAX_EVIDENCE_BYTES // 2
RING_JPEG_QUALITY = 90  # frames wait in the ring as JPEG: ~10x less memory than raw pixels


def safe_name(text: str, max_len: int = 64) -> str:
    """A file-name part from outside text (elevator and alert ids): [A-Za-z0-9._-] only, never hidden.

    A short hash is appended whenever characters were replaced, so "a/b" and "a_b" stay different files.
    """
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", text)[:max_len].lstrip(".") or "_"
    if cleaned != text:
        cleaned += "-" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return cleaned


def _color(name: str) -> tuple[int, int, int]:
    if name == "ebike":
        return EBIKE_COLOR
    if name == "person":
        return PERSON_COLOR
    return OTHER_COLOR


def _clip_box(box: BoxLike, w: int, h: int) -> tuple[int, int, int, int] | None:
    """Pixel corners inside the image, or None for a box that is not finite or lies wholly outside."""
    if len(box) != 4 or not all(np.isfinite(v) for v in box):
        return None
    x1, y1, x2, y2 = (float(v) for v in box)
    x1, x2 = max(0.0, min(x1, w - 1.0)), max(0.0, min(x2, w - 1.0))
    y1, y2 = max(0.0, min(y1, h - 1.0)), max(0.0, min(y2, h - 1.0))
    if x2 <= x1 or y2 <= y1:
        return None
    return round(x1), round(y1), round(x2), round(y2)


def annotate(image_bgr: np.ndarray, detections: Detections, highlight: Sequence[BoxLike] = ()) -> np.ndarray:
    """A copy of the frame with the boxes drawn: e-bikes red, persons green, the highlighted boxes (the
    confirmed track) thicker, each with an ASCII "ebike 0.87" label (cv2.putText draws no CJK)."""
    out = image_bgr.copy()
    h, w = out.shape[:2]
    thin = max(1, round(max(h, w) / 600))
    font_scale = max(0.4, max(h, w) / 1600)
    for box, score, name in zip(detections.xyxy, detections.scores, detections.labels(), strict=True):
        corners = _clip_box(box, w, h)
        if corners is None:
            continue
        x1, y1, x2, y2 = corners
        color = _color(name)
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thin)
        label = f"{name} {float(score):.2f}".encode("ascii", "replace").decode("ascii")
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thin)
        # Above the box when there is room, else just inside its top edge.
        top = y1 - th - base - thin if y1 - th - base - thin >= 0 else y1 + thin
        cv2.rectangle(out, (x1, top), (min(w - 1, x1 + tw + 2 * thin), top + th + base), color, cv2.FILLED)
        cv2.putText(out, label, (x1 + thin, top + th), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (255, 255, 255), thin,
                    cv2.LINE_AA)
    for box in highlight:
        corners = _clip_box(box, w, h)
        if corners is not None:
            cv2.rectangle(out, corners[:2], corners[2:], EBIKE_COLOR, thin * 3)
    return out


def _scaled(image_bgr: np.ndarray, max_side: int) -> np.ndarray:
    h, w = image_bgr.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale >= 1.0:
        return image_bgr
    size = (max(2, round(w * scale)), max(2, round(h * scale)))
    # INTER_AREA only for big reductions (no aliasing); it costs ~6x INTER_LINEAR (4.6 vs 0.7 ms at 1 MP).
    interp = cv2.INTER_AREA if scale < 0.5 else cv2.INTER_LINEAR
    return cv2.resize(image_bgr, size, interpolation=interp)


def _jpeg(image_bgr: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", image_bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"cannot encode a {image_bgr.shape} image as JPEG")
    return buf.tobytes()


def encode_snapshot(image_bgr: np.ndarray, max_side: int, quality: int) -> bytes:
    """JPEG of the frame scaled so its long side is at most max_side (the alert's snapshot_jpeg_b64)."""
    return _jpeg(_scaled(image_bgr, max_side), quality)


@dataclass(frozen=True, slots=True)
class Clip:
    alert_id: str
    elevator_id: str
    path: Path
    start_ts: float  # event time of the first and the last frame in the file
    end_ts: float
    frames: int
    preview: tuple[str, ...] = ()  # base64 JPEGs, evenly spread over the clip: the page plays them in turn


def clip_preview(frames: Sequence[bytes], n: int = PREVIEW_FRAMES, max_side: int = PREVIEW_MAX_SIDE) -> tuple[str, ...]:
    """A few small frames of the clip (~4 KB each) that travel with the alert: the clip itself stays on the edge
    box (MB, a codec browsers may not play), the preview lets the command center see what happened."""
    if not frames:
        return ()
    picks = sorted({round(i * (len(frames) - 1) / max(n - 1, 1)) for i in range(min(n, len(frames)))})
    images = [image for i in picks
              if (image := cv2.imdecode(np.frombuffer(frames[i], np.uint8), cv2.IMREAD_COLOR)) is not None]
    images = [_scaled(image, max_side) for image in images]
    out: list[str] = []
    for quality in (PREVIEW_QUALITY, 40, 25):  # a busy scene: lower quality first, then fewer frames
        out = [base64.b64encode(_jpeg(image, quality)).decode("ascii") for image in images]
        if sum(len(b) for b in out) <= PREVIEW_MAX_BYTES:
            break
    while out and sum(len(b) for b in out) > PREVIEW_MAX_BYTES:
        out = out[::2] if len(out) > 1 else []  # fewer frames, still spread over the clip
    return tuple(out)


@dataclass(slots=True)
class _Recording:
    alert_id: str
    elevator_id: str
    until_ts: float  # frames at or after this event time are no longer part of the clip
    frames: list[tuple[float, bytes]]
    last_activity: float = field(default_factory=time.monotonic)  # wall clock, for a camera that stops


@dataclass(slots=True)
class _Camera:
    ring: deque[tuple[float, bytes]] = field(default_factory=deque)
    last_sampled: float | None = None  # event time of the last frame taken (caller's thread only)


_STOP = object()


class ClipRecorder:
    """Per camera a ring buffer of the last clip_before_s seconds (clip_fps, long side <= snapshot_max_side,
    kept as JPEG); start() turns it into a clip that runs on for clip_after_s seconds of event time.

    Memory (measured on 1068x767 screenshots): ~95 kB per buffered frame at 960 px, so the defaults (5 s at
    5 fps) hold ~2.6 MB per camera, ~26 MB for 10 cameras, plus ~7 MB for each clip being recorded; a default
    clip (15 s, 75 frames, mp4v) is ~5.5 MB on disk. add() keeps a reference to the frame until the writer
    thread has scaled it: the caller must not write into the array afterwards.
    """

    def __init__(self, root: Path, config: EvidenceConfig, *, stall_s: float = 10.0,
                 max_queue_mb: float = 128.0) -> None:
        self.root = Path(root)
        self.config = config
        self.stall_s = stall_s  # wall seconds without a frame after which a clip is finished as it is
        self._max_queue_bytes = int(max_queue_mb * 1e6)
        self.root.mkdir(parents=True, exist_ok=True)
        for stale in self.root.glob(_TMP_PREFIX + "*"):  # a crash mid-write leaves these behind
            stale.unlink(missing_ok=True)
        self._interval = 1.0 / config.clip_fps
        self._cameras: dict[str, _Camera] = {}  # ring buffers: writer thread; last_sampled: caller
        self._recording: dict[str, _Recording] = {}  # alert id -> clip; writer thread only
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._queued_bytes = 0
        self._lock = threading.Lock()  # queued bytes, finished clips, counters
        self._prune_lock = threading.Lock()
        self._finished: list[Clip] = []
        self._dropped = 0
        self._written = 0
        self._closed = False
        self.prune(time.time())
        self._thread = threading.Thread(target=self._run, name="clip-writer", daemon=True)
        self._thread.start()

    # -- the caller's side: cheap, never waits for the disk --

    def add(self, elevator_id: str, ts: float, image_bgr: np.ndarray) -> None:
        """Every judged frame; only those due at clip_fps (event time) are kept."""
        if self._closed:
            return
        cam = self._cameras.setdefault(elevator_id, _Camera())
        # A quarter interval of slack, so a 10 fps camera jittering around 0.2 s still yields 5 fps.
        if cam.last_sampled is not None and 0 <= ts - cam.last_sampled < self._interval * 0.75:
            return
        with self._lock:
            if self._queued_bytes + image_bgr.nbytes > self._max_queue_bytes:
                self._dropped += 1
                if self._dropped == 1 or self._dropped % 100 == 0:
                    log.warning("clip writer behind: %d frames dropped so far", self._dropped)
                return
            self._queued_bytes += image_bgr.nbytes
        cam.last_sampled = ts
        self._queue.put(("frame", elevator_id, ts, image_bgr))

    def start(self, elevator_id: str, alert_id: str, ts: float) -> None:
        """Record a clip for this alert: the buffered frames from ts - clip_before_s on, until ts + clip_after_s."""
        if not self._closed:
            self._queue.put(("start", elevator_id, alert_id, ts))

    def forget(self, elevator_id: str) -> None:
        """Free a camera's ring of recent frames (a camera nobody registered went away)."""
        if not self._closed:
            self._queue.put(("forget", elevator_id))

    def take_finished(self) -> list[Clip]:
        """Clips written since the last call."""
        with self._lock:
            done, self._finished = self._finished, []
        return done

    def stats(self) -> dict[str, int]:
        with self._lock:
            queued, dropped, written = self._queued_bytes, self._dropped, self._written
        buffered = sum(len(jpeg) for cam in list(self._cameras.values()) for _, jpeg in list(cam.ring))
        return {"buffered_bytes": buffered, "queued_bytes": queued, "recording": len(self._recording),
                "dropped": dropped, "written": written}

    def close(self, timeout: float = 60.0) -> None:
        """Finish and write what is recording, then stop the writer thread."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout)

    # -- retention --

    def clip_files(self) -> list[Path]:
        return [p for p in self.root.iterdir()
                if p.is_file() and p.suffix in CLIP_SUFFIXES and not p.name.startswith(".")]

    def prune(self, now: float) -> int:
        """Delete clips older than retention_days, then the oldest while the folder is over max_total_mb."""
        with self._prune_lock:
            entries = []
            for path in self.clip_files():
                try:
                    st = path.stat()
                except FileNotFoundError:
                    continue
                entries.append((st.st_mtime, st.st_size, path))
            entries.sort()
            cutoff = now - self.config.retention_days * 86400
            budget = self.config.max_total_mb * 1e6
            total = sum(size for _, size, _ in entries)
            deleted = 0
            for mtime, size, path in entries:  # oldest first
                if mtime >= cutoff and total <= budget:
                    break
                path.unlink(missing_ok=True)
                total -= size
                deleted += 1
            if deleted:
                log.info("evidence retention: deleted %d clips, %.1f MB left", deleted, total / 1e6)
            return deleted

    # -- the writer thread --

    def _run(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=0.25)
            except queue.Empty:
                item = None
            if item is _STOP:
                break
            try:
                if isinstance(item, tuple):
                    if item[0] == "frame":
                        self._on_frame(*item[1:])
                    elif item[0] == "forget":
                        if not any(r.elevator_id == item[1] for r in self._recording.values()):
                            self._cameras.pop(item[1], None)
                    else:
                        self._on_start(*item[1:])
                self._finish_stalled()
            except Exception:  # a bad frame or a full disk must not end evidence for good
                log.exception("clip writer failed on %s", item[:3] if isinstance(item, tuple) else item)
        for rec in list(self._recording.values()):
            self._finish(rec)

    def _on_frame(self, elevator_id: str, ts: float, image_bgr: np.ndarray) -> None:
        with self._lock:
            self._queued_bytes -= image_bgr.nbytes
        small = _scaled(image_bgr, self.config.snapshot_max_side)
        jpeg = _jpeg(small, RING_JPEG_QUALITY)
        ring = self._cameras.setdefault(elevator_id, _Camera()).ring
        ring.append((ts, jpeg))
        while ring and ring[0][0] < ts - self.config.clip_before_s - self._interval:
            ring.popleft()
        for rec in [r for r in self._recording.values() if r.elevator_id == elevator_id]:
            if ts >= rec.until_ts:
                self._finish(rec)
            elif not rec.frames or ts > rec.frames[-1][0]:  # a late, out-of-order frame is left out
                rec.frames.append((ts, jpeg))
                rec.last_activity = time.monotonic()

    def _on_start(self, elevator_id: str, alert_id: str, ts: float) -> None:
        if alert_id in self._recording:
            return
        ring = self._cameras.setdefault(elevator_id, _Camera()).ring
        before = [(t, j) for t, j in ring if ts - self.config.clip_before_s <= t < ts + self.config.clip_after_s]
        self._recording[alert_id] = _Recording(alert_id, elevator_id, ts + self.config.clip_after_s, before)

    def _finish_stalled(self) -> None:
        now = time.monotonic()
        for rec in [r for r in self._recording.values() if now - r.last_activity > self.stall_s]:
            log.info("camera %s stopped sending: clip for %s finished early", rec.elevator_id, rec.alert_id)
            self._finish(rec)

    def _finish(self, rec: _Recording) -> None:
        self._recording.pop(rec.alert_id, None)
        if not rec.frames:
            log.warning("no frames for the clip of %s (camera %s)", rec.alert_id, rec.elevator_id)
            return
        path = self._write(rec)
        clip = Clip(rec.alert_id, rec.elevator_id, path, rec.frames[0][0], rec.frames[-1][0], len(rec.frames),
                    clip_preview([jpeg for _, jpeg in rec.frames]))
        with self._lock:
            self._finished.append(clip)
            self._written += 1
        self.prune(time.time())

    def _write(self, rec: _Recording) -> Path:
        stem = f"{safe_name(rec.elevator_id)}_{safe_name(rec.alert_id)}"
        first = cv2.imdecode(np.frombuffer(rec.frames[0][1], np.uint8), cv2.IMREAD_COLOR)
        h, w = first.shape[:2]
        size = (w - w % 2, h - h % 2)  # MPEG-4 wants even sides
        for suffix, fourcc in ((".mp4", "mp4v"), (".avi", "MJPG")):
            tmp = self.root / f"{_TMP_PREFIX}{stem}{suffix}"
            writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*fourcc), self.config.clip_fps, size)
            if writer.isOpened():
                break
            writer.release()
            tmp.unlink(missing_ok=True)
        else:
            raise RuntimeError("OpenCV can write neither mp4v nor MJPG video here")
        try:
            for _, jpeg in rec.frames:
                image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
                if image.shape[:2] == (h, w):
                    image = image[: size[1], : size[0]]  # drop the odd row or column
                else:  # the camera changed resolution mid-clip
                    image = cv2.resize(image, size)
                writer.write(image)
        finally:
            writer.release()
        path = self.root / f"{stem}{suffix}"
        n = 2
        while path.exists():  # the same alert recorded again (a restart): keep both
            path = self.root / f"{stem}-{n}{suffix}"
            n += 1
        tmp.replace(path)
        return path

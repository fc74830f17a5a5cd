"""What the hardening costs and what the attacks of issue 10 cost now: `.venv/bin/python bench/hostile.py`.

1. JPEG frame header read (the check before decoding) against a full decode of a 1280x720 frame, and the
   30000x30000 bomb refused.
2. Three anonymous 300 MB bodies at once to `POST /api/v1/alerts/x/accept` (declared, then chunked): time to
   the answer, bytes the client got to send, dispatch's peak RSS growth.
3. 1,100 idle TCP connections against a dispatch capped at 1,000 with a 2 s header deadline: an edge POST's
   latency while they are held, how many the server has closed after 3 s, and warning lines logged.
Dispatch runs in this process (uvicorn in a thread, SQLite under a temporary folder). ~15 s.
"""

from __future__ import annotations

import logging
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import httpx
import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.procstat import memory_mb  # noqa: E402
from dispatch.config import DispatchConfig  # noqa: E402
from dispatch.server import ServerHandle, start_in_thread  # noqa: E402
from ingest.registry import Registry  # noqa: E402
from models.vision.frames import FrameError, check_jpeg_size, decode_jpeg  # noqa: E402
from tests.models.test_vision_jpeg_header import declaring  # noqa: E402

EDGE = "bench-edge-token"


def timed(fn, runs: int) -> float:  # noqa: ANN001
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def jpeg_figures() -> None:
    coarse = np.random.default_rng(0).integers(0, 255, (45, 80, 3), np.uint8)  # camera-like detail, camera-like size
    ok, buf = cv2.imencode(".jpg", cv2.resize(coarse, (1280, 720), interpolation=cv2.INTER_CUBIC))
    frame = buf.tobytes()
    bomb = declaring(30000, 30000)

    def refuse() -> None:
        try:
            check_jpeg_size(bomb)
        except FrameError:
            pass

    print("| JPEG | median |")
    print("|---|---|")
    header_s = timed(lambda: check_jpeg_size(frame), 2000)
    print(f"| header read, 1280x720 frame ({len(frame) // 1024} KiB) | {header_s * 1e6:.1f} µs |")
    print(f"| full decode, 1280x720 frame | {timed(lambda: decode_jpeg(frame), 50) * 1e3:.2f} ms |")
    print(f"| 30000x30000 bomb ({len(bomb)} bytes) refused | {timed(refuse, 2000) * 1e6:.1f} µs |")
    print()


def body_figures(handle: ServerHandle) -> None:
    url = f"{handle.url}/api/v1/alerts/x/accept"
    before = memory_mb(os.getpid())["VmHWM"]
    results: list[tuple[str, int, float, int]] = []

    def declared() -> None:
        started = time.perf_counter()
        with socket.create_connection((handle.host, handle.port)) as sock:
            sock.sendall(b"POST /api/v1/alerts/x/accept HTTP/1.1\r\nHost: b\r\nContent-Length: 300000000\r\n\r\n")
            sent = 0
            sock.settimeout(5)
            try:
                while sent < 300_000_000:
                    sock.sendall(b" " * 1_000_000)
                    sent += 1_000_000
            except OSError:
                pass
            answer = sock.recv(200)
        results.append(("declared 300 MB", int(answer.split()[1]), time.perf_counter() - started, sent))

    def chunked() -> None:
        sent = 0

        def body():  # noqa: ANN202
            nonlocal sent
            for _ in range(300):
                sent += 1_000_000
                yield b" " * 1_000_000

        started = time.perf_counter()
        try:
            status = httpx.post(url, content=body(), timeout=10).status_code
        except httpx.HTTPError:
            status = 0
        results.append(("chunked 300 MB", status, time.perf_counter() - started, sent))

    for kind in (declared, chunked):
        threads = [threading.Thread(target=kind) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    grown = memory_mb(os.getpid())["VmHWM"] - before
    print("| 3 anonymous 300 MB bodies at once | answer | seconds (max) | MB the client sent (max) |")
    print("|---|---|---|---|")
    for name in ("declared 300 MB", "chunked 300 MB"):
        rows = [r for r in results if r[0] == name]
        print(f"| {name} | {rows[0][1]} | {max(r[2] for r in rows):.2f} | {max(r[3] for r in rows) / 1e6:.0f} |")
    print(f"\npeak RSS growth of this process (dispatch and the clients): {grown:.0f} MB\n")


def idle_figures(handle: ServerHandle, records: list[logging.LogRecord]) -> None:
    socks = [socket.create_connection((handle.host, handle.port)) for _ in range(1100)]
    started = time.perf_counter()
    attempts, status = 0, 0
    while not status and time.perf_counter() - started < 30:  # as the edge's outbox does: retry until answered
        attempts += 1
        try:
            status = httpx.post(handle.alerts_url, content=b"{}", headers={"Authorization": f"Bearer {EDGE}"},
                                timeout=30).status_code
        except httpx.HTTPError:
            time.sleep(0.2)
    latency = time.perf_counter() - started
    time.sleep(max(0.0, 3 - latency))
    closed = 0
    for sock in socks:
        sock.settimeout(0.001)
        try:
            closed += sock.recv(1) == b""
        except (TimeoutError, BlockingIOError):
            pass
        except ConnectionResetError:
            closed += 1
        sock.close()
    print("| 1,100 idle connections, cap 1,000, header deadline 2 s | |")
    print("|---|---|")
    print(f"| edge POST, retried every 0.2 s, answered | {status} after {latency:.2f} s ({attempts} attempts) |")
    print(f"| of the idle ones, closed by the server within 3 s | {closed} of 1100 |")
    print(f"| warning lines logged | {sum(r.levelno >= logging.WARNING for r in records)} |")


def main() -> int:
    os.environ["GRIDWATCH_TOKEN"] = EDGE
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger().addHandler(handler)
    jpeg_figures()
    with tempfile.TemporaryDirectory() as folder:
        config = DispatchConfig.model_validate({"listen": "127.0.0.1:0", "state_dir": Path(folder),
                                                "http": {"header_timeout_s": 2.0}})
        handle = start_in_thread(config, Registry())
        try:
            body_figures(handle)
            records.clear()
            idle_figures(handle, records)
        finally:
            handle.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

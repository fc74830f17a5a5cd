"""The elevator pipeline of a real edge worker: `.venv/bin/python bench/elevator_pipeline.py [--cameras 4 --raises 30]`.

Real Mosquitto, the edge worker in this process with the project's e-bike model (1 ONNX Runtime thread), a real
HTTP receiver standing in for dispatch; camera frames are a 1280x720 JPEG of a real elevator screenshot (e-bike)
or a grey frame (no bike), published from a separate process so that publishing does not share our GIL.
1. Capacity: 4 cameras offered 30 fps each for --seconds; judged frames/s, and frames per CPU-second of the
   detector thread (/proc/self/task/<tid>/stat): the frames/s one core carries. Per-stage medians.
2. Latency: --cameras cameras at 5 fps alternate 3 s of the e-bike and 3 s of grey until --raises raises;
   for each raise POSTed to the receiver: POST arrival - ts of the deciding frame (evidence.frame_ts), and
   POST arrival - ts of the first e-bike frame of that cycle (includes the rule's M-of-K frames).
3. Check: N = floor(frames per core / 5) cameras at 5 fps for --seconds: judged/s, slot skips, detector CPU.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.procstat import _TICK, cpu_seconds, memory_mb  # noqa: E402
from edge.broker import Mosquitto, free_port  # noqa: E402
from edge.config import EdgeConfig  # noqa: E402
from edge.worker import EdgeWorker  # noqa: E402
from ingest.config import MqttConfig  # noqa: E402
from ingest.mqtt_client import MqttConnection  # noqa: E402
from ingest.registry import Registry  # noqa: E402
from ingest.wire.timestamps import parse_ts  # noqa: E402

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
FRAME = SHARED / "data/vision/ebike-elevator/originals/Snipaste_2024-01-01_12-07-27.png"


def jpegs() -> tuple[bytes, bytes]:
    bike = cv2.resize(cv2.imread(str(FRAME)), (1280, 720))
    grey = np.full((720, 1280, 3), 128, np.uint8)
    return tuple(cv2.imencode(".jpg", im, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes() for im in (bike, grey))


class Receiver:
    """A dispatch stand-in: answers 200 and records (arrival, alert) for every POST."""

    def __init__(self) -> None:
        self.alerts: list[tuple[float, dict]] = []
        received = self.alerts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (stdlib name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((time.time(), json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v1/alerts"

    def stop(self) -> None:
        self.server.shutdown()


def publish_process(url: str, cameras: list[str], fps: float, seconds: float, frame: bytes) -> None:
    """Each camera at `fps`, round by round, each frame with its `ts` (epoch ms)."""
    conn = MqttConnection(MqttConfig(url=url), f"bench-cams-{os.getpid()}", persistent=False)
    conn.start()
    conn.wait_connected(10)
    end = time.time() + seconds
    due = time.monotonic()
    while time.time() < end:
        for cam in cameras:
            ts = str(int(time.time() * 1e3))
            conn.publish(f"grid/elevator/{cam}/frame", frame, qos=0, user_properties={"ts": ts})
        due += 1.0 / fps
        time.sleep(max(0.0, due - time.monotonic()))
    conn.stop()


def thread_cpu(tid: int) -> float:
    text = Path(f"/proc/self/task/{tid}/stat").read_text()
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def offered(worker: EdgeWorker, url: str, cameras: list[str], fps: float, seconds: float,
            frame: bytes) -> dict[str, float]:
    """Run a publisher process; judged frames/s, slot skips and detector-thread CPU over its run."""
    assert worker.elevator is not None and worker.elevator._thread is not None
    tid = worker.elevator._thread.native_id
    assert tid is not None
    before, cpu0, t0 = worker.snapshot()["elevator"], thread_cpu(tid), time.perf_counter()
    proc0 = cpu_seconds(os.getpid())
    proc = multiprocessing.get_context("spawn").Process(target=publish_process, args=(url, cameras, fps, seconds,
                                                                                      frame))
    proc.start()
    proc.join()
    time.sleep(0.5)  # the last frames
    after, cpu, wall = worker.snapshot()["elevator"], thread_cpu(tid) - cpu0, time.perf_counter() - t0
    judged = after["judged"] - before["judged"]
    process_cpu = cpu_seconds(os.getpid()) - proc0
    return {"process_cpu": process_cpu,
            "offered": after["frames_in"] - before["frames_in"], "judged": judged, "wall": wall, "cpu": cpu,
            "skipped": after["skipped"] - before["skipped"], "fps": judged / wall,
            "per_core": judged / cpu if cpu else float("nan"), "stages": after["stage_ms_median"]}


def latency(worker: EdgeWorker, url: str, receiver: Receiver, cameras: int, raises: int,
            bike: bytes, grey: bytes) -> None:
    conn = MqttConnection(MqttConfig(url=url), "bench-latency", persistent=False)
    conn.start()
    conn.wait_connected(10)
    holds: list[tuple[float, str]] = []  # (arrival, elevator) of each hold_door, as the elevator box gets it
    box = MqttConnection(MqttConfig(url=url), "bench-box", subscriptions=["grid/elevator/+/command"],
                         on_message=lambda m: holds.append((m.received_at, m.topic.split("/")[2]))
                         if json.loads(m.payload).get("action") == "hold_door" else None, persistent=False)
    box.start()
    box.wait_subscribed(10)
    first_bike: dict[str, list[float]] = {f"lat-{i}": [] for i in range(cameras)}
    stop = threading.Event()

    def camera(eid: str, offset: float) -> None:
        time.sleep(offset)
        start = time.time()
        while not stop.is_set():
            phase_bike = int((time.time() - start) // 3) % 2 == 0
            ts = time.time()
            if phase_bike and (not first_bike[eid] or ts - first_bike[eid][-1] > 3.5):
                first_bike[eid].append(ts)
            conn.publish(f"grid/elevator/{eid}/frame", bike if phase_bike else grey, qos=0,
                         user_properties={"ts": str(int(ts * 1e3))})
            stop.wait(0.2)

    threads = [threading.Thread(target=camera, args=(eid, i * 0.7), daemon=True) for i, eid in enumerate(first_bike)]
    for t in threads:
        t.start()

    def raised() -> list[tuple[float, dict]]:
        return [(t, a) for t, a in receiver.alerts
                if a["type"] == "elevator.ebike" and a["state"] == "active" and a["revision"] == 1
                and a["subject"] in first_bike]

    deadline = time.time() + 30 + raises * 8 / cameras
    while len(raised()) < raises and time.time() < deadline:
        time.sleep(0.2)
    stop.set()
    for t in threads:
        t.join()
    conn.stop()
    box.stop()
    to_hold = []
    for arrival, eid in holds:  # the first e-bike frame of the cycle that this hold answered
        starts = [s for s in first_bike.get(eid, []) if s <= arrival]
        if starts and arrival - starts[-1] < 3.0:
            to_hold.append(arrival - starts[-1])
    deciding, from_first = [], []
    for arrival, alert in raised():
        frame_ts = parse_ts(alert["evidence"]["frame_ts"]).timestamp()
        deciding.append(arrival - frame_ts)
        starts = [s for s in first_bike[alert["subject"]] if s <= frame_ts + 1e-3]
        if starts:
            from_first.append(arrival - starts[-1])
    print(f"## Latency: {cameras} cameras at 5 fps, 3 s e-bike / 3 s grey, {len(deciding)} raises\n")
    print("| from | p50 ms | p99 ms | max ms |\n|---|---|---|---|")
    for name, values in (("deciding frame ts -> POST at the receiver", deciding),
                         ("first e-bike frame ts -> POST (includes M-of-K frames)", from_first),
                         ("first e-bike frame ts -> hold_door at the elevator box", to_hold)):
        arr = np.asarray(values) * 1e3
        if len(arr):
            print(f"| {name} | {np.percentile(arr, 50):.0f} | {np.percentile(arr, 99):.0f} | {arr.max():.0f} |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cameras", type=int, default=4, help="cameras of the latency run")
    parser.add_argument("--raises", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    os.environ.setdefault("GRIDWATCH_TOKEN", "bench")
    logging.basicConfig(level=logging.ERROR)  # the raises and releases would flood the tables
    bike, grey = jpegs()
    with tempfile.TemporaryDirectory() as tmp:
        broker = Mosquitto(Path(tmp) / "mosquitto").start()
        receiver = Receiver()
        config = EdgeConfig.model_validate({
            "edge_id": "bench-edge", "mqtt": {"url": broker.url}, "dispatch": {"url": receiver.url},
            "state_dir": str(Path(tmp) / "edge"), "health_listen": None,
            "elevator": {"camera_silent_s": 3600, "flywheel": {"enabled": False}, "ebike": {"clear_after_frames": 5},
                         "evidence": {"clip_before_s": 1, "clip_after_s": 1}},
        })
        worker = EdgeWorker(config, Registry())
        worker.start()
        worker.mqtt.wait_subscribed(10)
        try:
            print(f"`{' '.join([Path(sys.executable).name, *sys.argv])}`; {os.cpu_count()} cores, "
                  f"load average {os.getloadavg()[0]:.1f}, 1280x720 JPEG {len(bike) // 1024} KiB\n")
            cap = offered(worker, broker.url, [f"cap-{i}" for i in range(4)], 30.0, args.seconds, bike)
            print("## Capacity: 4 cameras offered 30 fps each (e-bike frames), 1 ONNX Runtime thread\n")
            print("| offered | judged | judged/s | detector CPU s | frames per CPU-second (one core) | worker process"
                  " CPU s | skipped |")
            print("|---|---|---|---|---|---|---|")
            print(f"| {cap['offered']} | {cap['judged']} | {cap['fps']:.1f} | {cap['cpu']:.1f} | "
                  f"{cap['per_core']:.1f} | {cap['process_cpu']:.1f} | {cap['skipped']} |")
            print(f"\nstage medians (ms): {cap['stages']}\n")
            latency(worker, broker.url, receiver, args.cameras, args.raises, bike, grey)
            n = max(1, int(cap["per_core"] // 5))
            check = offered(worker, broker.url, [f"chk-{i}" for i in range(n)], 5.0, args.seconds, bike)
            print(f"## Check: {n} cameras at 5 fps (= frames per core / 5) for {args.seconds:g} s\n")
            print("| offered | judged | judged/s | detector CPU s (share of a core) | worker process CPU s"
                  " | skipped (share) |")
            print("|---|---|---|---|---|---|")
            share = check["skipped"] / max(check["offered"], 1)
            print(f"| {check['offered']} | {check['judged']} | {check['fps']:.1f} | {check['cpu']:.1f} "
                  f"({check['cpu'] / check['wall']:.0%}) | {check['process_cpu']:.1f} | {check['skipped']} "
                  f"({share:.1%}) |")
            memory = memory_mb(os.getpid())
            print(f"\nmemory of the process (the edge worker with {n} cameras' slots, the model, clip buffers): "
                  f"RSS {memory['VmRSS']:.0f} MB, peak {memory['VmHWM']:.0f} MB")
        finally:
            worker.stop()
            receiver.stop()
            broker.stop()


if __name__ == "__main__":
    main()

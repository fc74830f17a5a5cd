"""What the Prometheus metrics cost: `.venv/bin/python bench/metrics_scrape.py [--cameras 0 256 2000]`.

1. One histogram observation as the edge makes it per MQTT message and per frame stage (µs).
2. One edge scrape (`/metrics` body built from the worker's status) for an edge with N cameras, the label cap at
   its default (256): milliseconds to build, bytes, series. Past the cap the size stops growing.
3. One dispatch scrape over HTTP from a real dispatch app (uvicorn in a thread, empty SQLite store): p50/p95 ms.

The edge's status here is a synthetic one of the worker's shape (`EdgeWorker.snapshot`): the scrape's cost is in
turning it into series, not in reading the counters.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from dispatch.config import DispatchConfig
from dispatch.server import start_in_thread
from edge.metrics import BoundedLabels, Timings, edge_registry
from ingest.registry import Registry

CAP = 256


def edge_status(cameras: int) -> dict[str, Any]:
    ids = [f"el-{i:04d}" for i in range(cameras)]
    return {
        "edge_id": "edge-0", "messages": 10_000, "readings": 9_990, "outcomes": {"accepted": 9_900, "duplicate": 90},
        "meters": 3_000, "unknown_meters": 2, "dead_letters": {"not JSON": 4, "ts": 6}, "alert_changes": 41,
        "checkpoints": 500, "queue": 0, "watermark": "2026-12-01T10:00:00+00:00",
        "outbox": {"pending_http": 0, "pending_mqtt": 0, "oldest_pending_http_s": None, "oldest_pending_mqtt_s": None,
                   "rejected": 0},
        "sender": {"sent": 41, "retries": 0, "published": 41, "publish_failures": 0, "outage_since": None},
        "mqtt_connected": True,
        "elevator": {
            "alert_changes": 3, "judged": 50_000, "raises": 2, "clears": 2, "decode_errors": 0, "internal_errors": 0,
            "bad_ts": 0, "cameras": {eid: {"silent_s": 0.2, "offline": False, "heard": True, "frames": 1000,
                                           "skipped": 3} for eid in ids},
            "linkage": {"held": {}, "commands": {"hold_door": 2}, "watchdog_releases": 0, "max_hold_releases": 0,
                        "restart_releases": 0},
        },
    }


def observe_cost() -> float:
    child = Timings().messages["water_reading"]
    n = 200_000
    return min(timeit.repeat(lambda: child.observe(0.0004), number=n, repeat=5)) / n * 1e6


def edge_scrape(cameras: int) -> tuple[float, int, int]:
    status = edge_status(cameras)
    registry, _ = edge_registry(lambda: status, lambda: True, BoundedLabels(status["elevator"]["cameras"], CAP))
    body = generate_latest(registry)
    runs = [timeit.timeit(lambda: generate_latest(registry), number=1) for _ in range(30)]
    series = sum(len(f.samples) for f in text_string_to_metric_families(body.decode()))
    return statistics.median(runs) * 1e3, len(body), series


def dispatch_scrape() -> tuple[float, float, int]:
    os.environ.setdefault("GRIDWATCH_TOKEN", "bench-edge")
    os.environ.setdefault("GRIDWATCH_OPERATOR_TOKEN", "bench-operator")
    with tempfile.TemporaryDirectory() as tmp:
        handle = start_in_thread(DispatchConfig(listen="127.0.0.1:0", state_dir=Path(tmp)), Registry())
        try:
            with httpx.Client(base_url=handle.url) as client:
                times = []
                for _ in range(200):
                    t0 = time.perf_counter()
                    body = client.get("/metrics").raise_for_status().content
                    times.append(time.perf_counter() - t0)
        finally:
            handle.stop()
    times.sort()
    return times[len(times) // 2] * 1e3, times[int(len(times) * 0.95)] * 1e3, len(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cameras", type=int, nargs="+", default=[0, 256, 2000])
    args = parser.parse_args()
    print(f"histogram observe (bound child, best of 5 x 200k): {observe_cost():.2f} µs\n")
    print(f"| edge cameras | build /metrics ms (median of 30) | bytes | samples | (label cap {CAP}) |")
    print("|---|---|---|---|---|")
    for cameras in args.cameras:
        ms, size, series = edge_scrape(cameras)
        print(f"| {cameras} | {ms:.2f} | {size:,} | {series} | |")
    p50, p95, size = dispatch_scrape()
    print(f"\ndispatch GET /metrics over HTTP (empty store, 200 requests): p50 {p50:.2f} ms, p95 {p95:.2f} ms, "
          f"{size:,} bytes")


if __name__ == "__main__":
    main()

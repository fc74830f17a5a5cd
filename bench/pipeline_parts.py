"""Parts of the pipeline benchmark: a dispatch endpoint, an edge worker process, a publisher.

The edge runs as `python -m edge.cli edge --config ...` in its own process, as in production,
so its CPU time and memory can be read from /proc without the benchmark's own cost in them.
"""

from __future__ import annotations

import bisect
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from dispatch.app import STORE_FILE
from dispatch.config import DispatchConfig
from dispatch.server import ServerHandle, start_in_thread
from edge.broker import free_port
from edge.config import load_registry
from ingest.topics import Topics
from ingest.wire.timestamps import parse_ts
from simulators.water.model import SimMessage
from simulators.water.publish import MqttPublisher

ROOT = Path(__file__).resolve().parents[1]
TOKENS = {"GRIDWATCH_TOKEN": "edge-token-bench", "GRIDWATCH_OPERATOR_TOKEN": "operator-token-bench"}


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str, every_s: float = 0.05) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(every_s)


def start_dispatch(state_dir: Path, registry_path: Path) -> ServerHandle:
    os.environ.update(TOKENS)  # the dispatch app reads its tokens from the environment
    config = DispatchConfig(listen="127.0.0.1:0", state_dir=state_dir)
    return start_in_thread(config, load_registry(registry_path))


@dataclass(frozen=True)
class Arrival:
    """One alert change as dispatch stored it."""

    alert: dict
    received_at: float  # wall clock at dispatch


def dispatch_arrivals(state_dir: Path) -> list[Arrival]:
    """Every change in the dispatch store, read from its SQLite file (WAL: readers do not block)."""
    conn = sqlite3.connect(f"file:{state_dir / STORE_FILE}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT payload, received_at FROM alert_changes ORDER BY id").fetchall()
    finally:
        conn.close()
    return [Arrival(json.loads(payload), received_at) for payload, received_at in rows]


def write_edge_config(folder: Path, name: str, broker_url: str, dispatch_alerts_url: str, registry: Path,
                      timeseries: str = "sqlite", allowed_lateness_s: float = 0.0,
                      max_inflight: int | None = None) -> Path:
    config = {
        "edge_id": name,
        "mqtt": {"url": broker_url, "reconnect_max_s": 1.0,
                 **({"max_inflight": max_inflight} if max_inflight else {})},
        "dispatch": {"url": dispatch_alerts_url, "retry_max_s": 1.0},
        "registry": str(registry),
        "state_dir": str(folder / f"{name}-state"),
        "health_listen": f"127.0.0.1:{free_port()}",
        "timeseries": {"kind": timeseries},
        # Event time only: the benchmark's wall-clock pauses must not move the watermark.
        # allowed_lateness_s: a batch spans batch x interval of event time; the fleet watermark
        # must trail by that much or every other meter looks offline until its batch arrives.
        "water": {"idle_advance_s": 86400.0, "allowed_lateness_s": allowed_lateness_s},
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


class EdgeProcess:
    """`python -m edge.cli edge --config ...` as a child process with its /status."""

    def __init__(self, config_path: Path, log_path: Path) -> None:
        self.config_path = config_path
        self.log_path = log_path
        self.health = "http://" + yaml.safe_load(config_path.read_text())["health_listen"]
        self.process: subprocess.Popen[bytes] | None = None
        self.client = httpx.Client(timeout=5)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def launch(self) -> EdgeProcess:
        """Start the process; returns at once (the worker connects and drains on its own)."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "edge.cli", "edge", "--config", str(self.config_path)],
                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **TOKENS}, cwd=ROOT,
            )
        return self

    def wait_healthy(self, timeout_s: float = 30.0) -> EdgeProcess:
        wait_for(self.healthy, timeout_s, "the edge worker to be healthy")
        return self

    def healthy(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"the edge worker exited with {self.process.returncode}; see {self.log_path}")
        try:
            return self.client.get(f"{self.health}/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    def status(self) -> dict:
        """The worker's /status (JSON counters); {} while it does not answer."""
        try:
            return self.client.get(f"{self.health}/status").json()
        except (httpx.HTTPError, json.JSONDecodeError):
            return {}

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # graceful: checkpoint and ack what it took
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.client.close()


def wait_subscribed(edge: EdgeProcess, broker_url: str, topics: Topics) -> int:
    """Prove that the edge's subscription is in place: a probe (rejected by the edge as a bad
    away notice, so no rule state changes) must show up in its message count. Returns the
    number of probes sent."""
    before = edge.status().get("messages", 0)
    publisher = MqttPublisher(broker_url, f"bench-probe-{free_port()}")
    sent = 0
    try:
        deadline = time.monotonic() + 20
        while edge.status().get("messages", 0) <= before:
            if time.monotonic() > deadline:
                raise TimeoutError("the edge did not receive the probe: not subscribed")
            publisher.publish(topics.water_away("bench-probe"), b"{}")
            sent += 1
            publisher.flush(5)
            time.sleep(0.1)
        return sent
    finally:
        publisher.close()


@dataclass
class Published:
    """Publish wall times of messages, for matching alert changes to what caused them."""

    event_s: list[float] = field(default_factory=list)  # running max of the messages' event time
    wall: list[float] = field(default_factory=list)
    by_meter: dict[str, tuple[list[float], list[float]]] = field(default_factory=dict)  # same, per meter

    def add(self, meter: str, event_s: float, wall: float) -> None:
        self.event_s.append(max(event_s, self.event_s[-1]) if self.event_s else event_s)
        self.wall.append(wall)
        events, walls = self.by_meter.setdefault(meter, ([], []))
        events.append(max(event_s, events[-1]) if events else event_s)
        walls.append(wall)

    def first_at_or_after(self, event_s: float, meter: str | None = None) -> float | None:
        """Wall time the first message (of `meter`, or of any) with event time >= event_s was published."""
        events, walls = self.by_meter.get(meter, ([], [])) if meter else (self.event_s, self.wall)
        i = bisect.bisect_left(events, event_s)
        return walls[i] if i < len(walls) else None


def publish_all(broker_url: str, messages: Sequence[SimMessage], topics: Topics,
                readings_per_s: float | None = None) -> tuple[Published, float]:
    """Publish QoS 1 in order, at once or paced to `readings_per_s`; returns the times and the
    wall seconds until the broker acknowledged the last message."""
    publisher = MqttPublisher(broker_url, f"bench-pub-{free_port()}")
    published = Published()
    sent = 0
    started = time.monotonic()
    try:
        for message in messages:
            if readings_per_s:
                ahead = started + sent / readings_per_s - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
            topic = (topics.water_away(message.meter) if message.topic_kind == "away"
                     else topics.water_reading(message.meter))
            publisher.publish(topic, message.payload)
            published.add(message.meter, message.event_time.timestamp(), time.time())
            sent += _readings_in(message)
        if not publisher.flush(120):
            raise TimeoutError("the broker did not acknowledge every message")
        return published, time.monotonic() - started
    finally:
        publisher.close()


def _readings_in(message: SimMessage) -> int:
    if message.topic_kind != "reading":
        return 0
    return message.payload.count(b'"ts"') or 1


# Raised when the fleet watermark passes a deadline, not by the meter's own reading: the
# message that can cause them carries event time >= deadline + the allowed lateness.
WATERMARK_DRIVEN = ("water.no_usage", "water.meter_offline")


def latencies(arrivals: list[Arrival], published: Published, lateness_s: float = 0.0) -> tuple[list[float], int]:
    """Seconds from the publish of the first message that could cause each raise or clear to
    its arrival at dispatch: the subject meter's own first message carrying the change's event
    time, or for a watermark deadline any meter's first message past deadline + lateness.
    Updates (same raised_at, higher severity) carry no event time of their own and are
    skipped. Returns (latencies, changes skipped)."""
    out, skipped = [], 0
    for arrival in arrivals:
        alert = arrival.alert
        meter: str | None = alert["subject"]
        if alert["state"] == "cleared":
            at = parse_ts(alert["cleared_at"]).timestamp()
        elif (alert.get("revision") or 1) == 1:
            at = parse_ts(alert["raised_at"]).timestamp()
            if alert["type"] in WATERMARK_DRIVEN:
                at, meter = at + lateness_s, None
        else:
            skipped += 1
            continue
        sent = published.first_at_or_after(at, meter)
        if sent is None:
            skipped += 1
            continue
        out.append(arrival.received_at - sent)
    return out, skipped


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]

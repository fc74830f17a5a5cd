"""End-to-end harness: a dispatch endpoint, edge workers in-process or as real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from dispatch.config import DispatchConfig
from dispatch.server import ServerHandle, start_in_thread
from edge.broker import free_port
from edge.config import WaterRulesConfig, load_edge_config, load_registry
from edge.evaluation.replay import replay
from edge.worker import EdgeWorker
from ingest.config import MqttConfig
from ingest.mqtt_client import MqttConnection
from rules.episode import AlertChange

EDGE_TOKEN = "edge-token-e2e"
OPERATOR_TOKEN = "operator-token-e2e"
TOKENS = {"GRIDWATCH_TOKEN": EDGE_TOKEN, "GRIDWATCH_OPERATOR_TOKEN": OPERATOR_TOKEN}


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str, every_s: float = 0.1) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(every_s)


@dataclass
class Dispatch:
    state_dir: Path
    registry_path: Path
    port: int
    handle: ServerHandle | None = None

    def start(self) -> Dispatch:
        config = DispatchConfig(listen=f"127.0.0.1:{self.port}", state_dir=self.state_dir)
        self.handle = start_in_thread(config, load_registry(self.registry_path))
        return self

    def stop(self) -> None:
        if self.handle:
            self.handle.stop()
            self.handle = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def changes(self) -> list[dict]:
        """Every change dispatch stored, from its API, as an operator sees it."""
        headers = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=10) as client:
            listing = client.get("/api/v1/alerts", params={"limit": 1000}).raise_for_status().json()
            out = []
            for item in listing["alerts"]:
                detail = client.get(f"/api/v1/alerts/{item['id']}").raise_for_status().json()
                out += [change["alert"] for change in detail["history"]]
            return out


def change_identity(alert: dict) -> tuple:
    return (alert["id"], alert["state"], alert["severity"], alert.get("revision"))


def assert_none_twice(changes: list[dict]) -> None:
    counts = Counter(change_identity(c) for c in changes)
    twice = {k: n for k, n in counts.items() if n > 1}
    assert not twice, f"changes stored more than once: {twice}"


def reference_changes(readings, registry_path: Path, away=()) -> list[AlertChange]:
    """What an edge that never stopped computes on the same clean readings."""
    return replay(readings, WaterRulesConfig().thresholds_for(load_registry(registry_path)), away)


def write_edge_config(folder: Path, broker_url: str, dispatch_url: str, registry: Path, **extra) -> Path:
    config = {
        "edge_id": "edge-e2e",
        "mqtt": {"url": broker_url, "reconnect_max_s": 1.0},
        "dispatch": {"url": f"{dispatch_url}/api/v1/alerts", "retry_max_s": 1.0},
        "registry": str(registry),
        "state_dir": str(folder / "edge-state"),
        "health_listen": f"127.0.0.1:{free_port()}",
        # Event time only: a test's wall-clock pauses must not move the watermark.
        "water": {"idle_advance_s": 86400.0},
        **extra,
    }
    path = folder / "edge.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


class EdgeProcess:
    """`gridwatch edge --config ...` as a real process, so that kill -9 is real."""

    def __init__(self, config_path: Path, log_path: Path) -> None:
        self.config_path = config_path
        self.log_path = log_path
        self.health = "http://" + yaml.safe_load(config_path.read_text())["health_listen"]
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> EdgeProcess:
        env = {**os.environ, **TOKENS}
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "edge", "--config", str(self.config_path)],
            stdout=log, stderr=subprocess.STDOUT, env=env,
        )
        wait_for(self.healthy, 30, "the edge worker to be healthy")
        return self

    def status(self) -> dict:
        """The worker's /status (JSON counters); {} while it does not answer."""
        try:
            return httpx.get(f"{self.health}/status", timeout=2).json()
        except (httpx.HTTPError, json.JSONDecodeError):
            return {}

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.health}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> int:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            return self.process.wait(timeout=30)
        return self.process.returncode if self.process else 0


def reference_from_messages(messages, registry_path: Path, indices: list[int] | None = None) -> list[AlertChange]:
    """The changes an edge that never stopped computes from these messages in this order; `indices`, when
    given, gets the index of each message that caused at least one change."""
    from datetime import UTC, datetime

    from ingest.decode import Rejected, decode_away, decode_readings
    from rules.water import WaterRules

    rules = WaterRules(WaterRulesConfig().thresholds_for(load_registry(registry_path)))
    now = datetime.now(UTC)
    earliest = datetime(2000, 1, 1, tzinfo=UTC)
    changes: list[AlertChange] = []
    newest = None
    for i, message in enumerate(messages):
        before = len(changes)
        try:
            if message.topic_kind == "away":
                changes += rules.on_away(decode_away(message.meter, message.payload, now))
                continue
            decoded = decode_readings(message.meter, message.payload, now, max_future_skew_s=300, earliest=earliest)
        except Rejected:
            continue
        finally:
            if indices is not None and len(changes) > before:
                indices.append(i)
        for reading in decoded.readings:
            if newest is not None:
                changes += rules.advance(newest)
            changes += rules.on_reading(reading).changes
            newest = reading.ts if newest is None or reading.ts > newest else newest
        if indices is not None and len(changes) > before:
            indices.append(i)
    return changes


def deadletter_listener(broker_url: str, letters: list[dict]) -> MqttConnection:
    """Collects what an edge publishes on the dead-letter topic; subscribed when returned."""
    listener = MqttConnection(MqttConfig(url=broker_url), f"e2e-deadletters-{free_port()}",
                              subscriptions=["grid/deadletter/#"], persistent=False,
                              on_message=lambda m: letters.append(json.loads(m.payload)))
    listener.start()
    assert listener.wait_subscribed(10)
    return listener


def start_worker(folder: Path, broker_url: str, dispatch: Dispatch, registry_path: Path) -> EdgeWorker:
    """An edge worker in this process, subscribed before anything is published."""
    config = load_edge_config(write_edge_config(folder, broker_url, dispatch.url, registry_path,
                                                health_listen=None))
    worker = EdgeWorker(config, load_registry(registry_path))
    worker.start()
    assert worker.mqtt.wait_subscribed(10), "the worker must be subscribed before anything is published"
    return worker

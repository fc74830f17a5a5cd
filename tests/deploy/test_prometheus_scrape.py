"""A real Prometheus scrapes a real edge worker and a real dispatch endpoint; the series read back through its
HTTP API are what happened, the camera labels stay within the registered cameras and the cap, and the alert
rules of deploy/prometheus/ load, evaluate and match the series the programs export."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from edge.broker import Mosquitto, free_port
from edge.config import load_edge_config, load_registry
from edge.worker import EdgeWorker
from ingest.config import MqttConfig
from ingest.mqtt_client import MqttConnection
from tests.deploy.prometheus_server import Prometheus, find_prometheus
from tests.e2e.harness import TOKENS, Dispatch, wait_for, write_edge_config
from tests.e2e.test_elevator_e2e import grey_jpeg

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy/prometheus/gridwatch-rules.yaml"
DASHBOARD = ROOT / "deploy/grafana/gridwatch.json"
REGISTRY = """\
grids: [{id: g1, workers: [w1]}]
workers: [{id: w1}]
buildings: [{id: b1, grid: g1}]
meters: [{id: m-1, building: b1}, {id: m-2, building: b1}, {id: m-3, building: b1}]
elevators: [{id: el-1, building: b1}, {id: el-2, building: b1}, {id: el-3, building: b1}]
"""
READINGS = 40
FRAMES = 3  # from el-3 (registered, past the label cap of 2) and el-9 (not registered) each


@pytest.fixture(autouse=True)
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in TOKENS.items():
        monkeypatch.setenv(name, value)


class Site:
    """Dispatch and an edge worker with its health port; no camera but el-3 and el-9 ever sends a frame."""

    def __init__(self, tmp_path: Path, broker_url: str) -> None:
        registry_path = tmp_path / "registry.yaml"
        registry_path.write_text(REGISTRY)
        self.dispatch = Dispatch(tmp_path / "dispatch", registry_path, free_port()).start()
        self.health = f"127.0.0.1:{free_port()}"
        config = load_edge_config(write_edge_config(
            tmp_path, broker_url, self.dispatch.url, registry_path, health_listen=self.health,
            metrics={"max_camera_labels": 2},
            elevator={"camera_silent_s": 1.0, "flywheel": {"enabled": False}},
        ))
        self.worker = EdgeWorker(config, load_registry(registry_path))
        self.worker.start()
        self.edge_running = True
        assert self.worker.mqtt.wait_subscribed(10)

    def stop_edge(self) -> None:
        if self.edge_running:
            self.edge_running = False
            self.worker.stop()


@pytest.fixture
def site(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[Site]:
    site = Site(tmp_path, mosquitto.url)
    try:
        yield site
    finally:
        site.stop_edge()
        site.dispatch.stop()


def publish_traffic(broker_url: str) -> None:
    sender = MqttConnection(MqttConfig(url=broker_url), f"scrape-sender-{free_port()}", persistent=False)
    sender.start()
    assert sender.wait_connected(10)
    try:
        start = int(time.time()) - 3600
        for i in range(READINGS):
            meter = f"m-{i % 3 + 1}"
            payload = {"ts": start + 60 * i, "total_l": 100.0 + i}
            sender.publish(f"grid/water/{meter}/reading", json.dumps(payload).encode(), qos=1)
        sender.publish("grid/water/m-1/reading", b"{not json", qos=1)
        sender.publish("grid/water/m-2/reading", b'{"ts": "yesterday", "total_l": 1}', qos=1)
        frame = grey_jpeg()
        for _ in range(FRAMES):
            for camera in ("el-3", "el-9"):
                sender.publish(f"grid/elevator/{camera}/frame", frame, qos=1)
        sender.flush(10)
    finally:
        sender.stop()


def scraped(prometheus: Prometheus, expr: str, want: float, timeout_s: float = 30) -> dict:
    """Waits until the sum of `expr` over its series is `want`; returns the series."""
    def reached() -> bool:
        return sum(prometheus.query(expr).values()) == want
    wait_for(reached, timeout_s, f"prometheus to scrape {expr} == {want} (now {prometheus.query(expr)})", 0.25)
    return prometheus.query(expr)


def rule_exprs() -> dict[str, str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["alert"]: rule["expr"] for group in groups for rule in group["rules"]}


def names_in(text: str) -> set[str]:
    return set(re.findall(r"\bgridwatch_[a-z_]+\b", text))


def test_prometheus_scrapes_the_edge_and_dispatch(tmp_path: Path, mosquitto: Mosquitto, site: Site) -> None:
    if find_prometheus() is None:
        pytest.fail("prometheus is not installed: run the README's set-up")
    worker, dispatch, health = site.worker, site.dispatch, site.health
    publish_traffic(mosquitto.url)
    wait_for(lambda: worker.stats.readings == READINGS, 20, "the edge to judge every reading")
    # No camera sends a frame after the first ones: after camera_silent_s each registered one raises
    # elevator.camera_offline (el-1, el-2 and el-3; el-9, heard but unregistered, raises none: SECURITY.md),
    # which goes through the outbox to dispatch.
    wait_for(lambda: (o := worker.outbox.stats())["delivered_http"] >= 3 and o["pending_http"] == 0, 20,
             "the camera_offline alerts at dispatch")
    delivered = worker.outbox.stats()["delivered_http"]

    prometheus = Prometheus(tmp_path / "prometheus", {"gridwatch-edge": [health],
                                                      "gridwatch-dispatch": [f"127.0.0.1:{dispatch.port}"]}, [RULES])
    try:
        assert scraped(prometheus, "up", 2) == {(("instance", health), ("job", "gridwatch-edge")): 1.0,
                                               (("instance", f"127.0.0.1:{dispatch.port}"),
                                                ("job", "gridwatch-dispatch")): 1.0}
        scraped(prometheus, "gridwatch_readings_total", READINGS)
        reasons = scraped(prometheus, "gridwatch_dead_letters_total", 2 + 1)  # + el-9 reported once as unknown
        assert {dict(k)["reason"] for k in reasons} >= {"not JSON", "ts"}, reasons

        # Camera labels: the registered cameras within the cap, the rest summed as _other.
        silent = prometheus.query("gridwatch_camera_silent_seconds")
        assert {dict(k)["camera"] for k in silent} == {"el-1", "el-2"}, silent
        assert all(value > 1.0 for value in silent.values())
        frames = scraped(prometheus, "gridwatch_elevator_frames_total", 2 * FRAMES)
        assert {dict(k)["camera"]: v for k, v in frames.items()} == {"el-1": 0, "el-2": 0, "_other": 2 * FRAMES}
        assert sum(prometheus.query("gridwatch_camera_offline").values()) == 2
        assert sum(prometheus.query("gridwatch_cameras_offline").values()) == 3  # el-3 too, unlabelled

        # Alert changes reached dispatch, both sides count them, and the latency histograms have them.
        scraped(prometheus, 'gridwatch_dispatch_alert_changes_total{outcome="stored"}', delivered)
        assert sum(prometheus.query('gridwatch_alert_deliveries_total{sink="http"}').values()) == delivered
        assert sum(prometheus.query('gridwatch_alert_delivery_seconds_count{sink="http"}').values()) == delivered
        posts = prometheus.query('gridwatch_http_request_seconds_count{route="/api/v1/alerts", method="POST"}')
        assert sum(posts.values()) == delivered, posts
        assert sum(prometheus.query("gridwatch_edge_message_seconds_count").values()) == READINGS + 2
        assert sum(prometheus.query("gridwatch_outbox_pending").values()) == 0

        # Every series the rules and the dashboard read is one the programs export.
        exported = set(prometheus.api("label/__name__/values"))
        for source, text in (("rules", RULES.read_text()), ("dashboard", DASHBOARD.read_text())):
            missing = names_in(text) - exported
            assert not missing, f"the {source} read series nobody exports: {missing}"

        # Every dashboard query is PromQL Prometheus accepts, and those of the edge panels find series.
        scrapes = "count_over_time(gridwatch_readings_total[1m])"
        wait_for(lambda: min(prometheus.query(scrapes).values(), default=0) >= 2, 15,
                 "two scrapes of the edge (a rate needs them)", 0.25)
        for panel in json.loads(DASHBOARD.read_text())["panels"]:
            for target in panel.get("targets", []):
                expr = target["expr"].replace("$__rate_interval", "1m").replace("$edge", ".*")
                result = prometheus.api("query", query=expr)  # raises on a bad query
                if "gridwatch_readings_total" in expr or "gridwatch_outbox_pending" in expr:
                    assert result["result"], (panel["title"], expr)

        # The rules load and evaluate without error; healthy, none of the edge's fires.
        wait_for(lambda: all(g["rules"] and all(r.get("lastEvaluation", "").startswith("20") for r in g["rules"])
                             for g in prometheus.api("rules")["groups"]), 10, "a rule evaluation")
        rules = [r for g in prometheus.api("rules")["groups"] for r in g["rules"]]
        assert {r["name"] for r in rules} == set(rule_exprs())
        assert all(r["health"] == "ok" for r in rules), [(r["name"], r.get("lastError")) for r in rules]
        exprs = rule_exprs()
        assert prometheus.query(exprs["GridwatchEdgeDown"]) == {}
        assert prometheus.query(exprs["GridwatchOutboxBacklog"]) == {}
        assert {dict(k)["camera"] for k in prometheus.query('gridwatch_camera_silent_seconds > 0')} == {"el-1", "el-2"}

        # The edge goes away: the next scrape fails and the EdgeDown rule's expression names it.
        site.stop_edge()
        wait_for(lambda: prometheus.query(exprs["GridwatchEdgeDown"]) != {}, 15, "the edge to be seen down")
        assert {dict(k)["instance"] for k in prometheus.query(exprs["GridwatchEdgeDown"])} == {health}
    finally:
        prometheus.stop()

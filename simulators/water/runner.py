"""Run a scenario over MQTT: `run` for a time-compressed batch, `run_live` for the demo."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.topics import Topics
from simulators.water.model import ScenarioSpec, SimMessage
from simulators.water.publish import MqttPublisher, Outgoing, Pacer, Publisher, publish_paced
from simulators.water.scenario import Scenario, generate

FLUSH_TIMEOUT_S = 60.0


@dataclass
class RunReport:
    summary: dict[str, Any]
    published: int
    wall_s: float
    delivered: bool  # every message acknowledged by the broker
    stopped: bool = False
    scenario: Scenario | None = field(default=None, repr=False)

    def line(self) -> str:
        s = self.summary
        events = ", ".join(f"{k} {v}" for k, v in s.get("events", {}).items()) or "none"
        return (f"published {self.published}/{s['messages']} messages ({s['readings']} readings, "
                f"{s['malformed']} malformed) in {self.wall_s:.2f} s; events: {events}"
                + ("" if self.delivered else "; NOT all acknowledged by the broker")
                + ("; stopped early" if self.stopped else ""))


def outgoing(messages: list[SimMessage], topics: Topics) -> Iterator[Outgoing]:
    for m in messages:
        topic = topics.water_away(m.meter) if m.topic_kind == "away" else topics.water_reading(m.meter)
        yield Outgoing(topic, m.payload, m.send_time)


def run(spec: ScenarioSpec, mqtt_url: str, topic_prefix: str = "grid", speed: float | None = None,
        out_dir: Path | None = None, *, publisher: Publisher | None = None,
        connect_timeout: float = 10.0) -> RunReport:
    """Generate the scenario, write its truth to `out_dir`, publish it at `speed` (None: at once)."""
    scenario = generate(spec)
    if out_dir is not None:
        scenario.write(out_dir)
    own = publisher is None
    pub = publisher or MqttPublisher(mqtt_url, f"gridwatch-sim-water-{spec.seed}-{time.time_ns() % 10**6}",
                                     connect_timeout)
    try:
        stats = publish_paced(outgoing(scenario.messages, Topics(topic_prefix)), pub, Pacer(speed))
        delivered = pub.flush(FLUSH_TIMEOUT_S)
        stats.wall_s = time.monotonic() - stats.started  # until the broker acknowledged the last one
    finally:
        if own:
            pub.close()
    return RunReport(scenario.summary(), stats.published, stats.wall_s, delivered, stats.stopped, scenario)


def run_live(spec: ScenarioSpec, mqtt_url: str, speed: float | None, stop_event: threading.Event,
             topic_prefix: str = "grid", future_days: float = 30.0, out_dir: Path | None = None,
             *, publisher: Publisher | None = None, connect_timeout: float = 10.0) -> RunReport:
    """For the demo: replay the last `spec.days` (events included) compressed at `speed`, then
    keep the meters reporting in real time for up to `future_days`, until `stop_event` is set.

    Event time never runs ahead of the wall clock, so the edge's future-skew check holds.
    """
    scenario = generate(spec, total_days=spec.days + future_days)
    if out_dir is not None:
        scenario.write(out_dir)
    own = publisher is None
    pub = publisher or MqttPublisher(mqtt_url, f"gridwatch-sim-water-live-{spec.seed}", connect_timeout)
    try:
        pacer = Pacer(speed, realtime_cap=True, stop_event=stop_event)
        stats = publish_paced(outgoing(scenario.messages, Topics(topic_prefix)), pub, pacer)
        delivered = pub.flush(5.0 if stats.stopped else FLUSH_TIMEOUT_S)
        stats.wall_s = time.monotonic() - stats.started
    finally:
        if own:
            pub.close()
    return RunReport(scenario.summary(), stats.published, stats.wall_s, delivered, stats.stopped, scenario)

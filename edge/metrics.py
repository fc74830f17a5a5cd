"""Prometheus metrics of an edge worker: `/metrics` in the text format.

Counters and gauges are read from the worker's status (`EdgeWorker.snapshot`, also served as JSON on
/status) when Prometheus scrapes: the hot path keeps its plain integer counters and pays nothing. Latency
histograms (`Timings`) are observed where the work is done, about 2 µs each (measured here).

Label values are bounded: a camera label is one of the registered cameras, at most `max_camera_labels`
of them; any other camera is counted under `camera="_other"`. Dead-letter reasons are categories (the
part before the first ':'), capped the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

OTHER = "_other"
STAGES = ("decode", "detect", "score", "rule", "total")
DOOR_ACTIONS = ("hold_door", "release_door", "announce")  # the command contract's actions, exported from 0
MAX_REASON_LABELS = 32
# Seconds: one message or frame stage (sub-millisecond to a slow detector) ...
STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# ... and an alert's way out (an HTTP round trip to minutes of a dispatch outage).
DELIVERY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)


class BoundedLabels:
    """Maps a value to itself when it is allowed, else to `_other`: a series per allowed value, no more."""

    def __init__(self, allowed: Iterable[str], cap: int) -> None:
        self.allowed = frozenset(sorted(set(allowed))[:cap])

    def __call__(self, value: str) -> str:
        return value if value in self.allowed else OTHER

    def fold(self, values: Mapping[str, float]) -> dict[str, float]:
        """Sums the values of labels outside the allowed set under `_other`."""
        out: dict[str, float] = {}
        for key, value in values.items():
            label = self(key)
            out[label] = out.get(label, 0) + value
        return out


def capped(values: Mapping[str, float], cap: int = MAX_REASON_LABELS) -> dict[str, float]:
    """The `cap` largest entries, the rest summed under `_other` (for open-ended categories)."""
    top = sorted(values, key=lambda k: (-values[k], k))[:cap]
    return BoundedLabels(top, cap).fold(values)


class Timings:
    """The edge's latency histograms. Unregistered (registry None) they still observe: nothing to check."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        def histogram(name: str, doc: str, labels: tuple[str, ...] = (), buckets: tuple[float, ...] = STAGE_BUCKETS):
            return Histogram(name, doc, labels, buckets=buckets, registry=registry)

        self.message = histogram("gridwatch_edge_message_seconds",
                                 "Decoding and the water rules for one MQTT message, by kind", ("kind",))
        self.checkpoint = histogram("gridwatch_edge_checkpoint_seconds",
                                    "One checkpoint: rule state and alert changes committed, messages acknowledged")
        self.elevator_stage = histogram("gridwatch_elevator_stage_seconds",
                                        "One camera frame by stage: decode, detect, score, rule, total", ("stage",))
        self.ebike_alert = histogram("gridwatch_elevator_alert_latency_seconds",
                                     "From the frame's timestamp to its e-bike alert durable in the outbox",
                                     buckets=DELIVERY_BUCKETS)
        self.dispatch_request = histogram("gridwatch_edge_dispatch_post_seconds",
                                          "One POST of an alert change to dispatch, answered 2xx",
                                          buckets=DELIVERY_BUCKETS)
        self.delivery = histogram("gridwatch_alert_delivery_seconds",
                                  "An alert change from the outbox to delivered, by sink (http: dispatch 2xx; mqtt:"
                                  " published), outages included", ("sink",), buckets=DELIVERY_BUCKETS)
        # Bound children: .labels() costs as much again as the observation.
        self.messages = {kind: self.message.labels(kind) for kind in ("water_reading", "water_away", "other")}
        self.stages = {name: self.elevator_stage.labels(name) for name in STAGES}
        self.delivered = {sink: self.delivery.labels(sink) for sink in ("http", "mqtt")}

    def message_of(self, kind: str | None) -> Any:
        """The histogram child of a route kind; anything the water rules do not take is `other`."""
        return self.messages.get(kind or "other") or self.messages["other"]


class EdgeCollector(Collector):
    """Counters and gauges from the worker's status, read at scrape time."""

    def __init__(self, status: Callable[[], dict[str, Any]], healthy: Callable[[], bool],
                 cameras: BoundedLabels) -> None:
        self.status = status
        self.healthy = healthy
        self.cameras = cameras

    def collect(self) -> Iterator[Metric]:
        s = self.status()
        yield _gauge("gridwatch_edge_info", "The edge worker, by edge_id (always 1)", 1, edge_id=s["edge_id"])
        yield _gauge("gridwatch_edge_healthy", "1 while /healthz answers 200", int(self.healthy()))
        yield _gauge("gridwatch_mqtt_connected", "1 while connected to the broker", int(s["mqtt_connected"]))
        yield _counter("gridwatch_mqtt_messages", "MQTT messages taken by the rules thread", s["messages"])
        yield _counter("gridwatch_readings", "Water readings judged by the rules", s["readings"])
        yield _labelled(CounterMetricFamily, "gridwatch_reading_outcomes", "Water readings by outcome",
                        "outcome", s["outcomes"])
        yield _labelled(CounterMetricFamily, "gridwatch_dead_letters",
                        "Rejected payloads sent to the dead-letter topic, by reason category", "reason",
                        capped(s["dead_letters"]))
        yield _gauge("gridwatch_meters", "Meters with rule state on this edge", s["meters"])
        yield _gauge("gridwatch_unknown_meters", "Meters heard from that the registry does not list",
                     s["unknown_meters"])
        yield _counter("gridwatch_edge_checkpoints", "Checkpoints committed", s["checkpoints"])
        yield _gauge("gridwatch_edge_queue_messages", "Messages waiting for the rules thread", s["queue"])
        mark = s["watermark"]
        yield _gauge("gridwatch_watermark_timestamp_seconds", "The fleet watermark (event time), epoch seconds",
                     datetime.fromisoformat(mark).timestamp() if mark else float("nan"))
        elevator = s["elevator"] or {}
        yield _labelled(CounterMetricFamily, "gridwatch_alert_changes", "Alert changes put in the outbox, by source",
                        "source", {"water": s["alert_changes"], "elevator": elevator.get("alert_changes", 0)})
        yield from _outbox(s["outbox"], s["sender"])
        if elevator:
            yield from self._elevator(elevator)

    def _elevator(self, e: dict[str, Any]) -> Iterator[Metric]:
        cameras: dict[str, dict[str, Any]] = e["cameras"]
        frames = self.cameras.fold({eid: c.get("frames", 0) for eid, c in cameras.items()})
        skipped = self.cameras.fold({eid: c.get("skipped", 0) for eid, c in cameras.items()})
        yield _labelled(CounterMetricFamily, "gridwatch_elevator_frames", "Camera frames received, by camera",
                        "camera", frames)
        yield _labelled(CounterMetricFamily, "gridwatch_elevator_frames_skipped",
                        "Frames replaced in the latest-frame slot before the detector took them, by camera",
                        "camera", skipped)
        listed = {eid: c for eid, c in cameras.items() if self.cameras(eid) != OTHER and "silent_s" in c}
        yield _labelled(GaugeMetricFamily, "gridwatch_camera_silent_seconds",
                        "Seconds since the camera's last frame (registered cameras)", "camera",
                        {eid: c["silent_s"] for eid, c in listed.items()})
        yield _labelled(GaugeMetricFamily, "gridwatch_camera_offline",
                        "1 while the camera's elevator.camera_offline alert is open (registered cameras)", "camera",
                        {eid: int(bool(c["offline"])) for eid, c in listed.items()})
        yield _gauge("gridwatch_cameras_offline", "Cameras with an open camera_offline alert, all of them",
                     sum(1 for c in cameras.values() if c.get("offline")))
        yield _counter("gridwatch_elevator_frames_judged", "Frames judged by the detector", e["judged"])
        yield _labelled(CounterMetricFamily, "gridwatch_elevator_ebike_episodes", "E-bike episodes, by change",
                        "change", {"raised": e["raises"], "cleared": e["clears"]})
        yield _labelled(CounterMetricFamily, "gridwatch_elevator_errors", "Frames that failed, by kind", "kind",
                        {"decode": e["decode_errors"], "internal": e["internal_errors"], "bad_ts": e["bad_ts"]})
        linkage = e["linkage"]
        yield _labelled(CounterMetricFamily, "gridwatch_elevator_door_commands", "Door commands sent, by action",
                        "action", dict.fromkeys(DOOR_ACTIONS, 0) | linkage["commands"])
        yield _gauge("gridwatch_elevator_doors_held", "Doors held now", len(linkage["held"]))
        yield _labelled(CounterMetricFamily, "gridwatch_elevator_door_releases",
                        "Doors released by a safety net, by cause", "cause",
                        {"watchdog": linkage["watchdog_releases"], "max_hold": linkage["max_hold_releases"],
                         "restart": linkage["restart_releases"]})


def _outbox(outbox: dict[str, Any], sender: dict[str, Any]) -> Iterator[Metric]:
    yield _labelled(GaugeMetricFamily, "gridwatch_outbox_pending", "Alert changes not yet delivered, by sink",
                    "sink", {"http": outbox["pending_http"], "mqtt": outbox["pending_mqtt"]})
    yield _labelled(GaugeMetricFamily, "gridwatch_outbox_oldest_pending_seconds",
                    "Age of the oldest undelivered alert change, by sink (0: none)", "sink",
                    {"http": outbox["oldest_pending_http_s"] or 0.0, "mqtt": outbox["oldest_pending_mqtt_s"] or 0.0})
    yield _gauge("gridwatch_outbox_rejected", "Alert changes dispatch refused for good (422), kept for operators",
                 outbox["rejected"])
    yield _labelled(CounterMetricFamily, "gridwatch_alert_deliveries", "Alert changes delivered, by sink", "sink",
                    {"http": sender["sent"], "mqtt": sender["published"]})
    yield _labelled(CounterMetricFamily, "gridwatch_alert_delivery_failures",
                    "Failed delivery attempts (retried with backoff), by sink", "sink",
                    {"http": sender["retries"], "mqtt": sender["publish_failures"]})
    since = sender["outage_since"]
    yield _gauge("gridwatch_edge_dispatch_outage_seconds", "Seconds since dispatch stopped answering (0: it answers)",
                 0.0 if since is None else max(0.0, time.time() - since))


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def _gauge(name: str, doc: str, value: float, **labels: str) -> GaugeMetricFamily:
    if not labels:
        return GaugeMetricFamily(name, doc, value=value)
    family = GaugeMetricFamily(name, doc, labels=list(labels))
    family.add_metric(list(labels.values()), value)
    return family


def _labelled(kind: type[CounterMetricFamily] | type[GaugeMetricFamily], name: str, doc: str, label: str,
              values: Mapping[str, float]) -> Metric:
    family = kind(name, doc, labels=[label])
    for key in sorted(values):
        family.add_metric([key], values[key])
    return family


def edge_registry(status: Callable[[], dict[str, Any]], healthy: Callable[[], bool], cameras: BoundedLabels,
                  ) -> tuple[CollectorRegistry, Timings]:
    """A registry of its own per worker (tests and the demo run several in one process)."""
    registry = CollectorRegistry()  # no auto-describe: it would read the status before the worker runs
    timings = Timings(registry)
    registry.register(EdgeCollector(status, healthy, cameras))
    return registry, timings

"""Results of the pipeline benchmark and their tables (Markdown, to paste into bench/README.md)."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class DrainResult:
    batch: int
    messages: int
    readings: int  # taken by the worker within the timed window
    scenario_readings: int
    publish_s: float
    drain_s: float
    worker_cpu_s: float
    broker_cpu_s: float
    bench_cpu_s: float  # this process: the dispatch endpoint and the /status polling
    idle_cpu_s: float  # cores x wall - busy CPU of the whole machine: was the other core free?
    steal_s: float  # CPU the hypervisor gave to other guests
    alert_changes: int
    checkpoints: int
    dispatched_after_s: float  # from the drain's start to the last change stored at dispatch
    rss_mb: float
    hwm_mb: float
    paho: dict[str, float] | None = None  # the same drain by paho alone (bench/paho_drain.py)

    @property
    def rate(self) -> float:
        return self.readings / self.drain_s

    @property
    def per_cpu(self) -> float:
        return self.readings / self.worker_cpu_s if self.worker_cpu_s else math.nan


@dataclass
class PacedResult:
    batch: int
    rate: float
    readings: int
    changes: int
    matched: int
    p50_ms: float
    p99_ms: float
    max_ms: float


def _row(cells: list[object]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _table(head: list[str], rows: list[list[object]]) -> list[str]:
    return [_row(head), "|" + "---:|" * len(head), *(_row(r) for r in rows)]


def drain_tables(results: list[DrainResult], meters: int) -> str:
    lines = ["Drain of a pre-loaded persistent session (the worker alone):", ""]
    lines += _table(
        ["batch", "messages", "readings", "drain s", "readings/s", "worker CPU s", "readings/CPU-s",
         "alert changes", "checkpoints", "last alert at dispatch s", "RSS MB", "peak RSS MB"],
        [[r.batch, f"{r.messages:,}", f"{r.readings:,}", f"{r.drain_s:.2f}", f"{r.rate:,.0f}",
          f"{r.worker_cpu_s:.2f}", f"{r.per_cpu:,.0f}", r.alert_changes, r.checkpoints,
          f"{r.dispatched_after_s:.2f}", f"{r.rss_mb:.0f}", f"{r.hwm_mb:.0f}"] for r in results],
    )
    lines += ["", "CPU seconds over the same windows (machine idle: cores x drain s - all busy CPU; "
              "per-process and machine counters tick separately, so they add up to within a few %):", ""]
    lines += _table(
        ["batch", "publish s (before)", "drain s", "worker", "mosquitto", "bench (dispatch)", "machine idle",
         "steal"],
        [[r.batch, f"{r.publish_s:.1f}", f"{r.drain_s:.2f}", f"{r.worker_cpu_s:.2f}", f"{r.broker_cpu_s:.2f}",
          f"{r.bench_cpu_s:.2f}", f"{r.idle_cpu_s:.2f}", f"{r.steal_s:.2f}"] for r in results],
    )
    lines.append(f"({meters} meters; readings are counted from the first /status sample that saw a message)")
    baselines = [r for r in results if r.paho]
    if baselines:
        lines += ["", "The same messages drained by paho alone (manual ack in the callback, nothing else):", ""]
        rows = []
        for r in baselines:
            assert r.paho is not None
            per_msg = r.scenario_readings / r.messages
            rate, per_cpu = r.paho["messages"] / r.paho["wall_s"], r.paho["messages"] / r.paho["cpu_s"]
            rows.append([r.batch, f"{rate:,.0f}", f"{rate * per_msg:,.0f}", f"{per_cpu:,.0f}",
                         f"{per_cpu * per_msg:,.0f}"])
        lines += _table(["batch", "messages/s", "readings/s", "messages/CPU-s", "readings/CPU-s"], rows)
    return "\n".join(lines)


def paced_table(results: list[PacedResult]) -> str:
    lines = ["Paced run, alert latency (publish of the causing message -> stored at dispatch):", ""]
    lines += _table(
        ["batch", "readings/s offered", "readings", "alert changes", "timed", "p50 ms", "p99 ms", "max ms"],
        [[r.batch, f"{r.rate:,.0f}", f"{r.readings:,}", r.changes, r.matched, f"{r.p50_ms:.0f}",
          f"{r.p99_ms:.0f}", f"{r.max_ms:.0f}"] for r in results],
    )
    return "\n".join(lines)

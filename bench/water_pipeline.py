"""Readings per second per core from MQTT to dispatched alert: Mosquitto, an edge worker
process, a dispatch endpoint; single readings and batches.

    .venv/bin/python bench/water_pipeline.py [--meters 1000 --days 1 --batch 1 10 100]
        [--paced-rate 2000 --paced-meters 100 --paced-days 2] [--profile DIR] [--timeseries sqlite|none]

Per batch size, two runs on one Mosquitto:
1. drain: the edge starts once to create its persistent session and stops; the whole scenario
   is published into that session; the edge starts again and the drain is timed from /status.
   This measures the worker alone, not the publisher. CPU seconds of the worker process come
   from /proc (utime + stime), so "readings per CPU-second" is per core.
2. paced: a fresh edge is live while a smaller scenario is published at a fixed reading rate;
   each raise and clear is matched to the first published message carrying its event time,
   and its latency is dispatch's received_at minus that publish time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.pipeline_parts import (  # noqa: E402
    EdgeProcess,
    dispatch_arrivals,
    latencies,
    percentile,
    publish_all,
    start_dispatch,
    wait_for,
    wait_subscribed,
    write_edge_config,
)
from bench.pipeline_report import DrainResult, PacedResult, drain_tables, paced_table  # noqa: E402
from bench.procstat import cpu_seconds, machine_cpu, memory_mb  # noqa: E402
from edge.broker import Mosquitto  # noqa: E402
from ingest.topics import Topics  # noqa: E402
from simulators.water.scenario import Scenario, ScenarioSpec, generate  # noqa: E402

POLL_S = 0.2


@dataclass(frozen=True)
class Sample:
    """/status of the worker and CPU seconds of everything, at one moment."""

    at: float  # time.monotonic()
    readings: int
    worker: float
    broker: float
    bench: float
    machine: dict[str, float]

    @classmethod
    def take(cls, metrics: dict, worker_pid: int, broker_pid: int) -> Sample:
        return cls(time.monotonic(), metrics.get("readings", 0), cpu_seconds(worker_pid), cpu_seconds(broker_pid),
                   time.process_time(), machine_cpu())


def _scenario(meters: int, days: float, batch: int, seed: int, events: bool = True) -> Scenario:
    return generate(ScenarioSpec(meters=meters, days=days, interval_min=15, seed=seed, faults=False,
                                 events=events, batch=batch))


def lateness_for(scenario: Scenario) -> float:
    """The edge's water.allowed_lateness_s for this scenario: the event time one batch spans."""
    spec = scenario.spec
    return 0.0 if spec.batch == 1 else spec.batch * spec.interval_min * 60.0


@dataclass(frozen=True)
class Options:
    timeseries: str = "sqlite"
    max_inflight: int | None = None
    profile_dir: Path | None = None
    profile_mode: str = "gil"  # gil: who holds the GIL; wall: every thread, idle included
    baseline: bool = True  # drain the same messages with paho alone first


def drain_run(work: Path, broker: Mosquitto, scenario: Scenario, opts: Options) -> DrainResult:
    batch = scenario.spec.batch
    registry = work / f"registry-{batch}.yaml"
    scenario.write(work / f"scenario-{batch}")
    shutil.copy(work / f"scenario-{batch}" / "registry.yaml", registry)
    dispatch_dir = work / f"dispatch-drain-{batch}"
    dispatch = start_dispatch(dispatch_dir, registry)
    topics = Topics()
    config = write_edge_config(work, f"drain-{batch}", broker.url, dispatch.alerts_url, registry, opts.timeseries,
                               lateness_for(scenario), opts.max_inflight)
    edge = EdgeProcess(config, work / f"drain-{batch}.log")
    profiler: subprocess.Popen[bytes] | None = None
    try:
        # 1. create the persistent session and its subscription, then go away
        edge.launch().wait_healthy()
        wait_subscribed(edge, broker.url, topics)
        edge.stop()
        baseline_id = f"bench-paho-{batch}"
        if opts.baseline:
            _paho_drain(broker.url, baseline_id, "--subscribe")
        # 2. fill the session(s): the broker holds every message for the edge (and the baseline)
        _, publish_s = publish_all(broker.url, scenario.messages, topics)
        paho = _paho_drain(broker.url, baseline_id, "--expect", str(len(scenario.messages))) if opts.baseline else None
        # 3. start the edge and time the drain
        edge = EdgeProcess(config, work / f"drain-{batch}.log")
        edge.launch()
        if opts.profile_dir is not None:
            profiler = _start_profiler(edge.pid, opts.profile_dir / f"edge-batch{batch}-{opts.profile_mode}.txt",
                                       opts.profile_mode)
        assert broker.process is not None
        start: Sample | None = None
        while True:
            m = edge.status()
            if start is None and m.get("messages", 0) > 0:
                start = Sample.take(m, edge.pid, broker.process.pid)
            if m.get("readings", 0) >= len(scenario.clean) and m.get("queue", 1) == 0:
                end = Sample.take(m, edge.pid, broker.process.pid)
                break
            if edge.process.poll() is not None:
                raise RuntimeError(f"the edge worker exited; see {edge.log_path}")
            time.sleep(POLL_S)
        assert start is not None
        memory = memory_mb(edge.pid)
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
            profiler.wait(timeout=60)
        wait_for(lambda: edge.status().get("outbox", {}).get("pending_http", 1) == 0, 120,
                 "the outbox to drain into dispatch")
        final = edge.status()
        arrivals = dispatch_arrivals(dispatch_dir)
        last = max((a.received_at for a in arrivals), default=None)
        wall_at_start = time.time() - (time.monotonic() - start.at)
        worker, broker_cpu, bench = end.worker - start.worker, end.broker - start.broker, end.bench - start.bench
        return DrainResult(
            batch=batch, messages=len(scenario.messages), readings=end.readings - start.readings,
            scenario_readings=len(scenario.clean), publish_s=publish_s, drain_s=end.at - start.at,
            worker_cpu_s=worker, broker_cpu_s=broker_cpu, bench_cpu_s=bench,
            idle_cpu_s=(os.cpu_count() or 1) * (end.at - start.at) - (end.machine["busy"] - start.machine["busy"]),
            steal_s=end.machine["steal"] - start.machine["steal"], alert_changes=final.get("alert_changes", 0),
            checkpoints=final.get("checkpoints", 0),
            dispatched_after_s=(last - wall_at_start) if last else float("nan"),
            rss_mb=memory.get("VmRSS", 0.0), hwm_mb=memory.get("VmHWM", 0.0), paho=paho,
        )
    finally:
        if profiler is not None and profiler.poll() is None:
            profiler.kill()
        edge.stop()
        dispatch.stop()


def paced_run(work: Path, broker: Mosquitto, scenario: Scenario, rate: float, opts: Options) -> PacedResult:
    batch = scenario.spec.batch
    folder = work / f"paced-{batch}"
    scenario.write(folder)
    registry = folder / "registry.yaml"
    dispatch_dir = work / f"dispatch-paced-{batch}"
    dispatch = start_dispatch(dispatch_dir, registry)
    topics = Topics()
    edge = EdgeProcess(write_edge_config(work, f"paced-{batch}", broker.url, dispatch.alerts_url, registry,
                                         opts.timeseries, lateness_for(scenario), opts.max_inflight),
                       work / f"paced-{batch}.log")
    try:
        edge.launch().wait_healthy()
        probes = wait_subscribed(edge, broker.url, topics)
        published, _ = publish_all(broker.url, scenario.messages, topics, readings_per_s=rate)
        total = len(scenario.messages) + probes
        wait_for(lambda: edge.status().get("messages", 0) >= total, 120, "the edge to take every message")
        wait_for(lambda: (m := edge.status()).get("queue", 1) == 0
                 and m.get("outbox", {}).get("pending_http", 1) == 0, 120, "the outbox to drain")
        arrivals = dispatch_arrivals(dispatch_dir)
    finally:
        edge.stop()
        dispatch.stop()
    seconds, _skipped = latencies(arrivals, published, lateness_for(scenario))
    ms = [s * 1000 for s in seconds]
    return PacedResult(batch, rate, len(scenario.clean), len(arrivals), len(ms), percentile(ms, 50),
                       percentile(ms, 99), max(ms, default=float("nan")))


def _paho_drain(url: str, client_id: str, *args: str) -> dict[str, float] | None:
    done = subprocess.run([sys.executable, str(Path(__file__).with_name("paho_drain.py")), url, client_id, *args],
                          capture_output=True, text=True, timeout=600, check=True)
    return json.loads(done.stdout) if done.stdout.strip() else None


def _start_profiler(pid: int, out: Path, mode: str) -> subprocess.Popen[bytes]:
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy (profiling only)")
    out.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([str(spy), "record", "--pid", str(pid), "--format", "raw", "--threads",
                             "--rate", "200", "--gil" if mode == "gil" else "--idle", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=(out.with_suffix(".log")).open("wb"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meters", type=int, default=1000)
    parser.add_argument("--days", type=float, default=1.0)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--paced-rate", type=float, default=2000.0, help="readings/s offered in the paced run")
    parser.add_argument("--paced-meters", type=int, default=100)
    parser.add_argument("--paced-days", type=float, default=2.0)
    parser.add_argument("--no-events", action="store_true",
                        help="no injected events: far fewer alerts, so fewer checkpoints")
    parser.add_argument("--no-baseline", action="store_true", help="skip the paho-alone drain")
    parser.add_argument("--no-paced", action="store_true", help="skip the latency runs")
    parser.add_argument("--timeseries", choices=("sqlite", "none"), default="sqlite",
                        help="the edge's time-series store (sqlite: the default of edge.yaml)")
    parser.add_argument("--max-inflight", type=int,
                        help="the edge's mqtt.max_inflight (default 1000); it checkpoints at least every "
                        "max_inflight/2 messages")
    parser.add_argument("--profile", type=Path, help="py-spy record the worker during each drain into DIR")
    parser.add_argument("--profile-mode", choices=("gil", "wall"), default="gil",
                        help="gil: samples of the thread holding the GIL (CPU in Python); wall: every thread, "
                        "idle included (where each thread waits)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (logs, stores)")
    args = parser.parse_args(argv)

    load = os.getloadavg()
    opts = Options(args.timeseries, args.max_inflight, args.profile, args.profile_mode, not args.no_baseline)
    work = Path(tempfile.mkdtemp(prefix="gridwatch-bench-"))
    broker = Mosquitto(work / "mosquitto").start()
    drains: list[DrainResult] = []
    paced: list[PacedResult] = []
    try:
        for batch in args.batch:
            scenario = _scenario(args.meters, args.days, batch, args.seed, not args.no_events)
            print(f"batch {batch}: {len(scenario.messages):,} messages, {len(scenario.clean):,} readings; draining",
                  flush=True)
            drains.append(drain_run(work, broker, scenario, opts))
            r = drains[-1]
            print(f"  {r.rate:,.0f} readings/s, {r.per_cpu:,.0f} readings per worker CPU-second", flush=True)
            if not args.no_paced:
                small = _scenario(args.paced_meters, args.paced_days, batch, args.seed, not args.no_events)
                paced.append(paced_run(work, broker, small, args.paced_rate, opts))
                p = paced[-1]
                print(f"  paced: p50 {p.p50_ms:.0f} ms, p99 {p.p99_ms:.0f} ms over {p.matched} changes",
                      flush=True)
    finally:
        broker.stop()
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\n{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, load average before: {load[0]:.2f}\n")
    print(drain_tables(drains, args.meters))
    if paced:
        print()
        print(paced_table(paced))
    if args.profile:
        print(f"\nprofiles (py-spy raw, collapsed stacks): {args.profile}; summarise with "
              f".venv/bin/python bench/profile_summary.py {args.profile}/edge-batch1-{args.profile_mode}.txt")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

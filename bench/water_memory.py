"""Memory per meter: the water rules' state in memory and persisted, and a registry entry.

    .venv/bin/python bench/water_memory.py [--meters 10000 100000 --days 1 --interval-min 60]

For each fleet size, in this process: every meter gets `days` of readings (household-like
use, meters interleaved in time order, readings made one at a time so none pile up), then
- RSS: growth of the resident memory of a fresh process over the feeding (includes the
  allocator's slack: what a worker really pays);
- traced: bytes held by the WaterRules object (the rules' state, the episode book, the offline
  heap) by tracemalloc over a second feeding, divided by the meters (fleets up to --trace-max);
- persisted: the JSON the edge writes per meter at a checkpoint (WaterRules.dirty()), its
  size and the time to build and encode it (the edge does this for each dirty meter);
- registry: tracemalloc bytes per meter of a validated Registry (the worker holds it too).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.procstat import memory_mb  # noqa: E402
from ingest.registry import Registry  # noqa: E402
from ingest.wire.water import Reading  # noqa: E402
from rules.water import WaterRules  # noqa: E402
from rules.water.thresholds import WaterThresholds  # noqa: E402

T0 = datetime(2024, 3, 4, tzinfo=UTC)


def readings(meters: int, days: float, interval_min: float, seed: int = 7) -> Iterator[Reading]:
    """Time order, meters interleaved; about 200 L a day per meter, mostly in the daytime."""
    rng = random.Random(seed)
    totals = [rng.uniform(0, 1e5) for _ in range(meters)]
    per_hour = 60.0 / interval_min
    for k in range(int(days * 24 * per_hour)):
        hour = int(k / per_hour) % 24
        chance = (0.15 if 7 <= hour <= 22 else 0.02) * 4 / per_hour
        base = T0 + timedelta(minutes=interval_min * k)
        for m in range(meters):
            if rng.random() < chance:
                totals[m] += rng.choice((6.0, 9.0, 15.0, 40.0))
            yield Reading(f"m{m:06d}", base + timedelta(seconds=m % 60), round(totals[m], 1))


def registry_bytes(meters: int) -> float:
    """tracemalloc bytes per meter of a validated Registry of `meters` meters in 4-meter buildings."""
    buildings = [{"id": f"b{b}", "name": f"Building {b}", "grid": "g1"} for b in range((meters + 3) // 4)]
    rows = [{"id": f"m{m:06d}", "building": f"b{m // 4}", "household": f"h{m}", "profile": "elderly_alone"}
            for m in range(meters)]
    raw = {"grids": [{"id": "g1", "name": "Grid 1", "workers": ["w1"], "leader": "w1"}],
           "workers": [{"id": "w1", "name": "Worker 1"}], "buildings": buildings, "meters": rows}
    gc.collect()
    tracemalloc.start()
    registry = Registry.model_validate(raw)
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del registry, raw
    return held / meters


def feed(meters: int, days: float, interval_min: float) -> tuple[WaterRules, int, float]:
    thresholds = WaterThresholds()
    rules = WaterRules(lambda _m: thresholds)
    count = 0
    started = time.perf_counter()
    for reading in readings(meters, days, interval_min):
        rules.on_reading(reading)
        count += 1
    return rules, count, time.perf_counter() - started


def measure(meters: int, days: float, interval_min: float, trace: bool) -> dict[str, float]:
    """In a fresh process (see main): RSS growth of a first feeding, then tracemalloc of a second."""
    gc.collect()
    rss0 = memory_mb(os.getpid())["VmRSS"]
    rules, count, feed_s = feed(meters, days, interval_min)
    gc.collect()
    rss1 = memory_mb(os.getpid())["VmRSS"]
    traced = float("nan")
    if trace:
        del rules
        gc.collect()
        tracemalloc.start()
        rules, _, _ = feed(meters, days, interval_min)
        gc.collect()
        traced = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
    started = time.perf_counter()
    states = rules.dirty()
    build_s = time.perf_counter() - started
    started = time.perf_counter()
    sizes = sorted(len(json.dumps(s, separators=(",", ":"))) for s in states.values())  # as EdgeStore does
    encode_s = time.perf_counter() - started
    return {
        "meters": meters, "readings": count, "feed_s": feed_s,
        "traced_b": traced / meters, "rss_b": (rss1 - rss0) * 1024 * 1024 / meters,
        "json_mean": sum(sizes) / len(sizes), "json_p50": sizes[len(sizes) // 2], "json_max": sizes[-1],
        "build_us": build_s / len(states) * 1e6, "encode_us": encode_s / len(states) * 1e6,
        "registry_b": registry_bytes(meters),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meters", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--days", type=float, default=1.0)
    parser.add_argument("--interval-min", type=float, default=60.0,
                        help="reporting interval (60: the offline rule's default)")
    parser.add_argument("--trace-max", type=int, default=20_000,
                        help="tracemalloc (slow) only for fleets up to this size; RSS growth for all")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:  # one fleet size in a fresh process: RSS growth is not hidden by freed memory
        meters = args.meters[0]
        print(json.dumps(measure(meters, args.days, args.interval_min, meters <= args.trace_max)))
        return 0
    print(f"{time.strftime('%Y-%m-%d %H:%M')}: {args.days:g} day(s) of readings every {args.interval_min:g} min "
          "per meter\n")
    print("| meters | readings | feed s (with making the readings) | readings/s | rules, traced B/meter "
          "| RSS growth B/meter | state JSON B/meter (mean, p50, max) | state build + JSON µs/meter "
          "| registry B/meter |")
    print("|" + "---:|" * 9)
    for meters in args.meters:
        child = subprocess.run(
            [sys.executable, __file__, "--child", "--meters", str(meters), "--days", str(args.days),
             "--interval-min", str(args.interval_min), "--trace-max", str(args.trace_max)],
            capture_output=True, text=True, check=True)
        r = json.loads(child.stdout)
        traced = "–" if r["traced_b"] != r["traced_b"] else f"{r['traced_b']:,.0f}"  # NaN: not traced
        print(f"| {meters:,} | {r['readings']:,} | {r['feed_s']:.1f} | {r['readings'] / r['feed_s']:,.0f} | "
              f"{traced} | {r['rss_b']:,.0f} | {r['json_mean']:,.0f}, {r['json_p50']:,}, "
              f"{r['json_max']:,} | {r['build_us']:.1f} + {r['encode_us']:.1f} | {r['registry_b']:,.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

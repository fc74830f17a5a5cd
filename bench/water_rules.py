"""Throughput of the water rules alone, one core: `.venv/bin/python bench/water_rules.py [meters] [days]`.

1000 meters x 1 week of 15-min readings through on_reading on one core, readings built beforehand
(the rules are timed, not the builder); then advance() with 100k meters.
"""

from __future__ import annotations

import gc
import json
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingest.wire.water import Reading  # noqa: E402
from rules.water import WaterRules  # noqa: E402
from rules.water.thresholds import WaterThresholds  # noqa: E402

T0 = datetime(2024, 3, 4, 0, 0, tzinfo=UTC)  # as tests/rules/water_helpers.py


def fleet(meters: int, days: int, seed: int = 7) -> list[Reading]:
    rng = random.Random(seed)
    steps = days * 96
    per_meter = []
    for m in range(meters):
        total, series = rng.uniform(0, 1e5), []
        for k in range(steps):
            hour = (k // 4) % 24
            busy = 7 <= hour <= 22
            if rng.random() < (0.15 if busy else 0.02):  # about 200 L a day
                total += rng.choice((6.0, 9.0, 15.0, 40.0))
            series.append(Reading(f"m{m:05d}", T0 + timedelta(minutes=15 * k, seconds=m % 60), round(total, 1)))
        per_meter.append(series)
    return [r for k in range(steps) for r in (s[k] for s in per_meter)]  # time order, meters interleaved


def main() -> None:
    meters = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    days = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    thresholds = WaterThresholds()
    readings = fleet(meters, days)
    rules = WaterRules(lambda _m: thresholds)
    changes = 0
    started = time.perf_counter()
    for reading in readings:
        changes += len(rules.on_reading(reading).changes)
    elapsed = time.perf_counter() - started
    print(f"on_reading: {len(readings)} readings of {meters} meters in {elapsed:.2f} s: "
          f"{len(readings) / elapsed:,.0f} readings/s ({changes} changes)")
    # The readings list (millions of objects) is the benchmark's, not the worker's: free it, or a
    # full garbage collection scanning it lands inside dirty()'s timing.
    del readings
    gc.collect()
    started = time.perf_counter()
    states = rules.dirty()
    blob = json.dumps(states)
    print(f"dirty(): {len(states)} meters, {len(blob) / len(states):,.0f} B JSON per meter, "
          f"{time.perf_counter() - started:.2f} s")

    big = WaterRules(lambda _m: thresholds)
    for i in range(100_000):
        big.on_reading(Reading(f"b{i}", T0 + timedelta(seconds=i % 900), 10.0))
        big.on_reading(Reading(f"b{i}", T0 + timedelta(seconds=900 + i % 900), 12.0))
    calls = 10_000
    started = time.perf_counter()
    for k in range(calls):
        big.advance(T0 + timedelta(seconds=1800 + k * 0.1))
    per_call = (time.perf_counter() - started) / calls
    started = time.perf_counter()
    fired = big.advance(T0 + timedelta(hours=4))
    print(f"advance(): 100k meters, {per_call * 1e6:.1f} us per call with nothing due; "
          f"{len(fired)} deadlines due at once in {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()

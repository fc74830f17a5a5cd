"""Throughput of the water rules: `.venv/bin/python -m tests.rules.bench_water_rules [meters] [days]`.

1000 meters x 1 week of 15-min readings through on_reading on one core, readings built beforehand
(the rules are timed, not the builder); then advance() with 100k meters.
"""

from __future__ import annotations

import json
import random
import sys
import time
from datetime import timedelta

from ingest.wire.water import Reading
from rules.water import WaterRules
from rules.water.thresholds import WaterThresholds
from tests.rules.water_helpers import T0


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

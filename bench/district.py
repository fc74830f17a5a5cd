"""A district's capacity, measured here and extrapolated: `.venv/bin/python bench/district.py [--quick]`.

1. Alert changes through PostgreSQL (a real server started here, fsync and synchronous_commit on):
   1 and 2 dispatch replicas (each a DispatchService on its own PostgresStore, its own thread)
   storing new alerts; per replica: rate and latency of one change (routed, dispatched, timers,
   feed events, NOTIFY, one commit).
2. Feed fan-out to 200 screens across 2 replicas: 100 subscriptions on each replica's FeedHub; alerts
   stored through replica A at a steady pace; commit -> every screen, per replica (A hears its own
   commit, B hears it by LISTEN/NOTIFY). In process: no HTTP (tests/e2e/test_district.py covers that).
3. Readings per partition: `gridwatch edge` with `partition: {index: 0, count: 3}` as its own
   process, its share drained from its persistent session at a real Mosquitto.
Then a sizing table for 100,000 meters and 2,000 elevators derived from these figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml  # noqa: E402

from dispatch.feed import FeedHub  # noqa: E402
from dispatch.service import DispatchService  # noqa: E402
from dispatch.sla import SlaConfig  # noqa: E402
from dispatch.store_pg import PostgresStore  # noqa: E402
from edge.broker import Mosquitto, free_port  # noqa: E402
from edge.partition import PartitionConfig, share_of  # noqa: E402
from ingest.registry import Registry  # noqa: E402
from ingest.topics import Topics  # noqa: E402
from tests.dispatch.loop_helpers import loop_registry, make_alert  # noqa: E402
from tests.postgres import PostgresServer  # noqa: E402

# From the district test's slice (tests/e2e/test_district.py): 2,000 simulated meters, one day.
CHANGES_PER_METER_DAY = 735 / 2000
# 5-fps cameras one core carries (bench/elevator_pipeline.py, README): 3 on the 2026-12-04 machine, 7 on the one
# before it. Machines differ by 2-3x in this figure: pass your own with --cameras-per-core.
CAMERAS_PER_CORE = 3


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


def store_rate(server: PostgresServer, replicas: int, per_replica: int) -> dict:
    dsn = server.create_database(f"bench_store_{replicas}")
    services = [DispatchService(PostgresStore(dsn), loop_registry(), SlaConfig(), "Asia/Shanghai")
                for _ in range(replicas)]
    latencies: list[list[float]] = [[] for _ in range(replicas)]
    rates = [0.0] * replicas
    barrier = threading.Barrier(replicas)

    def run(i: int) -> None:
        alerts = [make_alert(i * 1_000_000 + n) for n in range(per_replica)]
        barrier.wait()
        started = time.perf_counter()
        for alert in alerts:
            t = time.perf_counter()
            services[i].receive(alert)
            latencies[i].append(time.perf_counter() - t)
        rates[i] = per_replica / (time.perf_counter() - started)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(replicas)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = replicas * per_replica / (time.perf_counter() - started)
    for i in range(replicas):
        print(f"  {replicas} replica(s), replica {i}: {rates[i]:,.0f} new alerts/s, one change p50"
              f" {pct(latencies[i], 0.5):.1f} ms, p95 {pct(latencies[i], 0.95):.1f} ms")
    print(f"  {replicas} replica(s) together: {total:,.0f} new alerts/s")
    for s in services:
        s.store.close()
    return {"total": total}


def feed_fanout(server: PostgresServer, screens: int, alerts: int, rate_per_s: float) -> dict:
    dsn = server.create_database("bench_feed")
    stores = [PostgresStore(dsn), PostgresStore(dsn)]
    committed: dict[int, float] = {}
    arrived: list[list[float]] = [[], []]  # per replica: commit -> screen, seconds

    async def main() -> None:
        hubs = [FeedHub(s, queue_size=5000) for s in stores]
        for hub in hubs:
            await hub.start()
        subs = [(r, hubs[r].subscribe()) for r in (0, 1) for _ in range(screens // 2)]

        async def read(replica: int, sub) -> None:
            seen = 0
            async for chunk in hubs[replica].frames(sub):
                now = time.perf_counter()
                for line in chunk.decode().splitlines():
                    if line.startswith("id: "):
                        seen += 1
                        arrived[replica].append(now - committed.get(int(line[4:]), now))
                if seen >= alerts:
                    return

        readers = [asyncio.create_task(read(r, s)) for r, s in subs]

        def write() -> None:
            for n in range(alerts):
                stores[0].put(make_alert(n))
                committed[stores[0].last_seq()] = time.perf_counter()
                time.sleep(1 / rate_per_s)

        started = time.perf_counter()
        await asyncio.to_thread(write)
        await asyncio.wait_for(asyncio.gather(*readers), 60)
        took = time.perf_counter() - started
        print(f"  {screens} screens ({screens // 2} per replica), {alerts} alerts at {rate_per_s:g}/s:"
              f" {screens * alerts / took:,.0f} screen-events/s delivered")
        for hub in hubs:
            await hub.stop()

    asyncio.run(main())
    for replica, name in ((0, "A (stored it)"), (1, "B (by NOTIFY)")):
        print(f"  commit -> every screen on replica {name}: p50 {pct(arrived[replica], 0.5):.1f} ms,"
              f" p95 {pct(arrived[replica], 0.95):.1f} ms, max {pct(arrived[replica], 1.0):.1f} ms")
    for s in stores:
        s.close()
    return {"p95_ms": max(pct(a, 0.95) for a in arrived)}


def partition_rate(folder: Path, meters: int, hours: int) -> dict:
    from simulators.water.publish import MqttPublisher
    from tests.e2e.harness import EdgeProcess, wait_for, write_edge_config

    os.environ.setdefault("GRIDWATCH_TOKEN", "bench")
    registry = Registry.model_validate({
        "grids": [{"id": "g1"}], "buildings": [{"id": f"b{b}", "grid": "g1"} for b in range(meters // 50)],
        "meters": [{"id": f"m-{i:06d}", "building": f"b{i % (meters // 50)}"} for i in range(meters)]})
    registry_path = folder / "registry.yaml"
    registry_path.write_text(yaml.safe_dump(registry.model_dump(exclude_none=True)))
    partition = PartitionConfig(index=0, count=3)
    own = share_of(partition, registry).meters
    broker = Mosquitto(folder / "mosquitto").start()
    try:
        config = write_edge_config(folder, broker.url, f"http://127.0.0.1:{free_port()}", registry_path,
                                   edge_id="bench-p0", partition=partition.model_dump(), elevator={"enabled": False})
        edge = EdgeProcess(config, folder / "edge.log").start()  # subscribes its session
        edge.stop()
        publisher = MqttPublisher(broker.url, "bench-pub")
        t0 = 1_790_000_000
        for h in range(hours):
            for m in registry.meters:
                publisher.publish(Topics().water_reading(m.id), json.dumps({"ts": t0 + h * 3600,
                                                                            "total_l": 10.0 * h}))
        assert publisher.flush(120)
        publisher.close()
        expected = len(own) * hours
        edge.start()  # returns once healthy: it may have drained part of its queue by then
        first, already = time.perf_counter(), _messages(edge)
        wait_for(lambda: _messages(edge) >= expected, 300, "the partition to drain", every_s=0.05)
        took = time.perf_counter() - first
        edge.stop()
        if already >= expected:
            raise RuntimeError("the partition drained before it reported healthy: give it more hours of readings")
    finally:
        broker.stop()
    rate = (expected - already) / took
    print(f"  partition 0 of 3: {len(own)} of {meters} meters ({len(own) * 2} topics), {expected - already} of"
          f" {expected} readings drained in {took:.1f} s: {rate:,.0f} readings/s (single readings, one process)")
    return {"rate": rate, "topics": len(own) * 2}


def _messages(edge) -> int:
    import httpx

    for path in ("/status", "/metrics"):  # the JSON view (moved to /status where /metrics is Prometheus)
        try:
            response = httpx.get(edge.health + path, timeout=2)
            if response.status_code == 200 and response.headers.get("content-type", "").startswith("application/json"):
                return int(response.json().get("messages", 0))
        except Exception:  # not up yet
            continue
    return 0


def sizing(store: dict, feed: dict, part: dict, cameras_per_core: int = CAMERAS_PER_CORE) -> None:
    meters, elevators = 100_000, 2_000
    print("\nsizing for 100,000 meters and 2,000 elevators (from the figures above):")
    rows = []
    for label, per_s in (("15-min readings, steady", meters / 900), ("a 1-hour backlog replayed in 5 min",
                                                                      meters * 4 / 300)):
        need = max(1, math.ceil(per_s / (0.5 * part["rate"])))
        rows.append((f"edge partitions for {label}", f"{per_s:,.0f} readings/s -> {need} partition(s) at 50 %"
                     f" of {part['rate']:,.0f}/s each"))
    per_partition = math.ceil(meters / 3)
    rows.append(("topics a partition subscribes to (3 partitions)", f"{per_partition * 2:,} (2 per meter); more"
                 " partitions than the rate needs: a restart then stalls a third of the fleet, not all of it"))
    cores = math.ceil(elevators / cameras_per_core)
    rows.append(("elevator cameras at 5 fps", f"{cores} cores of detection ({cameras_per_core} cameras a core):"
                 f" e.g. {math.ceil(cores / 4)} edge boxes of 4 cores, partitioned by building"))
    mean = meters * CHANGES_PER_METER_DAY / 86400
    rows.append(("alert changes, mean", f"{mean:.2f}/s ({meters * CHANGES_PER_METER_DAY:,.0f} a day at the"
                 f" slice's {CHANGES_PER_METER_DAY:.2f} per meter-day); the store takes {store['total']:,.0f}/s"))
    rows.append(("every meter offline at once (100k changes)", f"{meters / store['total']:,.0f} s to store them"
                 " all; writes are serialised, so replicas add availability, not write rate"))
    rows.append(("dispatch replicas", "2 (3 across zones); each serves the feed to its screens"))
    rows.append(("command-center screens", f"dozens: 200 measured, p95 {feed['p95_ms']:.1f} ms commit -> screen"))
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (a minute or so)")
    parser.add_argument("--cameras-per-core", type=int, default=CAMERAS_PER_CORE,
                        help="5-fps cameras one core carries, from bench/elevator_pipeline.py on your machine")
    args = parser.parse_args()
    n, alerts, meters, hours = (300, 100, 3000, 8) if args.quick else (1500, 300, 6000, 12)
    print(f"district bench on {os.cpu_count()} cores")
    server = PostgresServer(durable=True).start()
    try:
        print("1. alert changes through PostgreSQL (fsync on):")
        store = {}
        for replicas in (1, 2):
            store = store_rate(server, replicas, n // replicas)
        print("2. feed fan-out across replicas:")
        feed = feed_fanout(server, 200, alerts, 50.0)
    finally:
        server.stop()
    print("3. readings per partition:")
    with tempfile.TemporaryDirectory() as folder:
        part = partition_rate(Path(folder), meters, hours)
    sizing(store, feed, part, args.cameras_per_core)


if __name__ == "__main__":
    main()

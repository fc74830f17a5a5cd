"""Alert changes dispatch stores per second: `.venv/bin/python bench/dispatch_store.py [alerts]`.

1. In process, one thread (one core): DispatchService.receive for new alerts (each is routed,
   dispatched, given its SLA timers and two feed events, in one fsync'd transaction), then an
   update of each (a severity rise: the assignee is told).
2. Over HTTP: a real dispatch server (uvicorn in a thread), N concurrent edge clients posting
   new alerts; POST latency percentiles and the rate.
Memory: the process's peak RSS at the end. SQLite with synchronous=FULL: the disk's fsync
rate is the ceiling, so say which disk you ran on.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from dispatch.config import DispatchConfig  # noqa: E402
from dispatch.push.config import PushConfig  # noqa: E402
from dispatch.server import start_in_thread  # noqa: E402
from dispatch.service import DispatchService  # noqa: E402
from dispatch.sla import SlaConfig  # noqa: E402
from dispatch.store import SqliteStore  # noqa: E402
from tests.dispatch.loop_helpers import EDGE, OPERATOR, loop_registry, make_alert  # noqa: E402


def quantiles(values: list[float]) -> str:
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000  # noqa: E731
    return f"p50 {pick(0.5):.1f} ms, p95 {pick(0.95):.1f} ms, p99 {pick(0.99):.1f} ms, max {ordered[-1] * 1000:.1f} ms"


def in_process(folder: Path, n: int) -> None:
    service = DispatchService(SqliteStore(folder / "bench.sqlite"), loop_registry(), SlaConfig(), "Asia/Shanghai")
    alerts = [make_alert(i) for i in range(n)]
    started = time.perf_counter()
    for alert in alerts:
        service.receive(alert)
    new_s = time.perf_counter() - started
    raised = [a.model_copy(update={"severity": "critical", "revision": 2}) for a in alerts]
    started = time.perf_counter()
    for alert in raised:
        service.receive(alert)
    update_s = time.perf_counter() - started
    print(f"in process, 1 thread: {n / new_s:,.0f} new alerts/s (routed + dispatched + timers + 2 events each), "
          f"{n / update_s:,.0f} updates/s; {service.store.counts()}")
    service.store.close()


def over_http(folder: Path, n: int, clients: int) -> None:
    os.environ["GRIDWATCH_TOKEN"], os.environ["GRIDWATCH_OPERATOR_TOKEN"] = EDGE, OPERATOR
    config = DispatchConfig(listen="127.0.0.1:0", state_dir=folder / "http", push=PushConfig(enabled=False))
    handle = start_in_thread(config, loop_registry())
    alerts = [make_alert(10_000 + i) for i in range(n)]
    latencies: list[float] = []
    lock = threading.Lock()

    def client(part: list) -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {EDGE}"}, timeout=30) as http:
            for alert in part:
                t0 = time.perf_counter()
                http.post(handle.alerts_url, content=alert.to_json()).raise_for_status()
                with lock:
                    latencies.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=client, args=(alerts[i::clients],)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    handle.stop()
    print(f"over HTTP, {clients} clients: {n / elapsed:,.0f} new alerts/s; POST latency {quantiles(latencies)}")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with tempfile.TemporaryDirectory(prefix="gridwatch-bench-", dir=os.environ.get("BENCH_DIR")) as tmp:
        print(f"store on {tmp} (set BENCH_DIR for another disk); {n} alerts")
        in_process(Path(tmp), n)
        for clients in (1, 4):
            over_http(Path(tmp) / f"c{clients}", n, clients)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()

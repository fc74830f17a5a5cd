"""Feed fan-out: N command-center screens on `GET /api/v1/feed` of a dispatch endpoint in its own
process, while alert changes are POSTed to it.

    .venv/bin/python bench/dispatch_feed.py [--screens 50] [--paced 300 --rate 50] [--burst 1000 --concurrency 4]

Three runs on one dispatch endpoint (`python -m edge.cli dispatch`, SQLite with fsync per change):
1. baseline: `--burst` new alerts POSTed as fast as `--concurrency` clients can, no screen open:
   the POST rate the endpoint sustains alone.
2. paced (latency): the screens connect; `--paced` new alerts at `--rate`/s, one POST at a time.
   Fan-out latency = the time a screen reads the alert's `change` event minus the time its POST
   returned (so it is negative when the event outran the HTTP answer), and minus the time the
   POST was sent. Every screen must get every event (checked).
3. burst: the same as the baseline with the screens listening: the POST rate sustained and the
   time from the last POST's answer until the slowest screen has every event.

The screens are raw asyncio connections in this process (one loop, no HTTP library), so the
parse cost per event is small, but one loop serves all of them: the 50th screen's read time
includes the reads of the 49 before it. Times are time.perf_counter() in this one process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import httpx

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.dispatch_process import GRIDS, DispatchProcess  # noqa: E402
from bench.pipeline_parts import TOKENS, percentile  # noqa: E402
from bench.pipeline_report import _table  # noqa: E402
from bench.procstat import machine_cpu, memory_mb  # noqa: E402
from ingest.wire.alert import Alert, episode_id  # noqa: E402

EDGE_TOKEN, OPERATOR_TOKEN = TOKENS["GRIDWATCH_TOKEN"], TOKENS["GRIDWATCH_OPERATOR_TOKEN"]
ID_LINE = re.compile(rb"^id: (\d+)$")
T = TypeVar("T")


# -- screens ----------------------------------------------------------------------------------------


@dataclass
class Screen:
    """One SSE connection: when each event id arrived; screen 0 also maps ids to alerts."""

    index: int
    seen: dict[int, float] = field(default_factory=dict)  # seq -> perf_counter() at read
    changes: dict[str, int] = field(default_factory=dict)  # alert id -> seq of its first change event
    kinds: dict[str, int] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None
    writer: asyncio.StreamWriter | None = None

    async def open(self, port: int, connected: asyncio.Event) -> None:
        reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        self.writer.write(
            f"GET /api/v1/feed HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {OPERATOR_TOKEN}\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"screen {self.index}: {head.splitlines()[0].decode()}")
        self.task = asyncio.create_task(self._read(reader, connected))

    async def _read(self, reader: asyncio.StreamReader, connected: asyncio.Event) -> None:
        tail = b""
        pending_id = 0
        while data := await reader.read(1 << 16):
            now = time.perf_counter()
            *lines, tail = (tail + data).split(b"\n")  # chunked framing lines pass through harmlessly
            for line in lines:
                if match := ID_LINE.match(line):
                    pending_id = int(match[1])
                    self.seen[pending_id] = now
                elif self.index == 0 and line.startswith(b"data: "):
                    event = json.loads(line[6:])
                    self.kinds[event["kind"]] = self.kinds.get(event["kind"], 0) + 1
                    if event["kind"] == "change":
                        self.changes.setdefault(event["alert"]["id"], pending_id)
                elif line.startswith(b": connected"):
                    connected.set()

    def close(self) -> None:
        if self.task:
            self.task.cancel()
        if self.writer:
            self.writer.close()


async def open_screens(count: int, port: int) -> list[Screen]:
    screens = [Screen(i) for i in range(count)]
    ready = [asyncio.Event() for _ in screens]
    await asyncio.gather(*(s.open(port, e) for s, e in zip(screens, ready, strict=True)))
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in ready)), 10)
    return screens


# -- posting ----------------------------------------------------------------------------------------


def new_alert(n: int, tag: str) -> Alert:
    started = datetime(2026, 3, 1, tzinfo=UTC) + timedelta(seconds=n)
    subject = f"{tag}-m{n}"
    grid = GRIDS[n % len(GRIDS)]
    return Alert(id=episode_id("water.no_usage", subject, started), type="water.no_usage", state="active",
                 severity="warning", subject=subject, building=f"b-{grid}", grid=grid, started_at=started,
                 raised_at=started + timedelta(hours=12), summary=f"no water used for 12 h at {subject}",
                 edge_id="bench", revision=1)


@dataclass(frozen=True)
class Posted:
    alert_id: str
    sent: float
    answered: float


async def post_one(client: httpx.AsyncClient, alert: Alert) -> Posted:
    sent = time.perf_counter()
    response = await client.post("/api/v1/alerts", content=alert.to_json())
    answered = time.perf_counter()
    if response.status_code != 201:
        raise RuntimeError(f"POST answered {response.status_code}: {response.text[:200]}")
    return Posted(alert.id, sent, answered)


def client_for(url: str, concurrency: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {EDGE_TOKEN}"}, limits=limits,
                             timeout=30)


async def burst(url: str, count: int, concurrency: int, tag: str) -> tuple[list[Posted], float]:
    """`count` new alerts from `concurrency` clients as fast as they go; returns the posts and the wall s."""
    alerts = iter([new_alert(n, tag) for n in range(count)])
    posted: list[Posted] = []

    async def client_loop(client: httpx.AsyncClient) -> None:
        for alert in alerts:  # a shared iterator: each alert is taken once
            posted.append(await post_one(client, alert))

    async with client_for(url, concurrency) as client:
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(concurrency)))
        return posted, time.perf_counter() - started


async def paced(url: str, count: int, rate: float, tag: str) -> list[Posted]:
    posted: list[Posted] = []
    async with client_for(url, 1) as client:
        start = time.perf_counter()
        for n in range(count):
            await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
            posted.append(await post_one(client, new_alert(n, tag)))
    return posted


async def all_seen(screens: list[Screen], alert_ids: list[str], timeout_s: float = 60.0) -> float:
    """Wait until every screen has the change event of every alert; returns perf_counter() then."""
    deadline = time.perf_counter() + timeout_s
    while True:
        seqs = [screens[0].changes.get(a) for a in alert_ids]
        if all(s is not None for s in seqs) and all(all(s in sc.seen for s in seqs) for sc in screens):
            return max(max(sc.seen[s] for s in seqs) for sc in screens)  # type: ignore[index]
        if time.perf_counter() > deadline:
            have = min(sum(1 for s in seqs if s is not None and s in sc.seen) for sc in screens)
            raise TimeoutError(f"after {timeout_s} s the slowest screen has {have} of {len(alert_ids)} events")
        await asyncio.sleep(0.02)


def latencies_ms(screens: list[Screen], posted: list[Posted]) -> tuple[list[float], list[float]]:
    """Per (screen, change): from the POST's answer, and from the POST's send."""
    after_answer, after_send = [], []
    for p in posted:
        seq = screens[0].changes[p.alert_id]
        for screen in screens:
            after_answer.append((screen.seen[seq] - p.answered) * 1000)
            after_send.append((screen.seen[seq] - p.sent) * 1000)
    return after_answer, after_send


def _stats(values: list[float]) -> list[str]:
    return [f"{percentile(values, q):.1f}" for q in (50, 95, 99)] + [f"{max(values):.1f}"]


@dataclass(frozen=True)
class Cpu:
    """CPU seconds over a window: the dispatch process, this process (screens and posters), the machine idle."""

    dispatch: float
    bench: float
    idle: float

    @classmethod
    async def during(cls, dispatch: DispatchProcess, work: Awaitable[T]) -> tuple[T, Cpu]:
        d0, b0, m0, t0 = dispatch.cpu_s(), time.process_time(), machine_cpu()["busy"], time.monotonic()
        result = await work
        busy = machine_cpu()["busy"] - m0
        idle = (os.cpu_count() or 1) * (time.monotonic() - t0) - busy
        return result, cls(dispatch.cpu_s() - d0, time.process_time() - b0, idle)

    def cells(self) -> list[str]:
        return [f"{self.dispatch:.2f}", f"{self.bench:.2f}", f"{self.idle:.2f}"]


async def run(args: argparse.Namespace, dispatch: DispatchProcess) -> str:
    lines: list[str] = []
    (base_posted, base_s), base_cpu = await Cpu.during(
        dispatch, burst(dispatch.url, args.burst, args.concurrency, "base"))

    screens = await open_screens(args.screens, dispatch.port)
    try:
        posted = await paced(dispatch.url, args.paced, args.rate, "paced")
        await all_seen(screens, [p.alert_id for p in posted])
        from_answer, from_send = latencies_ms(screens, posted)
        post_ms = [(p.answered - p.sent) * 1000 for p in posted]

        (burst_posted, burst_s), burst_cpu = await Cpu.during(
            dispatch, burst(dispatch.url, args.burst, args.concurrency, "burst"))
        last_answer = max(p.answered for p in burst_posted)
        done = await all_seen(screens, [p.alert_id for p in burst_posted])
        burst_answer, _ = latencies_ms(screens, burst_posted)
        kinds = dict(screens[0].kinds)
        complete = all(len(s.seen) == len(screens[0].seen) for s in screens)
    finally:
        for screen in screens:
            screen.close()
    rss = memory_mb(dispatch.process.pid)

    lines += [f"Paced: {args.paced} new alerts at {args.rate:g}/s, one POST at a time, {args.screens} screens "
              f"(events per kind over both runs: {kinds}; every screen got every event: {complete}):", ""]
    lines += _table(
        ["fan-out latency", "p50 ms", "p95 ms", "p99 ms", "max ms"],
        [["POST answered -> screen has the event", *_stats(from_answer)],
         ["POST sent -> screen has the event", *_stats(from_send)],
         ["the POST itself (sent -> answered)", *_stats(post_ms)]],
    )
    lines += ["", f"Burst: {args.burst} new alerts POSTed by {args.concurrency} concurrent clients:", ""]
    lines += _table(
        ["screens", "POSTs/s", "dispatch CPU s", "bench CPU s", "machine idle s",
         "last POST answered -> all screens have all ms", "POST answered -> screen has it p50 ms", "p95 ms",
         "p99 ms", "max ms"],
        [[0, f"{len(base_posted) / base_s:,.0f}", *base_cpu.cells(), "-", "-", "-", "-", "-"],
         [args.screens, f"{len(burst_posted) / burst_s:,.0f}", *burst_cpu.cells(),
          f"{(done - last_answer) * 1000:.0f}", *_stats(burst_answer)]],
    )
    lines += ["(CPU over the POSTs of each burst; bench: this process, the screens and the POST clients; machine "
              f"idle: {os.cpu_count()} cores x wall - all busy CPU)"]
    lines += ["", f"dispatch RSS {rss.get('VmRSS', 0):.0f} MB (peak {rss.get('VmHWM', 0):.0f} MB)"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--screens", type=int, default=50)
    parser.add_argument("--paced", type=int, default=300, help="alerts in the latency run")
    parser.add_argument("--rate", type=float, default=50.0, help="alerts/s in the latency run")
    parser.add_argument("--burst", type=int, default=1000, help="alerts in the throughput runs")
    parser.add_argument("--concurrency", type=int, default=4, help="concurrent POST clients in the bursts")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (log, store)")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="gridwatch-bench-feed-"))
    dispatch = DispatchProcess(work)
    try:
        print(asyncio.run(run(args, dispatch)))
    finally:
        dispatch.stop()
        if args.keep:
            print(f"work folder: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Push latency: from a POSTed alert to the grid worker's phone (MQTT notify) and to their webhook
(apprise json://), through a dispatch endpoint in its own process and a real Mosquitto.

    .venv/bin/python bench/dispatch_push.py [--paced 200 --rate 20] [--burst 200 --concurrency 4]
        [--snapshot-kb 30]

Set-up: Mosquitto (edge.broker.Mosquitto) on a free port; `python -m edge.cli dispatch` with
`mqtt:` set, so its pusher publishes `grid/workers/{id}/notify` (QoS 1) and calls each worker's
apprise URL; four grids of one worker each, every worker with one `json://` URL pointing at an
HTTP receiver in this process. The phone is one MQTT v5 subscription to `grid/workers/+/notify`
(QoS 1, persistent session) in this process. Half the alerts are elevator e-bikes carrying a
snapshot of `--snapshot-kb` (the pusher puts it into the MQTT message), half are water alerts.

1. paced: `--paced` new alerts at `--rate`/s, one POST at a time;
2. burst: `--burst` new alerts from `--concurrency` clients as fast as they go.

Latency = when the phone (or the receiver) has the message minus when the POST was answered
(time.time() in this one process; the POST answer comes after dispatch's fsync, the push starts
from the same commit, so it can be negative by a little). Every alert must reach both (checked).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import Response  # noqa: E402
from starlette.routing import Route  # noqa: E402

from bench.dispatch_process import GRIDS, DispatchProcess  # noqa: E402
from bench.pipeline_parts import TOKENS, percentile, wait_for  # noqa: E402
from bench.pipeline_report import _table  # noqa: E402
from bench.procstat import cpu_seconds  # noqa: E402
from dispatch.server import ServerHandle, start_app_in_thread  # noqa: E402
from edge.broker import Mosquitto  # noqa: E402
from ingest.config import MqttConfig  # noqa: E402
from ingest.mqtt_client import InboundMessage, MqttConnection  # noqa: E402
from ingest.wire.alert import Alert, episode_id  # noqa: E402
from ingest.wire.dispatch import NotifyMessage  # noqa: E402

EDGE_TOKEN = TOKENS["GRIDWATCH_TOKEN"]


@dataclass
class Arrivals:
    """Where each alert id arrived first, time.time() (thread-safe: the phone and the receiver write)."""

    at: dict[str, float] = field(default_factory=dict)
    duplicates: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, alert_id: str, when: float) -> None:
        with self.lock:
            if alert_id in self.at:
                self.duplicates += 1
            else:
                self.at[alert_id] = when

    def have(self, ids: list[str]) -> bool:
        with self.lock:
            return all(i in self.at for i in ids)


class Phone:
    def __init__(self, broker_url: str) -> None:
        self.arrivals = Arrivals()
        self.snapshots = 0
        self.connection = MqttConnection(MqttConfig(url=broker_url), "bench-phones",
                                         subscriptions=["grid/workers/+/notify"], on_message=self._on_message)

    def _on_message(self, message: InboundMessage) -> None:
        notify = NotifyMessage.model_validate_json(message.payload)
        self.snapshots += notify.snapshot_jpeg_b64 is not None
        self.arrivals.add(notify.id, message.received_at)

    def start(self) -> Phone:
        self.connection.start()
        if not self.connection.wait_subscribed(10):
            raise RuntimeError("the phone could not subscribe")
        return self


class Webhook:
    """The apprise json:// target: reads the alert id from the message's last line."""

    def __init__(self) -> None:
        self.arrivals = Arrivals()
        self.handle: ServerHandle | None = None

    async def _hook(self, request: Request) -> Response:
        body = await request.json()
        self.arrivals.add(body["message"].splitlines()[-1].split(": ", 1)[1], time.time())
        return Response(status_code=200)

    def start(self) -> Webhook:
        self.handle = start_app_in_thread(Starlette(routes=[Route("/{path:path}", self._hook, methods=["POST"])]))
        return self


def new_alert(n: int, tag: str, snapshot: str | None) -> Alert:
    started = datetime(2026, 3, 1, tzinfo=UTC) + timedelta(seconds=n)
    grid = GRIDS[n % len(GRIDS)]
    ebike = n % 2 == 0
    alert_type, subject = ("elevator.ebike", f"{tag}-elev{n}") if ebike else ("water.no_usage", f"{tag}-m{n}")
    summary = f"e-bike in elevator {subject}" if ebike else f"no water used for 12 h at {subject}"
    return Alert(id=episode_id(alert_type, subject, started), type=alert_type, state="active",
                 severity="critical" if ebike else "warning", subject=subject, building=f"b-{grid}", grid=grid,
                 started_at=started, raised_at=started, summary=summary,
                 snapshot_jpeg_b64=snapshot if ebike else None, edge_id="bench", revision=1)


async def post_one(client: httpx.AsyncClient, alert: Alert, answered: dict[str, float]) -> None:
    response = await client.post("/api/v1/alerts", content=alert.to_json())
    answered[alert.id] = time.time()
    if response.status_code != 201:
        raise RuntimeError(f"POST answered {response.status_code}: {response.text[:200]}")


def client_for(url: str, concurrency: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {EDGE_TOKEN}"}, limits=limits,
                             timeout=30)


async def paced(url: str, alerts: list[Alert], rate: float) -> dict[str, float]:
    answered: dict[str, float] = {}
    async with client_for(url, 1) as client:
        start = time.perf_counter()
        for n, alert in enumerate(alerts):
            await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
            await post_one(client, alert, answered)
    return answered


async def burst(url: str, alerts: list[Alert], concurrency: int) -> dict[str, float]:
    answered: dict[str, float] = {}
    queue = iter(alerts)

    async def loop(client: httpx.AsyncClient) -> None:
        for alert in queue:  # shared: each alert is taken once
            await post_one(client, alert, answered)

    async with client_for(url, concurrency) as client:
        await asyncio.gather(*(loop(client) for _ in range(concurrency)))
    return answered


def _row(name: str, arrivals: Arrivals, answered: dict[str, float]) -> list[object]:
    ms = [(arrivals.at[i] - t) * 1000 for i, t in answered.items()]
    last = (max(arrivals.at[i] for i in answered) - max(answered.values())) * 1000
    return [name, len(ms), *(f"{percentile(ms, q):.1f}" for q in (50, 95)), f"{max(ms):.1f}", f"{last:.0f}",
            arrivals.duplicates]


def run(args: argparse.Namespace, work: Path) -> str:
    snapshot = base64.b64encode(os.urandom(args.snapshot_kb * 1024)).decode() if args.snapshot_kb else None
    with Mosquitto(work / "mosquitto") as broker:
        phone, webhook = Phone(broker.url).start(), Webhook().start()
        assert webhook.handle is not None
        dispatch = DispatchProcess(work, broker_url=broker.url, hook_port=webhook.handle.port)
        try:
            lines = []
            runs = [("paced", f"{args.paced} alerts at {args.rate:g}/s, one POST at a time",
                     [new_alert(n, "p", snapshot) for n in range(args.paced)]),
                    ("burst", f"{args.burst} alerts from {args.concurrency} concurrent clients",
                     [new_alert(n, "b", snapshot) for n in range(args.burst)])]
            for name, what, alerts in runs:
                cpu0, t0 = cpu_seconds(dispatch.process.pid), time.monotonic()
                if name == "paced":
                    answered = asyncio.run(paced(dispatch.url, alerts, args.rate))
                else:
                    answered = asyncio.run(burst(dispatch.url, alerts, args.concurrency))
                ids = list(answered)
                wait_for(lambda ids=ids: phone.arrivals.have(ids) and webhook.arrivals.have(ids), 120,
                         f"every {name} alert on the phone and the webhook")
                cpu, wall = cpu_seconds(dispatch.process.pid) - cpu0, time.monotonic() - t0
                lines += [f"{name}: {what} (dispatch CPU {cpu:.2f} s over {wall:.1f} s wall):", ""]
                lines += _table(
                    ["POST answered -> ", "alerts", "p50 ms", "p95 ms", "max ms", "last POST -> last arrival ms",
                     "duplicates"],
                    [_row("phone has the MQTT notify", phone.arrivals, answered),
                     _row("webhook has the apprise call", webhook.arrivals, answered)],
                )
                lines.append("")
            lines.append(f"snapshots on the phone: {phone.snapshots} ({args.snapshot_kb} kB each before base64)")
            return "\n".join(lines)
        finally:
            dispatch.stop()
            phone.connection.stop()
            if webhook.handle is not None:
                webhook.handle.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paced", type=int, default=200, help="alerts in the latency run")
    parser.add_argument("--rate", type=float, default=20.0, help="alerts/s in the latency run")
    parser.add_argument("--burst", type=int, default=200, help="alerts in the burst run")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--snapshot-kb", type=int, default=30, help="snapshot size of the e-bike alerts; 0: none")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="gridwatch-bench-push-"))
    try:
        print(run(args, work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

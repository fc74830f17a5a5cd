"""`gridwatch demo`: broker, dispatch endpoint with its command-center page, edge worker,
the water simulator, elevator cameras playing rides with and without e-bikes (the held-out
images of the bundled model), and simulated grid workers who answer (or not) on their phones.

The broker is Mosquitto when it is installed; otherwise (or with `--broker embedded`) the
embedded amqtt broker of edge.embedded_broker, which speaks MQTT 3.1.1 only, so every client
of the demo then connects with `protocol="3.1.1"`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import secrets
import signal
import socket
import sys
import tempfile
import threading
import time
import webbrowser
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from dispatch.config import DispatchConfig
from dispatch.server import start_in_thread
from dispatch.sla import SeverityDeadlines, SlaConfig
from edge.broker import Mosquitto, find_mosquitto, free_port
from edge.config import DispatchClientConfig, EdgeConfig, load_registry
from edge.demo_staff import add_elevators, elevator_ids, staff
from edge.worker import EdgeWorker
from ingest.config import MqttConfig
from ingest.mqtt_client import InboundMessage, MqttConnection
from ingest.topics import Topics
from simulators.water.publish import MqttPublisher
from simulators.water.runner import run_live
from simulators.water.scenario import ScenarioSpec, default_start, generate
from simulators.workers.simulator import WorkerSimulator

if TYPE_CHECKING:
    from edge.embedded_broker import EmbeddedBroker  # imported when used: amqtt takes ~0.1 s to import
    from simulators.elevator.publish import ElevatorSimThread
    from simulators.elevator.sources import Source

log = logging.getLogger("gridwatch.demo")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--meters", type=int, default=30, help="simulated households (default 30)")
    parser.add_argument("--days", type=float, default=3.0, help="simulated days per round (default 3)")
    parser.add_argument("--speed", type=float, default=5000.0,
                        help="simulated seconds per wall second (default 5000: three days in under a minute)")
    parser.add_argument("--port", type=int, default=8600, help="dispatch port (default 8600; 0 = any free)")
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    parser.add_argument("--state-dir", type=Path, default=None, help="default: a fresh temporary folder")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--broker", choices=("auto", "mosquitto", "embedded"), default="auto",
                        help="auto (default): Mosquitto when installed, else the embedded demo broker")
    parser.add_argument("--worker-speed", type=float, default=30.0,
                        help="simulated grid workers act this many times faster than people (default 30)")
    parser.add_argument("--ignore", type=float, default=0.15,
                        help="share of alerts a simulated worker never answers, so escalation is seen (default 0.15)")
    parser.add_argument("--no-browser", action="store_true", help="do not open the command-center page")
    parser.add_argument("--elevators", type=int, default=3,
                        help="elevator cameras playing rides at 5 fps, el-01... in the first buildings (default 3; "
                             "0: none)")

# The elevator rides: held-out positives mixed with negatives (a crop beside the bike, the bike painted out).
ELEVATOR_KINDS = ("positive", "crop", "positive", "inpaint")
ELEVATOR_FPS = 5.0
ELEVATOR_RIDE_S = 15.0

# Deadlines short enough to see escalation within a demo, in the proportions of the defaults.
DEMO_SLA = SlaConfig(critical=SeverityDeadlines(accept_min=1, resolve_min=10),
                     warning=SeverityDeadlines(accept_min=2, resolve_min=20),
                     info=SeverityDeadlines(accept_min=5, resolve_min=60))


class Console:
    """Prints each alert as the edge publishes it, with the wall time, and each door command the edge sends;
    counts them by kind for the closing line."""

    def __init__(self) -> None:
        self.ebike_alerts: set[str] = set()
        self.alerts: dict[str, set[str]] = {}
        self.changes: dict[str, int] = {}
        self.commands: dict[str, int] = {}
        self._cleared: set[str] = set()
        self._lock = threading.Lock()

    def on_message(self, message: InboundMessage) -> None:
        parts = message.topic.split("/")
        try:
            if len(parts) == 4 and parts[1] == "elevator" and parts[3] == "command":
                self._command(parts[2], json.loads(message.payload))
            else:
                self._alert(json.loads(message.payload))
        except (ValueError, KeyError, TypeError):
            pass

    def _alert(self, alert: dict) -> None:
        kind = alert["type"]
        with self._lock:
            known = alert["id"] in self.alerts.setdefault(kind, set())
            self.alerts[kind].add(alert["id"])
            self.changes[kind] = self.changes.get(kind, 0) + 1
            if kind == "elevator.ebike":
                self.ebike_alerts.add(alert["id"])
            cleared_before = alert["id"] in self._cleared
            if alert["state"] == "cleared":
                self._cleared.add(alert["id"])
        if kind == "elevator.ebike" and known and alert["state"] == "active":
            return  # an e-bike episode updates often (box, count, clip): the raise and the clear say enough
        if cleared_before:
            return  # an update after the clear (the e-bike clip's last seconds): the episode is over
        event = _short_ts(alert.get("cleared_at") or alert.get("raised_at"))
        print(f"{time.strftime('%H:%M:%S')} [{alert['state']:>7}] {alert['severity']:<8} {kind:<22} "
              f"{alert['subject']:<12} grid={alert.get('grid')}  {alert['summary']}  (event time {event})", flush=True)

    def _command(self, elevator_id: str, command: dict) -> None:
        action = command["action"]
        with self._lock:
            self.commands[action] = self.commands.get(action, 0) + 1
        alert = f" (alert {command['alert_id']})" if command.get("alert_id") else ""
        text = f": {command['text']}" if command.get("text") else ""
        print(f"{time.strftime('%H:%M:%S')} [   door] {elevator_id} {action}{alert}{text}", flush=True)

    def tally(self) -> str:
        """`N alert changes (M alerts: water.tap_open 2, elevator.ebike 1, ...)`, every kind the edge raised."""
        with self._lock:
            kinds = sorted(self.alerts, key=lambda k: (-len(self.alerts[k]), k))
            per_kind = ", ".join(f"{k} {len(self.alerts[k])}" for k in kinds) or "none"
            return (f"{sum(self.changes.values())} alert changes "
                    f"({sum(len(v) for v in self.alerts.values())} alerts: {per_kind})")


def _short_ts(ts: str | None) -> str:
    """`2026-12-01T00:51:07Z` -> `12-01 00:51`: the simulated days run at thousands of times real time."""
    return f"{ts[5:10]} {ts[11:16]}" if ts and len(ts) >= 16 else "-"


class DeadLetterLine(logging.Handler):
    """The edge's dead-letter warnings as console lines: the simulator sends those bad payloads on purpose."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"{time.strftime('%H:%M:%S')} [  dead ] {record.getMessage()} (a bad payload the simulator sends on "
              "purpose: the edge rejects it and goes on)", flush=True)


def _quiet_opencv() -> None:
    """OpenCV's own `[ WARN:0@…]` lines (a short JPEG, a codec probe) say nothing to a demo's viewer."""
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    cv2 = sys.modules.get("cv2")
    if cv2 is not None:
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


def _elevator_footage() -> tuple[Source | None, str]:
    """The labelled originals the bundled model held out (all of them without a split); (None, why) if missing."""
    from simulators.elevator.cli import DEFAULT_SOURCE
    from simulators.elevator.sources import open_source, read_split

    try:
        split, split_file = read_split(None)
        source = open_source(DEFAULT_SOURCE, None, split, split_file)
    except (OSError, ValueError, KeyError) as exc:
        return None, f"none: no elevator footage ({exc})"
    if split_file:
        return source, f"the {len(source.stills)} originals the model never trained on"
    return source, f"{len(source.stills)} originals"


def _start_elevators(source: Source, n: int, url: str, protocol: str, seed: int) -> ElevatorSimThread:
    """Cameras and door status of `el-01`..., playing rides until stopped."""
    from simulators.elevator.cli import elevator_plans
    from simulators.elevator.footage import RideSpec
    from simulators.elevator.publish import ElevatorSimThread

    spec = RideSpec(fps=ELEVATOR_FPS, ride_s=ELEVATOR_RIDE_S)
    plans = elevator_plans(source, spec, elevator_ids(n), seed, None, ELEVATOR_KINDS)
    return ElevatorSimThread(url, plans, protocol=protocol).start()


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: TIME_WAIT is no owner
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def run_demo(args: argparse.Namespace) -> int:
    if not getattr(args, "verbose", False):
        # The console shows each alert once; logs say only what went wrong (-v for everything).
        logging.getLogger().setLevel(logging.WARNING)
    deadletters = logging.getLogger("ingest.deadletter")
    deadletters.addHandler(DeadLetterLine(logging.WARNING))
    deadletters.propagate = False
    _quiet_opencv()
    state_dir = args.state_dir or Path(tempfile.mkdtemp(prefix="gridwatch-demo-"))
    state_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("GRIDWATCH_TOKEN", secrets.token_urlsafe(16))
    os.environ.setdefault("GRIDWATCH_OPERATOR_TOKEN", secrets.token_urlsafe(16))

    choice = getattr(args, "broker", "auto")
    if choice == "mosquitto" and find_mosquitto() is None:
        print("--broker mosquitto: Mosquitto is not installed; run `bash scripts/setup.sh` (apt-get install "
              "mosquitto), or use --broker embedded.")
        return 1
    broker: Mosquitto | EmbeddedBroker
    if choice == "embedded" or (choice == "auto" and find_mosquitto() is None):
        from edge.embedded_broker import LIMITS, EmbeddedBroker

        broker = EmbeddedBroker().start()
        mqtt = MqttConfig(url=broker.url, protocol="3.1.1")
        broker_line = f"embedded amqtt broker at {broker.url} ({LIMITS}; install Mosquitto for more)"
        sub = f"mosquitto_sub -V mqttv311 -p {broker.port}"
    else:
        broker = Mosquitto(state_dir / "broker").start()
        mqtt = MqttConfig(url=broker.url)
        broker_line = f"Mosquitto at {broker.url}"
        sub = f"mosquitto_sub -p {broker.port}"
    watch = f"{sub} -t 'grid/#' -v"
    print(f"broker: {broker_line}", flush=True)

    spec = ScenarioSpec(meters=args.meters, days=args.days, interval_min=15.0, seed=args.seed)
    # One start for the written truth and the live run, even across an interval boundary.
    spec = dataclasses.replace(spec, start=default_start(spec))
    scenario = generate(spec)
    scenario.write(state_dir / "scenario")
    elevators = max(0, getattr(args, "elevators", 0))
    footage, footage_line = _elevator_footage() if elevators else (None, "none (--elevators 0)")
    elevators = elevators if footage else 0  # a registered camera that never plays would raise camera_offline
    staffed, worker_tokens = staff(scenario.registry())
    if elevators:
        staffed = add_elevators(staffed, elevators)
    registry_path = state_dir / "scenario" / "registry.yaml"
    registry_path.write_text(yaml.safe_dump(staffed, sort_keys=False, allow_unicode=True), encoding="utf-8")
    (state_dir / "worker-tokens.yaml").write_text(yaml.safe_dump(worker_tokens), encoding="utf-8")
    registry = load_registry(registry_path)

    port = args.port if args.port and _port_free(args.port) else free_port()
    dispatch = start_in_thread(
        DispatchConfig(listen=f"127.0.0.1:{port}", state_dir=state_dir / "dispatch", mqtt=mqtt, sla=DEMO_SLA),
        registry,
    )
    workers = WorkerSimulator(mqtt, dispatch.url, worker_tokens, speed=args.worker_speed, ignore=args.ignore,
                              seed=args.seed)
    workers.start()
    edge = EdgeWorker(
        EdgeConfig(
            edge_id="edge-demo", mqtt=mqtt, state_dir=state_dir / "edge",
            health_listen=f"127.0.0.1:{free_port()}",
            dispatch=DispatchClientConfig(url=f"{dispatch.url}/api/v1/alerts"),
        ),
        registry,
    )
    edge.start()
    edge.mqtt.wait_subscribed(10)  # a new session gets only what is published after its subscription
    console = Console()
    prefix = Topics().prefix
    listener = MqttConnection(mqtt, "gridwatch-demo-console", on_message=console.on_message, persistent=False,
                              subscriptions=[f"{prefix}/alerts/#", f"{prefix}/elevator/+/command"])
    listener.start()
    listener.wait_subscribed(10)
    cameras = _start_elevators(footage, elevators, broker.url, mqtt.protocol, args.seed) if footage else None
    cameras_line = footage_line
    if cameras:
        cameras_line = (f"{elevators} cameras ({', '.join(elevator_ids(elevators))}) playing rides at "
                        f"{ELEVATOR_FPS:g} fps, e-bikes wheeled in and rides without, from {footage_line}\n"
                        f"  door commands:       {sub} -t '{prefix}/elevator/+/command' -v")

    stop = threading.Event()
    publisher = MqttPublisher(broker.url, f"gridwatch-sim-water-live-{spec.seed}", protocol=mqtt.protocol)
    sim = threading.Thread(target=run_live, args=(spec, broker.url, args.speed, stop),
                           kwargs={"publisher": publisher}, name="sim", daemon=True)
    sim.start()
    operator_token = os.environ["GRIDWATCH_OPERATOR_TOKEN"]
    page = f"{dispatch.url}/#token={operator_token}"
    print(
        f"""
gridwatch demo is running ({args.meters} simulated homes, {args.speed:g}x time, state in {state_dir})
  command center:      {page}
  broker:              {broker.url}        watch: {watch}
  grid workers:        {len(worker_tokens)} simulated phones, {args.worker_speed:g}x as fast as people, """
        f"""{args.ignore:.0%} of alerts ignored; their tokens: {state_dir / "worker-tokens.yaml"}
  dispatch endpoint:   {dispatch.url}/api/v1/alerts
  edge health:         {edge.health.url if edge.health else "-"}/status (JSON), /metrics (Prometheus)
  see the alerts:      curl -H 'Authorization: Bearer {operator_token}' {dispatch.url}/api/v1/alerts
  elevators:           {cameras_line}
  ground truth:        {state_dir / "scenario" / "truth.jsonl"}
The simulated meters also send some bad payloads on purpose (not JSON, a negative register, a clock years
ahead): the edge rejects each to the dead-letter topic and goes on; the first of each kind is shown as [  dead ].
Alerts as the edge raises them (wall time first, event time last), and the elevator door commands (Ctrl-C stops):
""",
        flush=True,
    )
    if not args.no_browser and (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        webbrowser.open(page)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    deadline = time.monotonic() + args.duration if args.duration else None
    while not stop.wait(1.0):
        if deadline and time.monotonic() > deadline:
            stop.set()
    sim.join(timeout=10)
    publisher.close()
    if cameras:
        cameras.stop()
    time.sleep(1.0)  # let the last readings reach the rules
    snapshot = edge.snapshot()
    loop = workers.counters()
    workers.stop()
    edge.stop()  # releases any door still held; the console sees it
    time.sleep(0.5)
    listener.stop()
    dispatch.stop()
    broker.stop()
    print(f"demo stopped: {snapshot['readings']} readings, {console.tally()}, "
          f"{sum(snapshot['dead_letters'].values())} dead letters; grid workers accepted {loop['accepted']}, "
          f"resolved {loop['resolved']}, ignored {loop['ignored']}; {len(console.ebike_alerts)} e-bike alerts, "
          f"doors held {console.commands.get('hold_door', 0)}, released {console.commands.get('release_door', 0)}; "
          f"state kept in {state_dir}")
    return 0

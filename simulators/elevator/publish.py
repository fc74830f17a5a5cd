"""Elevator cameras and boxes on MQTT: each simulated car plays rides in real time, in its own thread.

Frames go out as raw JPEG on `{prefix}/elevator/{id}/frame` with the MQTT v5 user property `ts` (epoch ms,
the wall clock at publish, which is the event time; over MQTT 3.1.1, for the embedded demo broker, there is no
property and the edge takes the arrival time); door changes as `ElevatorStatus` JSON on `.../status`.
What the edge commands on `.../command` (hold_door, announce, release_door) is logged and kept. One line
of ground truth per ride goes to a JSONL file.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import ValidationError

from ingest.topics import Topics
from ingest.wire.elevator import ElevatorCommand, ElevatorStatus
from simulators.elevator.footage import Ride

log = logging.getLogger("gridwatch.sim.elevator")
PROTOCOLS = ("5", "3.1.1")


def elevator_ids(n: int) -> list[str]:
    return [f"sim-elev-{i:02d}" for i in range(1, n + 1)]


def connect(url: str, client_id: str, timeout: float = 10.0, subscribe: tuple[str, ...] = (),
            protocol: str = "5") -> paho.Client:
    """A started MQTT client (v5, or 3.1.1 with `protocol="3.1.1"`) on a clean session (subscribing again on
    every reconnect); ConnectionError when no broker answers."""
    parsed = urlparse(url)
    if parsed.scheme not in ("mqtt", "tcp", ""):
        raise ValueError(f"only mqtt:// URLs are supported, got {url}")
    if protocol not in PROTOCOLS:
        raise ValueError(f"MQTT protocol must be one of {', '.join(PROTOCOLS)}, got {protocol}")
    v5 = protocol == "5"
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=paho.MQTTv5 if v5 else paho.MQTTv311, clean_session=None if v5 else True)
    connected = threading.Event()

    def on_connect(_client: paho.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            return
        for topic in subscribe:
            client.subscribe(topic, qos=1)
        connected.set()

    client.on_connect = on_connect
    client.max_queued_messages_set(0)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 1883
    if v5:
        client.connect_async(host, port, clean_start=True)
    else:  # 3.1.1: the clean session was asked for in the constructor
        client.connect_async(host, port)
    client.loop_start()
    if not connected.wait(timeout):
        client.loop_stop()
        raise ConnectionError(f"no MQTT broker answered at {url} within {timeout:.0f} s")
    return client


@dataclass
class CommandLog:
    """The edge's linkage commands as the elevator boxes received them."""

    received: list[tuple[str, ElevatorCommand]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def on_message(self, _client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
        elevator_id = message.topic.split("/")[-2]
        try:
            command = ElevatorCommand.model_validate_json(message.payload)
        except ValidationError as exc:
            log.warning("elevator %s: unreadable command %r (%s)", elevator_id, message.payload[:80], exc.errors()[0])
            return
        log.info("elevator %s: edge commanded %s%s", elevator_id, command.action,
                 f" ({command.alert_id})" if command.alert_id else "")
        with self._lock:
            self.received.append((elevator_id, command))

    def actions(self) -> list[tuple[str, str]]:
        with self._lock:
            return [(eid, c.action) for eid, c in self.received]


class TruthWriter:
    """One JSON line per finished ride; thread-safe, flushed at once so a tester can tail it."""

    def __init__(self, stream: IO[str] | None) -> None:
        self.stream = stream
        self.rows: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def write(self, row: dict[str, Any]) -> None:
        with self._lock:
            self.rows.append(row)
            if self.stream is not None:
                self.stream.write(json.dumps(row) + "\n")
                self.stream.flush()


def _now_ms() -> int:
    return int(time.time() * 1000)


class CarPlayer:
    """One elevator: plays its rides one after the other at the rides' frame rate, on the wall clock."""

    def __init__(self, client: paho.Client, topics: Topics, elevator_id: str, truth: TruthWriter,
                 stop: threading.Event, v5: bool = True) -> None:
        self.client, self.topics, self.elevator_id = client, topics, elevator_id
        self.truth, self.stop, self.v5 = truth, stop, v5
        self.frames_sent = 0

    def _status(self, door: str, ts_ms: int) -> None:
        status = ElevatorStatus(ts=datetime.fromtimestamp(ts_ms / 1000, tz=UTC), door=door)  # type: ignore[arg-type]
        self.client.publish(self.topics.elevator_status(self.elevator_id), status.dump(), qos=1)

    def _frame(self, jpeg: bytes) -> int:
        ts_ms = _now_ms()
        props = None
        if self.v5:  # 3.1.1 has no properties: the edge takes the arrival time, a few ms later
            props = Properties(PacketTypes.PUBLISH)
            props.UserProperty = [("ts", str(ts_ms))]
        self.client.publish(self.topics.elevator_frame(self.elevator_id), jpeg, qos=0, properties=props)
        self.frames_sent += 1
        return ts_ms

    def play(self, ride: Ride) -> bool:
        """Publish one ride; False when stopped before its end (no truth line for a cut ride)."""
        start = time.monotonic()
        start_ms = _now_ms()
        self._status("open", start_ms)
        door, first_ebike_ms, frames = "open", None, 0
        for frame in ride.frames():
            if self.stop.wait(max(0.0, start + frame.t - time.monotonic())):
                return False
            if frame.door != door:
                door = frame.door
                self._status(door, _now_ms())
            ts_ms = self._frame(frame.jpeg)
            frames += 1
            if frame.ebike and first_ebike_ms is None:
                first_ebike_ms = ts_ms
        if self.stop.wait(max(0.0, start + ride.duration_s - time.monotonic())):
            return False
        self.truth.write({
            "elevator_id": self.elevator_id, "start_ts": start_ms, "end_ts": _now_ms(),
            "has_ebike": ride.has_ebike, "first_ebike_ts": first_ebike_ms, "source": ride.source,
            "kind": ride.kind, "mirrored": ride.mirrored, "frames": frames, "fps": ride.fps,
        })
        return True


@dataclass
class SimReport:
    rides: int
    frames: int
    commands: list[tuple[str, str]]
    wall_s: float
    failed: list[str] = field(default_factory=list)  # elevators whose player died

    def line(self) -> str:
        held = sum(1 for _, a in self.commands if a == "hold_door")
        released = sum(1 for _, a in self.commands if a == "release_door")
        return (f"elevator sim: {self.rides} rides, {self.frames} frames in {self.wall_s:.1f} s; "
                f"edge commanded hold_door x{held}, release_door x{released}, {len(self.commands)} commands in all")


def run_elevators(url: str, plans: dict[str, Callable[[], Iterator[Ride]]], truth: TruthWriter,
                  stop: threading.Event | None = None, topic_prefix: str = "grid",
                  connect_timeout: float = 10.0, protocol: str = "5") -> SimReport:
    """Play every elevator's rides in parallel until each plan ends (or `stop`); returns what was sent."""
    stop = stop or threading.Event()
    topics = Topics(topic_prefix)
    commands = CommandLog()
    client = connect(url, f"gridwatch-sim-elevator-{time.time_ns()}", connect_timeout,
                     subscribe=(f"{topic_prefix}/elevator/+/command",), protocol=protocol)
    client.on_message = commands.on_message
    players = {eid: CarPlayer(client, topics, eid, truth, stop, v5=protocol == "5") for eid in plans}
    started = time.monotonic()
    failed: list[str] = []

    def drive(eid: str) -> None:
        try:
            for ride in plans[eid]():
                if not players[eid].play(ride):
                    return
        except Exception:
            log.exception("elevator %s: the simulator failed", eid)
            failed.append(eid)
            stop.set()

    threads = [threading.Thread(target=drive, args=(eid,), name=f"sim-{eid}", daemon=True) for eid in plans]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)
    finally:
        stop.set()
        time.sleep(0.2)  # the last status and frames leave the socket
        client.disconnect()
        client.loop_stop()
    return SimReport(len(truth.rows), sum(p.frames_sent for p in players.values()), commands.actions(),
                     time.monotonic() - started, failed)


class ElevatorSimThread:
    """run_elevators in a daemon thread, for a program that does other things meanwhile (the demo)."""

    def __init__(self, url: str, plans: dict[str, Callable[[], Iterator[Ride]]], *, protocol: str = "5",
                 topic_prefix: str = "grid", truth: TruthWriter | None = None) -> None:
        self.stop_event = threading.Event()
        self.report: SimReport | None = None
        self.error: BaseException | None = None
        self._args = (url, plans, truth or TruthWriter(None), self.stop_event, topic_prefix)
        self._protocol = protocol
        self._thread = threading.Thread(target=self._run, name="sim-elevator", daemon=True)

    def _run(self) -> None:
        try:
            self.report = run_elevators(*self._args, protocol=self._protocol)
        except Exception as exc:  # said once; the caller decides what a dead simulator means
            self.error = exc
            log.exception("the elevator simulator stopped")

    def start(self) -> ElevatorSimThread:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> SimReport | None:
        self.stop_event.set()
        self._thread.join(timeout)
        return self.report


def open_truth(path: Path | None) -> IO[str] | None:
    if path is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("w", encoding="utf-8")

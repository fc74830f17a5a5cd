"""Publishing with time compression: event time runs `speed` times faster than the wall clock.

`Publisher` is the small interface the simulators need; `MqttPublisher` implements it over
ingest.mqtt_client.MqttConnection (paho-mqtt 2.x, MQTT v5, QoS 1, 1000 in flight), with
back-pressure so that a replay of hundreds of thousands of messages never overruns the
client's outgoing queue.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ingest.config import MqttConfig
from ingest.mqtt_client import MqttConnection

MAX_PENDING = 20_000  # unacknowledged messages before publish() waits for the broker


class Publisher(Protocol):
    def publish(self, topic: str, payload: bytes) -> None: ...

    def flush(self, timeout: float) -> bool: ...

    def close(self) -> None: ...


class MqttPublisher:
    """QoS 1 publisher on a clean session (a simulator has nothing to resume)."""

    def __init__(self, url: str, client_id: str | None = None, connect_timeout: float = 10.0,
                 username: str | None = None, password_env: str | None = None, protocol: str = "5") -> None:
        config = MqttConfig(url=url, username=username, password_env=password_env, protocol=protocol)
        self.connection = MqttConnection(config, client_id or f"gridwatch-sim-{os.getpid()}", persistent=False)
        self.connection.start()
        if not self.connection.wait_connected(connect_timeout):
            self.connection.stop()
            raise ConnectionError(f"no MQTT broker answered at {url} within {connect_timeout:.0f} s")

    def publish(self, topic: str, payload: bytes) -> None:
        deadline = time.monotonic() + 60.0
        while self.connection.pending >= MAX_PENDING or not self.connection.publish(topic, payload, qos=1):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the broker took no message for 60 s ({self.connection.pending} pending)")
            time.sleep(0.002)

    def flush(self, timeout: float) -> bool:
        return self.connection.flush(timeout)

    def close(self) -> None:
        self.connection.stop()


@dataclass(frozen=True)
class Outgoing:
    topic: str
    payload: bytes
    send_time: datetime  # event time at which it goes out


@dataclass
class PaceStats:
    published: int = 0
    wall_s: float = 0.0
    stopped: bool = False
    started: float = 0.0  # time.monotonic() at the first message


class Pacer:
    """Maps event time to wall time: `speed` event seconds per wall second (None: no waiting).

    With `realtime_cap`, event time never runs ahead of the wall clock: a live demo catches up
    compressed, then goes on in real time (the edge rejects readings from the future).
    """

    def __init__(self, speed: float | None, realtime_cap: bool = False,
                 stop_event: threading.Event | None = None) -> None:
        if speed is not None and speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self.realtime_cap = realtime_cap
        self.stop_event = stop_event or threading.Event()
        self._origin: tuple[float, float] | None = None  # (first event time, monotonic then)

    def _compressed_now(self) -> float:
        assert self._origin is not None
        first, wall0 = self._origin
        return float("inf") if self.speed is None else first + self.speed * (time.monotonic() - wall0)

    def event_now(self) -> float:
        now = self._compressed_now()
        return min(now, time.time()) if self.realtime_cap else now

    def wait_until(self, event_s: float) -> bool:
        """Block until event time reaches `event_s`; False when stopped first."""
        if self._origin is None:
            self._origin = (event_s, time.monotonic())
        while True:
            compressed = self._compressed_now()
            if self.realtime_cap and compressed >= time.time():
                ahead_wall = event_s - time.time()  # caught up: real time from here
            else:
                ahead_wall = (event_s - compressed) / self.speed if self.speed else 0.0
            if ahead_wall <= 0:
                return not self.stop_event.is_set()
            if self.stop_event.wait(min(ahead_wall, 1.0)):
                return False


def publish_paced(messages: Iterable[Outgoing], publisher: Publisher, pacer: Pacer) -> PaceStats:
    stats = PaceStats(started=time.monotonic())
    for message in messages:
        if not pacer.wait_until(message.send_time.timestamp()):
            stats.stopped = True
            break
        publisher.publish(message.topic, message.payload)
        stats.published += 1
    stats.wall_s = time.monotonic() - stats.started
    return stats

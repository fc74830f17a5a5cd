"""A subscriber on the real Mosquitto fixture that counts what the simulators publish."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from ingest.config import MqttConfig
from ingest.mqtt_client import InboundMessage, MqttConnection

PROBE = "grid/water/_probe/reading"


class Subscriber:
    def __init__(self, url: str, topic: str = "grid/water/#") -> None:
        self.messages: list[InboundMessage] = []
        self.ready = threading.Event()
        self._lock = threading.Lock()
        self.connection = MqttConnection(MqttConfig(url=url), f"test-sub-{time.time_ns()}", subscriptions=[topic],
                                         on_message=self._on, persistent=False)

    def _on(self, message: InboundMessage) -> None:
        if message.topic == PROBE:
            self.ready.set()
            return
        with self._lock:
            self.messages.append(message)

    def start(self) -> Subscriber:
        self.connection.start()
        assert self.connection.wait_connected(5)
        # The subscription goes out after CONNACK: it is in place once a probe comes back.
        deadline = time.monotonic() + 5
        while not self.ready.is_set() and time.monotonic() < deadline:
            self.connection.publish(PROBE, b"{}", qos=0)
            self.ready.wait(0.05)
        assert self.ready.is_set(), "the subscription never took"
        return self

    def count(self) -> int:
        with self._lock:
            return len(self.messages)

    def wait_for(self, n: int, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while self.count() < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.count()


@pytest.fixture
def subscriber(mosquitto) -> Iterator[Subscriber]:
    sub = Subscriber(mosquitto.url).start()
    yield sub
    sub.connection.stop()

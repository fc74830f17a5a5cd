"""Helpers of the ingest MQTT tests: a thread-safe inbox that waits with a deadline."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ingest.config import MqttConfig
from ingest.mqtt_client import InboundMessage


def fast_config(url: str, **overrides: object) -> MqttConfig:
    """Reconnect quickly: tests restart brokers."""
    values: dict[str, object] = {"url": url, "reconnect_min_s": 0.1, "reconnect_max_s": 0.5, "keepalive_s": 5}
    return MqttConfig(**(values | overrides))


class Inbox:
    def __init__(self) -> None:
        self.messages: list[InboundMessage] = []
        self._cond = threading.Condition()

    def __call__(self, msg: InboundMessage) -> None:
        with self._cond:
            self.messages.append(msg)
            self._cond.notify_all()

    def wait_for(
        self, predicate: Callable[[list[InboundMessage]], bool], timeout: float = 10.0
    ) -> list[InboundMessage]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.messages):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out; got {len(self.messages)} messages: {self.payloads()[:20]}")
                self._cond.wait(remaining)
            return list(self.messages)

    def wait_count(self, count: int, timeout: float = 10.0) -> list[InboundMessage]:
        return self.wait_for(lambda msgs: len(msgs) >= count, timeout)

    def wait_payload(self, payload: bytes, timeout: float = 10.0) -> list[InboundMessage]:
        return self.wait_for(lambda msgs: any(m.payload == payload for m in msgs), timeout)

    def payloads(self) -> list[bytes]:
        with self._cond:
            return [m.payload for m in self.messages]

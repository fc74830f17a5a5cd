"""The phone channel: `NotifyMessage` JSON on `{prefix}/workers/{worker_id}/notify`, QoS 1, not retained.

Uses `MqttConnection` (persistent session, reconnect with backoff, transition logging) with one
addition it lacks: the per-message PUBACK. `MqttConnection.publish` answers only "queued"; a push
is delivered when the broker has it, so this subclass keeps paho's message info and waits on it.

A message published while the broker is away stays in paho's queue and goes out on reconnect
(paho resends unacknowledged QoS 1 messages then too). A retry of the same delivery therefore waits
for the message already queued instead of publishing it again; only a restart republishes.
"""

from __future__ import annotations

import logging
import threading
import time

from paho.mqtt.client import MQTTMessageInfo
from paho.mqtt.enums import MQTTErrorCode

from dispatch.push.base import DeliveryError, Outgoing, UndeliverableError
from dispatch.push.config import MQTT_QOS
from ingest.config import MqttConfig
from ingest.mqtt_client import MqttConnection
from ingest.topics import Topics

log = logging.getLogger(__name__)

_TOPIC_UNSAFE = frozenset("/+#\0")
_WAIT_SLICE_S = 0.2  # how soon a waiting attempt notices close()


class AckedConnection(MqttConnection):
    """MqttConnection whose publish returns paho's message info, to wait for the PUBACK."""

    def publish_tracked(self, topic: str, payload: bytes) -> MQTTMessageInfo:
        info = self._client.publish(topic, payload, qos=MQTT_QOS, retain=False)
        if info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN:
            # Queued for the next connection; paho's waits refuse a non-zero rc, and this one is not an error.
            info.rc = MQTTErrorCode.MQTT_ERR_SUCCESS
        with self._lock:
            if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
                self.published += 1
            else:
                self.dropped += 1
        return info


class MqttNotifyChannel:
    kind = "mqtt"

    def __init__(self, mqtt: MqttConfig, *, client_id: str, topic_prefix: str, ack_timeout_s: float) -> None:
        self.topics = Topics(topic_prefix)
        self.ack_timeout_s = ack_timeout_s
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._inflight: dict[str, MQTTMessageInfo] = {}  # delivery key -> the message paho holds for it
        self.connection = AckedConnection(mqtt, client_id, persistent=True)

    def start(self) -> MqttNotifyChannel:
        self.connection.start()
        return self

    def ready(self) -> bool:
        return self.connection.connected.is_set()

    def deliver(self, address: str, outgoing: Outgoing) -> None:
        if not address or _TOPIC_UNSAFE & set(address):
            raise UndeliverableError(f"worker id {address!r} cannot form an MQTT topic")
        with self._lock:
            info = self._inflight.get(outgoing.key)
        if info is None:
            payload = outgoing.message.model_dump_json().encode()
            info = self.connection.publish_tracked(self.topics.worker_notify(address), payload)
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                raise DeliveryError(f"MQTT publish not queued ({info.rc.name})")
            with self._lock:
                self._inflight[outgoing.key] = info
        deadline = time.monotonic() + self.ack_timeout_s
        while not info.is_published():
            remaining = deadline - time.monotonic()
            if self._closed.is_set() or remaining <= 0:
                raise DeliveryError("no PUBACK yet (the message stays queued for the broker)")
            info.wait_for_publish(min(remaining, _WAIT_SLICE_S))
        with self._lock:
            self._inflight.pop(outgoing.key, None)

    def forget(self, key: str) -> None:
        """The pusher gave the delivery up: stop tracking it (paho may still send it)."""
        with self._lock:
            self._inflight.pop(key, None)

    def close(self) -> None:
        self._closed.set()
        self.connection.stop()

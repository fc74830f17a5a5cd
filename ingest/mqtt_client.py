"""A thin wrapper over paho-mqtt 2.x (MQTT v5, or 3.1.1) for the edge worker, dispatch and simulators.

What it adds to paho: a persistent session by default (QoS 1 messages published while the
worker is away wait for it at the broker), bounded in-flight windows both ways, re-subscribe
on every connect, start without a broker (paho's loop retries with backoff), one log line
per connection transition instead of one per retry, a frozen `InboundMessage`, manual
acknowledgement that is safe across reconnects, counters, and a user callback that can
never kill the network loop.

MQTT 3.1.1 (`MqttConfig.protocol = "3.1.1"`, for brokers without v5 such as the embedded demo
broker): the persistent session is clean_session=False and lasts as long as the broker keeps it
(no session expiry), the broker's in-flight window to us is its own (no ReceiveMaximum), and
user properties on publish are dropped. Manual ack works the same.

The network loop is one thread: `on_message` must stay short (hand work to a queue).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ingest.config import MqttConfig, secret

log = logging.getLogger(__name__)

DEFAULT_MAX_QUEUED = 100_000  # outgoing QoS>0 messages held while the broker is slow or away


@dataclass(frozen=True, slots=True)
class InboundMessage:
    topic: str
    payload: bytes
    qos: int
    mid: int
    user_properties: dict[str, str]
    received_at: float  # wall clock, time.time()
    retain: bool = False
    dup: bool = False
    # The session the message arrived in: an ack is only meaningful within that session.
    session: int = field(default=0, repr=False)


class MqttConnection:
    """One MQTT client (v5 or 3.1.1) with its network thread. Thread-safe: publish and ack from any thread."""

    def __init__(
        self,
        config: MqttConfig,
        client_id: str,
        *,
        subscriptions: list[str] | None = None,
        on_message: Callable[[InboundMessage], None] | None = None,
        manual_ack: bool = False,
        persistent: bool = True,
        password: str | None = None,
        max_queued: int = DEFAULT_MAX_QUEUED,
    ) -> None:
        self.config = config
        self.client_id = client_id
        self.subscriptions = list(subscriptions or [])
        self.manual_ack = manual_ack
        self.persistent = persistent
        self._on_message = on_message
        self.connected = threading.Event()
        # Set once the broker acknowledged the subscriptions of this connection: only then are
        # messages on them delivered to a new session.
        self.subscribed = threading.Event()
        self._subscribe_mid: int | None = None

        self._lock = threading.Lock()
        self._stopping = False
        self._link: str | None = None  # "up" | "down": what was logged last
        self._session = 0
        self.received = 0
        self.published = 0
        self.delivered = 0
        self.dropped = 0
        self.reconnects = 0
        self.connects = 0
        self.callback_errors = 0
        self.v5 = config.protocol == "5"
        self._dropped_properties_logged = False

        client = paho.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=paho.MQTTv5 if self.v5 else paho.MQTTv311,
            # 3.1.1 only: a persistent session is clean_session=False (v5 uses clean_start at connect).
            clean_session=None if self.v5 else not persistent,
            manual_ack=manual_ack,
        )
        client.reconnect_delay_set(config.reconnect_min_s, config.reconnect_max_s)  # type: ignore[arg-type]
        client.max_inflight_messages_set(config.max_inflight)
        client.max_queued_messages_set(max_queued)
        if config.username:
            client.username_pw_set(config.username, password if password is not None else secret(config.password_env))
        if config.tls:  # verified against ca_file (or the system's CAs), host name checked
            client.tls_set(ca_certs=str(config.ca_file) if config.ca_file else None,
                           certfile=str(config.cert_file) if config.cert_file else None,
                           keyfile=str(config.key_file) if config.key_file else None)
        client.on_connect = self._handle_connect
        client.on_connect_fail = self._handle_connect_fail
        client.on_disconnect = self._handle_disconnect
        client.on_message = self._handle_message
        client.on_publish = self._handle_publish
        client.on_subscribe = self._handle_subscribe
        self._client = client

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> MqttConnection:
        """Connect in the background; a broker that is down is retried with backoff, forever."""
        self._stopping = False
        if self.v5:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self.config.session_expiry_s if self.persistent else 0
            props.ReceiveMaximum = self.config.max_inflight  # the broker keeps at most this many unacked
            self._client.connect_async(
                self.config.host,
                self.config.port,
                keepalive=self.config.keepalive_s,
                clean_start=not self.persistent,
                properties=props,
            )
        else:
            self._client.connect_async(self.config.host, self.config.port, keepalive=self.config.keepalive_s)
        self._client.loop_start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Disconnect and end the network thread. The persistent session stays at the broker."""
        self._stopping = True
        try:
            self._client.disconnect()
        except Exception:  # already gone: nothing to tell the broker
            log.debug("disconnect failed", exc_info=True)
        # loop_stop() joins without a limit; a stuck socket must not hang shutdown, so join
        # paho's thread (no public handle on it) with a limit first.
        thread: threading.Thread | None = getattr(self._client, "_thread", None)
        self._client._thread_terminate = True
        if thread is not None:
            thread.join(timeout)
        if thread is None or not thread.is_alive():
            self._client.loop_stop()
        else:
            log.warning("MQTT %s: network thread did not stop within %.0f s", self.client_id, timeout)
        self.connected.clear()
        self.subscribed.clear()

    def __enter__(self) -> MqttConnection:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def wait_connected(self, timeout: float | None = None) -> bool:
        return self.connected.wait(timeout)

    def wait_subscribed(self, timeout: float | None = None) -> bool:
        """Connected and the broker has acknowledged this connection's subscriptions."""
        return self.subscribed.wait(timeout)

    def add_subscription(self, topic: str) -> None:
        """Subscribe now (when connected) and after every reconnect."""
        if topic not in self.subscriptions:
            self.subscriptions.append(topic)
        if self.connected.is_set():
            self._client.subscribe([(topic, 1)])

    # --- publish and ack ----------------------------------------------------------------

    def publish(
        self,
        topic: str,
        payload: bytes,
        qos: int = 1,
        retain: bool = False,
        user_properties: dict[str, str] | None = None,
    ) -> bool:
        """Queue one message; never blocks. QoS>0 messages wait in the queue while disconnected.

        False when it was not accepted: the outgoing queue is full, or QoS 0 while disconnected.
        """
        props = None
        if user_properties and not self.v5:
            if not self._dropped_properties_logged:
                self._dropped_properties_logged = True
                log.debug("MQTT %s: 3.1.1 has no user properties; dropping them on publish", self.client_id)
        elif user_properties:
            props = Properties(PacketTypes.PUBLISH)
            props.UserProperty = [(str(k), str(v)) for k, v in user_properties.items()]
        info = self._client.publish(topic, payload, qos=qos, retain=retain, properties=props)
        accepted = info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS or (qos > 0 and info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN)
        with self._lock:
            if accepted:
                self.published += 1
            else:
                self.dropped += 1
        return accepted

    @property
    def pending(self) -> int:
        """Messages accepted by publish() and not yet sent (QoS 0) or acknowledged (QoS 1)."""
        with self._lock:
            return self.published - self.delivered

    def flush(self, timeout: float) -> bool:
        """Wait until every accepted message is delivered; False on timeout."""
        deadline = time.monotonic() + timeout
        while self.pending > 0:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True

    def ack(self, msg: InboundMessage) -> bool:
        """Acknowledge a message received with manual_ack (any thread).

        Skipped (False) when the session it came in has since been lost: its packet id may
        now name another message. Within a resumed session the broker redelivers with the
        same id, so the ack is still right.
        """
        if not self.manual_ack or msg.qos == 0:
            return True
        with self._lock:
            if msg.session != self._session:
                return False
            rc = self._client.ack(msg.mid, msg.qos)
        return rc == MQTTErrorCode.MQTT_ERR_SUCCESS

    def counters(self) -> dict[str, int]:
        with self._lock:
            return {
                "received": self.received,
                "published": self.published,
                "delivered": self.delivered,
                "dropped": self.dropped,
                "reconnects": self.reconnects,
                "callback_errors": self.callback_errors,
            }

    # --- paho callbacks (network thread) ------------------------------------------------

    def _handle_connect(self, client: paho.Client, _userdata: Any, flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            # Refused (bad credentials, not authorised): paho retries; log once per transition.
            self._log_down(f"broker refused the connection: {reason}")
            return
        with self._lock:
            if not flags.session_present:
                self._session += 1
            if self.connects:
                self.reconnects += 1
            self.connects += 1
        if self.subscriptions:
            _result, self._subscribe_mid = client.subscribe([(topic, 1) for topic in self.subscriptions])
        else:
            self.subscribed.set()
        if self._link != "up":
            self._link = "up"
            log.info(
                "MQTT %s connected to %s:%s (session %s)",
                self.client_id, self.config.host, self.config.port,
                "resumed" if flags.session_present else "new",
            )
        self.connected.set()

    def _handle_connect_fail(self, _client: paho.Client, _userdata: Any) -> None:
        self._log_down(f"cannot reach the broker at {self.config.host}:{self.config.port}")

    def _handle_subscribe(self, _client: paho.Client, _userdata: Any, mid: int, reasons: Any, _props: Any) -> None:
        if mid != self._subscribe_mid:
            return
        refused = [r for r in reasons if getattr(r, "is_failure", False)]
        if refused:
            log.error("MQTT %s: the broker refused a subscription: %s", self.client_id, refused)
        self.subscribed.set()

    def _handle_disconnect(self, _client: paho.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        self.connected.clear()
        self.subscribed.clear()
        if self._stopping:
            if self._link == "up":
                log.info("MQTT %s disconnected", self.client_id)
            self._link = None
            return
        self._log_down(f"connection lost ({reason})")

    def _log_down(self, why: str) -> None:
        if self._link != "down":
            self._link = "down"
            log.warning(
                "MQTT %s: %s; retrying every %g-%g s",
                self.client_id, why, self.config.reconnect_min_s, self.config.reconnect_max_s,
            )

    def _handle_publish(self, _client: paho.Client, _userdata: Any, _mid: int, _reason: Any, _props: Any) -> None:
        with self._lock:
            self.delivered += 1

    def _handle_message(self, _client: paho.Client, _userdata: Any, message: paho.MQTTMessage) -> None:
        self.received += 1  # only this thread writes it
        callback = self._on_message
        if callback is None:
            return
        props = message.properties
        pairs = getattr(props, "UserProperty", None) if props is not None else None
        inbound = InboundMessage(
            topic=message.topic,
            payload=message.payload,
            qos=message.qos,
            mid=message.mid,
            user_properties=dict(pairs) if pairs else {},
            received_at=time.time(),
            retain=message.retain,
            dup=bool(message.dup),
            session=self._session,
        )
        try:
            callback(inbound)
        except Exception:
            self.callback_errors += 1
            if self.callback_errors == 1:
                log.exception("on_message failed on %s (later failures are logged at DEBUG)", message.topic)
            else:
                log.debug("on_message failed on %s", message.topic, exc_info=True)
            # A message that crashes the handler would crash it again when redelivered, and
            # unacked it holds one of the broker's in-flight slots for good: ack it.
            if self.manual_ack:
                self.ack(inbound)

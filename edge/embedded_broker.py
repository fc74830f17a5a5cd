"""An MQTT broker inside this process, for `gridwatch demo` on a machine without Mosquitto.

For the demo only, never for production. It runs amqtt (pure Python) on 127.0.0.1 in a
background thread with its own event loop. Its limits, measured on the 2-core dev machine:

- MQTT 3.1.1 only: a v5 CONNECT is refused, so every client of it needs
  `MqttConfig(protocol="3.1.1")` (no user properties, no session expiry, no receive maximum).
- No shared subscriptions: `$share/...` is accepted but delivers nothing.
- Throughput: about 4.4k QoS 1 messages/s (200 B) with the clients in another process, about
  2.4k when they share this process and its GIL (as in the demo); Mosquitto carries 10k+.
  QoS 0 messages are buffered without bound for a slow subscriber.
- Weaker QoS 1: amqtt waits 5 s for a PUBACK and then gives the message up, so a message a
  client has not acknowledged within 5 s is not redelivered after it reconnects, and messages
  in flight at the moment a client disconnects can be lost (3 of 100 in one test).
- In memory only: persistent sessions (clean_session=False) and their queued QoS 1 messages
  last while this process runs; nothing survives a restart.
- Loopback only, no authentication, no TLS.

Use Mosquitto (edge.broker.Mosquitto) for anything beyond a look at the demo.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from dataclasses import dataclass
from typing import Any

from amqtt.broker import Broker
from amqtt.plugins.base import BaseAuthPlugin
from amqtt.session import Session

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
LIMITS = ("MQTT 3.1.1 only, no shared subscriptions, a few thousand msg/s, QoS 1 given up after 5 s unacked, "
          "in memory only (nothing survives a restart); for the demo, never production")


class LoopbackAuthPlugin(BaseAuthPlugin):
    """Lets every client in without marking it anonymous.

    amqtt's AnonymousAuthPlugin flags sessions as anonymous, and amqtt then neither keeps their
    persistent session nor queues QoS 1 messages for them while they are away; the edge worker
    relies on both. The listener is on loopback, so accepting everyone is no wider than that.
    """

    @dataclass
    class Config:
        pass

    async def authenticate(self, *, session: Session) -> bool:
        return True


class EmbeddedBroker:
    """amqtt on 127.0.0.1:`port` (None: a free port chosen by the OS) in a thread of its own."""

    def __init__(self, port: int | None = None) -> None:
        self._requested_port = port or 0
        self.port: int | None = port
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._broker: Broker | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the embedded broker is not started: its port is not known yet")
        return f"mqtt://{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 10.0) -> EmbeddedBroker:
        """Listen, then return; raises RuntimeError when the broker cannot start (port taken)."""
        if self.running:
            return self
        _quiet_amqtt_logs()
        ready: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="embedded-mqtt-broker", daemon=True)
        self._thread.start()
        try:
            self.port = ready.result(timeout)
        except concurrent.futures.TimeoutError:
            self.stop()
            raise RuntimeError(f"the embedded MQTT broker did not start within {timeout:.0f} s") from None
        except Exception as exc:
            self._thread.join(timeout)
            raise RuntimeError(f"the embedded MQTT broker could not start: {exc}") from exc
        log.info("embedded MQTT broker (amqtt) listening on %s", self.url)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Disconnect every client and close the listener; its sessions and queued messages are lost."""
        loop, stop, thread = self._loop, self._stop, self._thread
        if loop is not None and stop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:  # the loop closed in between: already stopped
                pass
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("embedded MQTT broker did not stop within %.0f s", timeout)
        self._thread = None

    def connected(self, client_id: str, timeout: float = 5.0) -> bool:
        """Whether the broker holds a connected session for `client_id` (tests wait on this)."""
        loop = self._loop
        if loop is None or not self.running:
            return False
        return asyncio.run_coroutine_threadsafe(self._connected(client_id), loop).result(timeout)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # --- broker thread --------------------------------------------------------------------

    def _run(self, ready: concurrent.futures.Future[int]) -> None:
        try:
            asyncio.run(self._serve(ready))
        except Exception as exc:
            if not ready.done():
                ready.set_exception(exc)
            else:
                log.exception("embedded MQTT broker failed")

    async def _serve(self, ready: concurrent.futures.Future[int]) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        # amqtt's Broker() must be built inside a running loop.
        broker = self._broker = Broker(_config(self._requested_port))
        await broker.start()
        try:
            ready.set_result(_bound_port(broker, self._requested_port))
            await self._stop.wait()
        finally:
            # Messages still on their way to clients that have gone are expected at shutdown;
            # amqtt logs each with a traceback at ERROR.
            broker_log = logging.getLogger("amqtt.broker")
            level = broker_log.level
            broker_log.setLevel(logging.CRITICAL)
            try:
                await broker.shutdown()
            finally:
                broker_log.setLevel(level)


    async def _connected(self, client_id: str) -> bool:
        held = self._broker.sessions.get(client_id) if self._broker is not None else None
        return held is not None and held[0].transitions.state == "connected"


def _config(port: int) -> dict[str, Any]:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{HOST}:{port}"}},
        # No $SYS publisher, no per-packet logging: fewer tasks competing with the demo's traffic.
        "plugins": {f"{__name__}.LoopbackAuthPlugin": {}},
    }


def _bound_port(broker: Broker, requested: int) -> int:
    if requested:
        return requested
    # Port 0 lets the OS choose, with no window for another process to take it; amqtt has no
    # public accessor for the port it got, so read it from its listening socket.
    server = broker._servers["default"].instance
    sockets = getattr(server, "sockets", None) or ()
    for sock in sockets:
        return int(sock.getsockname()[1])
    raise RuntimeError("amqtt did not report its listening socket")


def _quiet_amqtt_logs() -> None:
    # amqtt logs every connection and disconnection at INFO; keep its warnings and errors.
    for name in ("amqtt", "transitions"):
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)

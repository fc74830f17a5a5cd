"""uvicorn's HTTP/1.1 protocol with the two bounds it lacks: a deadline for a request's headers and a cap on
open connections.

uvicorn closes idle keep-alive connections (`timeout_keep_alive`) but puts no deadline on a fresh
connection that sends nothing, or its headers a byte at a time: a thousand such sockets hold every file
descriptor and the edge's POSTs time out. Here a connection whose request line and headers are not in
within `header_timeout_s` is closed, and one opened while `max_connections` are open is closed at once
(freeing its descriptor before the process runs out of them), with one log line per burst, not one each.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

REFUSAL_LOG_EVERY_S = 10.0


class GuardedH11Protocol(H11Protocol):
    header_timeout_s: float = 10.0
    max_connections: int = 1000
    _refused = 0
    _refused_logged_at = 0.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            self._refuse()
            return
        self._arm_header_deadline()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._arm_header_deadline()  # still reading a request line and headers (a new one after keep-alive too)
        else:
            self._disarm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def _arm_header_deadline(self) -> None:
        if self._header_deadline is None:
            self._header_deadline = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _disarm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()  # no answer: a client that sends nothing reads nothing either

    def _refuse(self) -> None:
        self.transport.close()
        cls = type(self)
        cls._refused += 1
        now = time.monotonic()
        if now - cls._refused_logged_at >= REFUSAL_LOG_EVERY_S:
            cls._refused_logged_at = now
            log.warning("over %d open connections: new ones are closed at once (%d so far)", self.max_connections,
                        cls._refused)


def guarded_protocol(header_timeout_s: float, max_connections: int) -> type[GuardedH11Protocol]:
    """The protocol class with these bounds (uvicorn takes a class; one per server keeps their counts apart)."""
    return type("GuardedH11Protocol", (GuardedH11Protocol,),
                {"header_timeout_s": header_timeout_s, "max_connections": max_connections})

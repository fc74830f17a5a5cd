"""Which replica sends the pushes: the one holding a PostgreSQL session advisory lock.

A push is a side effect outside the database (an MQTT publish, an SMS gateway call), so it cannot
be claimed and done in one transaction the way an SLA timer is; and the pusher keeps each target's
order and backoff in memory. So one replica at a time runs it: every replica tries
`pg_try_advisory_lock` every `poll_s`, and the holder runs a Pusher on the ledger in the database.
When the holder dies (even by kill -9) PostgreSQL ends its session and frees the lock; the next
replica to try takes over the shared cursor and the pending deliveries. Delivery stays
at-least-once: a leader killed between a phone's acknowledgement and the ledger's mark repeats
that one push; nothing is lost or sent by two replicas at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from dispatch.push.ledger import Ledger
from dispatch.push.pusher import Pusher
from dispatch.store_db import PgDb
from dispatch.store_pg import PostgresStore

log = logging.getLogger(__name__)

PUSH_LOCK_KEY = 0x70757368  # "push"


class PushLeadership:
    def __init__(self, store: PostgresStore, make_pusher: Callable[[Ledger], Pusher], *, poll_s: float = 1.0,
                 on_change: Callable[[Pusher | None], None] = lambda _p: None) -> None:
        self.store = store
        self.make_pusher = make_pusher
        self.poll_s = poll_s
        self.on_change = on_change
        self.pusher: Pusher | None = None
        self._lock_conn: PgDb | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="push-leader", daemon=True)

    @property
    def leading(self) -> bool:
        return self.pusher is not None

    def start(self) -> PushLeadership:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self.poll_s * 3 + 10)
        self._step_down("this replica is stopping")

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.pusher is None:
                    self._try_lead()
                else:
                    self._lock_conn.execute("SELECT 1")  # type: ignore[union-attr]  # the lock lives with it
            except Exception as exc:
                self._step_down(f"the lock's connection failed ({exc})")
            self._stop.wait(self.poll_s)

    def _try_lead(self) -> None:
        if self._lock_conn is None or self._lock_conn.broken:
            self._lock_conn = self.store.connect("gridwatch-dispatch-push-lock")
        got = self._lock_conn.execute("SELECT pg_try_advisory_lock(?)", (PUSH_LOCK_KEY,)).fetchone()[0]
        if not got or self._stop.is_set():
            if got:
                self._lock_conn.execute("SELECT pg_advisory_unlock(?)", (PUSH_LOCK_KEY,))
            return
        pusher = self.make_pusher(Ledger.on(self.store.connect("gridwatch-dispatch-push")))
        pusher.start()
        self.pusher = pusher
        log.info("push: this replica now sends the pushes (it holds the push lock)")
        self.on_change(pusher)

    def _step_down(self, why: str) -> None:
        pusher, self.pusher = self.pusher, None
        if pusher is not None:
            log.warning("push: this replica stops sending pushes: %s", why)
            self.on_change(None)
            try:
                pusher.stop()
            except Exception:  # its ledger's connection may be the broken one
                log.debug("push: stopping the pusher failed", exc_info=True)
        conn, self._lock_conn = self._lock_conn, None
        if conn is not None:
            try:
                conn.close()  # ends the session, and with it the lock
            except Exception:
                log.debug("push: closing the lock connection failed", exc_info=True)

"""Fires the SLA timers: a thread that sleeps until the next one is due.

The timers live in the store, so a restart loses none: a deadline that passed while
dispatch was down fires on the first pass after it starts.
"""

from __future__ import annotations

import logging
import threading
import time

from dispatch.service import DispatchService

log = logging.getLogger(__name__)


class SlaScheduler:
    def __init__(self, service: DispatchService, max_sleep_s: float = 0.5) -> None:
        self.service = service
        self.max_sleep_s = max_sleep_s  # new timers are picked up within this
        self.fired = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sla-scheduler", daemon=True)

    def start(self) -> SlaScheduler:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.fired += self.service.fire_due()
                due = self.service.store.next_due()
            except Exception:  # the store is busy or closing: try again, never die silently
                log.exception("SLA timers: a pass failed; retrying")
                due = None
            wait = self.max_sleep_s if due is None else min(self.max_sleep_s, max(0.0, due - time.time()))
            self._stop.wait(wait)

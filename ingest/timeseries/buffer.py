"""The batching both stores share: buffer in memory, flush by size or interval, survive failures.

Writes from the worker only append to a list; a background thread hands batches to the
store. A store that fails keeps its batch buffered (up to `max_buffered` points, oldest
dropped and counted beyond) and is retried at the next interval; its failure is logged on
the transition, not on every retry. Nothing here raises into the worker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from ingest.wire.alert import Alert
from ingest.wire.water import Reading

log = logging.getLogger(__name__)


class BufferedWriter:
    """Base of the time-series writers: subclasses implement `_store` and `_close_store`."""

    name = "time series"

    def __init__(self, batch_size: int, flush_interval_s: float, max_buffered: int | None = None) -> None:
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        self.max_buffered = max_buffered or max(batch_size * 20, 100_000)
        self._readings: list[Reading] = []
        self._alerts: list[Alert] = []
        self._lock = threading.Condition()
        self._store_lock = threading.Lock()  # one batch at a time goes to the store
        self._closed = False
        self._failing = False
        self.written = 0
        self.failures = 0
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name=f"{type(self).__name__}-flush", daemon=True)
        self._thread.start()

    # --- the TimeSeriesWriter protocol ----------------------------------------------------

    def write_readings(self, readings: Sequence[Reading]) -> None:
        with self._lock:
            if self._closed:
                return
            self._readings.extend(readings)
            if len(self._readings) >= self.batch_size:
                self._lock.notify()

    def write_alert(self, alert: Alert) -> None:
        with self._lock:
            if self._closed:
                return
            self._alerts.append(alert)
            self._lock.notify()  # alerts are few and wanted at once

    def flush(self) -> None:
        """Hand everything buffered to the store now (it stays buffered if the store fails)."""
        self._flush_once()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._lock.notify()
        self._thread.join(timeout=30)
        self._flush_once()
        try:
            self._close_store()
        except Exception:
            log.exception("%s: closing the store failed", self.name)

    @property
    def buffered(self) -> int:
        with self._lock:
            return len(self._readings) + len(self._alerts)

    # --- for subclasses -------------------------------------------------------------------

    def _store(self, readings: list[Reading], alerts: list[Alert]) -> None:
        """Write one batch; raise on failure (the batch is kept and retried)."""
        raise NotImplementedError

    def _close_store(self) -> None:
        """Release the store (called once, after the last flush)."""

    # --- internals ------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._lock:
                deadline = time.monotonic() + self.flush_interval_s
                while not self._closed:
                    # A full batch goes at once, unless the store is failing: then wait out the
                    # interval, so a dead store is not hammered.
                    if not self._failing and (len(self._readings) >= self.batch_size or self._alerts):
                        break
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._lock.wait(remaining)
                if self._closed:
                    return
            self._flush_once()

    def _flush_once(self) -> None:
        with self._store_lock:
            while True:
                with self._lock:
                    readings = self._readings[: self.batch_size]
                    del self._readings[: len(readings)]
                    alerts, self._alerts = self._alerts, []
                if not readings and not alerts:
                    return
                if not self._store_safely(readings, alerts):
                    self._requeue(readings, alerts)
                    return

    def _store_safely(self, readings: list[Reading], alerts: list[Alert]) -> bool:
        try:
            self._store(readings, alerts)
        except Exception as exc:
            self.failures += 1
            if not self._failing:
                self._failing = True
                log.warning("%s: write failed, keeping up to %d points and retrying: %s",
                            self.name, self.max_buffered, exc)
            else:
                log.debug("%s: write failed again: %s", self.name, exc)
            return False
        if self._failing:
            self._failing = False
            log.info("%s: writes succeed again", self.name)
        self.written += len(readings) + len(alerts)
        return True

    def _requeue(self, readings: list[Reading], alerts: list[Alert]) -> None:
        with self._lock:
            self._readings[:0] = readings
            self._alerts[:0] = alerts
            excess = len(self._readings) - self.max_buffered
            if excess > 0:
                del self._readings[:excess]  # the oldest go first
                self.dropped += excess
                log.debug("%s: dropped %d readings, the buffer is full", self.name, excess)

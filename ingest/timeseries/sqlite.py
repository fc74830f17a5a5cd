"""The embedded time series: one SQLite file in WAL mode, no server.

Readings are keyed by (meter_id, ts in ms): a redelivered reading replaces itself instead
of being stored twice. Alert changes are keyed by `Alert.change_key()`. Points older than
`retention_days` behind the newest stored reading (event time, so a replayed scenario is
not pruned against the wall clock) are deleted at open and then hourly.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from ingest.config import TimeSeriesConfig
from ingest.timeseries import alert_time
from ingest.timeseries.buffer import BufferedWriter
from ingest.wire.alert import Alert
from ingest.wire.timestamps import to_epoch_ms
from ingest.wire.water import Reading

log = logging.getLogger(__name__)

PRUNE_EVERY_S = 3600.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    meter_id TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    total_l REAL NOT NULL,
    flow_lpm REAL,
    battery_v REAL,
    seq INTEGER,
    PRIMARY KEY (meter_id, ts_ms)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alert_changes (
    n INTEGER PRIMARY KEY,
    change_key TEXT NOT NULL UNIQUE,
    id TEXT NOT NULL,
    type TEXT NOT NULL,
    state TEXT NOT NULL,
    severity TEXT NOT NULL,
    subject TEXT NOT NULL,
    grid TEXT,
    at_ms INTEGER NOT NULL,
    alert_json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_changes_at ON alert_changes (at_ms);
CREATE INDEX IF NOT EXISTS readings_ts ON readings (ts_ms);  -- for pruning
"""

_UPSERT_READING = """
INSERT INTO readings (meter_id, ts_ms, total_l, flow_lpm, battery_v, seq) VALUES (?, ?, ?, ?, ?, ?)
ON CONFLICT (meter_id, ts_ms) DO UPDATE SET
    total_l = excluded.total_l, flow_lpm = excluded.flow_lpm,
    battery_v = excluded.battery_v, seq = excluded.seq
"""

_INSERT_ALERT = """
INSERT OR IGNORE INTO alert_changes (change_key, id, type, state, severity, subject, grid, at_ms, alert_json)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


def _from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


class SqliteWriter(BufferedWriter):
    name = "sqlite time series"

    def __init__(self, path: Path, config: TimeSeriesConfig | None = None) -> None:
        config = config or TimeSeriesConfig()
        self.path = Path(path)
        self.retention_days = config.retention_days
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection shared by the flush thread and readers, behind a lock.
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db_lock = threading.Lock()
        with self._db_lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        self._last_prune = time.monotonic()
        self.prune()
        super().__init__(config.batch_size, config.flush_interval_ms / 1000)

    def _store(self, readings: list[Reading], alerts: list[Alert]) -> None:
        rows = [
            (r.meter_id, to_epoch_ms(r.ts), r.total_l, r.flow_lpm, r.battery_v, r.seq) for r in readings
        ]
        alert_rows = [
            (
                a.change_key(), a.id, a.type, a.state, a.severity, a.subject, a.grid,
                to_epoch_ms(alert_time(a)),
                # The snapshot can be large and is kept by dispatch; the record keeps the rest.
                json.dumps(a.model_dump(mode="json", exclude={"snapshot_jpeg_b64"}), separators=(",", ":")),
            )
            for a in alerts
        ]
        with self._db_lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(_UPSERT_READING, rows)
                self._db.executemany(_INSERT_ALERT, alert_rows)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        if time.monotonic() - self._last_prune > PRUNE_EVERY_S:
            self._last_prune = time.monotonic()
            self.prune()

    def prune(self, now: datetime | None = None) -> int:
        """Delete points older than the retention behind `now` (default: the newest reading)."""
        if self.retention_days is None:
            return 0
        with self._db_lock:
            if now is None:
                newest = self._db.execute("SELECT MAX(ts_ms) FROM readings").fetchone()[0]
                if newest is None:
                    return 0
            else:
                newest = to_epoch_ms(now)
            cutoff = int(newest - self.retention_days * 86_400_000)
            deleted = self._db.execute("DELETE FROM readings WHERE ts_ms < ?", (cutoff,)).rowcount
            deleted += self._db.execute("DELETE FROM alert_changes WHERE at_ms < ?", (cutoff,)).rowcount
        if deleted:
            log.info("%s: pruned %d points older than %s", self.name, deleted, _from_ms(cutoff).isoformat())
        return deleted

    def _close_store(self) -> None:
        with self._db_lock:
            self._db.close()

    # --- reads (tests, evaluation, the demo); they see what has been flushed ------------------

    def readings(self, meter_id: str, start: datetime | None = None, end: datetime | None = None) -> list[Reading]:
        """Stored readings of one meter in [start, end), oldest first."""
        lo = to_epoch_ms(start) if start else -(2**62)
        hi = to_epoch_ms(end) if end else 2**62
        with self._db_lock:
            rows = self._db.execute(
                "SELECT ts_ms, total_l, flow_lpm, battery_v, seq FROM readings"
                " WHERE meter_id = ? AND ts_ms >= ? AND ts_ms < ? ORDER BY ts_ms",
                (meter_id, lo, hi),
            ).fetchall()
        return [Reading(meter_id, _from_ms(ts), total, flow, battery, seq) for ts, total, flow, battery, seq in rows]

    def alert_changes(self, alert_id: str | None = None) -> list[Alert]:
        """Stored alert changes (without snapshots), in the order they were written."""
        query = "SELECT alert_json FROM alert_changes"
        args: tuple[str, ...] = ()
        if alert_id is not None:
            query += " WHERE id = ?"
            args = (alert_id,)
        with self._db_lock:
            rows = self._db.execute(query + " ORDER BY n", args).fetchall()
        return [Alert.model_validate_json(row[0]) for row in rows]

    def count(self) -> int:
        with self._db_lock:
            return self._db.execute("SELECT COUNT(*) FROM readings").fetchone()[0]

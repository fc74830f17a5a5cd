"""The edge worker's durable state: rule state per meter, small key-values, and the outbox.

A checkpoint writes the rule state that changed and the alert changes it produced in one
SQLite transaction; only then are the MQTT messages behind them acknowledged. A crash
before the checkpoint loses nothing: the broker redelivers, the rules replay from the last
checkpoint, and the outbox ignores a change it already holds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from edge.outbox import Outbox
from ingest.wire.alert import Alert


class EdgeStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # The outbox's own settings (WAL, durable commits, busy timeout); BEGIN/COMMIT are ours.
        self.conn = Outbox.connect(path, autocommit=True)
        self.conn.execute("CREATE TABLE IF NOT EXISTS meter_state (meter_id TEXT PRIMARY KEY, state TEXT NOT NULL)")
        self.conn.execute("CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        Outbox.create_schema(self.conn)

    def load_meter_states(self) -> dict[str, dict[str, Any]]:
        rows = self.conn.execute("SELECT meter_id, state FROM meter_state").fetchall()
        return {meter_id: orjson.loads(state) for meter_id, state in rows}

    def get(self, key: str) -> Any:
        row = self.conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def checkpoint(
        self,
        meter_states: Mapping[str, dict[str, Any]],
        alerts: Sequence[Alert],
        values: Mapping[str, Any] | None = None,
        forget_meters: Sequence[str] = (),
    ) -> int:
        """Persist changed state and new alert changes atomically; returns changes added."""
        with self.conn:  # one transaction: BEGIN ... COMMIT, rolled back on error
            self.conn.execute("BEGIN")
            if forget_meters:
                self.conn.executemany("DELETE FROM meter_state WHERE meter_id = ?", [(m,) for m in forget_meters])
            if meter_states:
                self.conn.executemany(
                    "INSERT INTO meter_state (meter_id, state) VALUES (?, ?) "
                    "ON CONFLICT(meter_id) DO UPDATE SET state = excluded.state",
                    # orjson: the state of every changed meter is encoded at each checkpoint, the
                    # largest cost of the worker with json (bench/README.md).
                    [(m, orjson.dumps(s).decode()) for m, s in meter_states.items()],
                )
            for key, value in (values or {}).items():
                self.conn.execute(
                    "INSERT INTO kv (key, value) VALUES (?, ?) "
                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    (key, json.dumps(value)),
                )
            return Outbox.append(self.conn, alerts) if alerts else 0

    def close(self) -> None:
        self.conn.close()

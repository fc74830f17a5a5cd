"""The elevator episodes still open, persisted, so that a restart can close what the previous run left open.

The e-bike rule and the camera liveness keep their episodes in memory: a worker killed or stopped with one
open would leave that alert active at dispatch for ever (the next run judges the car afresh, and a bike still
there is a new episode with a new id). So the last change of every open episode is kept in a small JSON file
beside the held doors (atomically replaced on every change), and the next run's first act is to clear each
one (`cleared_by: edge_restart`). The snapshot stays in the kept change: the cleared change replaces the
stored alert at dispatch, and the grid worker should still see the frame that decided it.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from ingest.wire.alert import Alert
from rules.reason import with_cleared_reason

log = logging.getLogger(__name__)

RESTART_SUMMARY = (
    "电梯 {eid}：边缘设备重启，此前告警已结束，轿厢将重新判断 / "
    "elevator {eid}: the edge restarted; this alert is closed and the car is judged afresh"
)


class OpenEpisodes:
    """Thread-safe: changes come from the detector thread (e-bike) and the watchdog thread (camera offline)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._open: dict[str, Alert] = {}

    def record(self, alerts: Iterable[Alert]) -> None:
        """Keep each active change as its episode's last; forget a cleared one. Call before the outbox append:
        a kill between the two then leaves a restart clearing an episode dispatch never saw (harmless), never
        an active one it cannot clear."""
        with self._lock:
            before = dict(self._open)
            for alert in alerts:
                if alert.state == "active":
                    self._open[alert.id] = alert
                else:
                    self._open.pop(alert.id, None)
            if self._open != before:
                self._save()

    def left_open(self, now: datetime) -> list[Alert]:
        """At start: a `cleared` change for each episode the previous run left open (it forgets none yet:
        call `forget` once those changes are in the outbox)."""
        try:
            rows = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            log.error("cannot read the open elevator episodes of the previous run from %s: %s", self.path, exc)
            return []
        cleared = []
        for row in rows if isinstance(rows, list) else []:
            try:
                last = Alert.model_validate(row)
            except ValidationError as exc:
                log.error("skipping an unreadable open episode in %s: %s", self.path, exc)
                continue
            cleared.append(restart_clear(last, now))
        return cleared

    def forget_all(self) -> None:
        with self._lock:
            self._open.clear()
            self._save()

    def ids(self) -> list[str]:
        with self._lock:
            return list(self._open)

    def _save(self) -> None:
        """Called with the lock held."""
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps([a.model_dump(mode="json") for a in self._open.values()]), encoding="utf-8")
        os.replace(tmp, self.path)


def restart_clear(last: Alert, now: datetime) -> Alert:
    """The `cleared` change that ends an episode a previous run left open: the next revision, cleared now."""
    return last.model_copy(update={
        "state": "cleared",
        "cleared_at": now,
        "revision": (last.revision or 0) + 1,
        "summary": RESTART_SUMMARY.format(eid=last.subject),
        "evidence": with_cleared_reason(last.type, last.subject, {**last.evidence, "cleared_by": "edge_restart"}),
    })

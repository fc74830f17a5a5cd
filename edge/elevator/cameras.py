"""Camera liveness: a registered camera that sends no frame for `silent_s` raises `elevator.camera_offline`.

Only cameras in the registry are watched: an id nobody registered (a typo, a test, a flood of made-up
topics) never raises an offline alert nobody can clear, and takes no room here. Silence is judged on the
wall clock (a silent camera has no event time); the episode starts at its last frame (or at the
worker's start for a registry camera never heard from) and clears at the first frame that comes back.
Fire on the transition, clear on recovery, once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import UTC, datetime

from ingest.wire.alert import AlertType
from rules.episode import AlertChange, EpisodeBook

OFFLINE: AlertType = "elevator.camera_offline"


def _at(wall: float) -> datetime:
    return datetime.fromtimestamp(round(wall, 3), tz=UTC)


class CameraLiveness:
    """Thread-safe: `seen` is called from the MQTT and source threads, `check` from the watchdog."""

    def __init__(self, silent_s: float, known: Iterable[str] = (), *, started: float) -> None:
        self.silent_s = silent_s
        self._lock = threading.Lock()
        self._last: dict[str, float] = dict.fromkeys(known, started)
        self._watched = frozenset(self._last)
        self._heard: set[str] = set()
        self._book = EpisodeBook()

    def seen(self, elevator_id: str, wall: float) -> None:
        if elevator_id not in self._watched:
            return
        with self._lock:
            if wall > self._last.get(elevator_id, 0.0):
                self._last[elevator_id] = wall
            self._heard.add(elevator_id)

    def check(self, wall: float) -> list[AlertChange]:
        """Raise for cameras silent too long, clear those that sent a frame since; call it often."""
        changes: list[AlertChange] = []
        with self._lock:
            for eid, last in self._last.items():
                silent = wall - last
                is_open = self._book.is_open(OFFLINE, eid)
                if silent > self.silent_s and not is_open:
                    what = f"camera never sent a frame in {silent:.0f} s" if eid not in self._heard else \
                        f"no frame for {silent:.0f} s"
                    change = self._book.raise_or_update(
                        OFFLINE, eid, "warning", _at(last), _at(wall),
                        f"电梯 {eid} 摄像头离线 / elevator {eid} camera offline: {what}",
                        {"last_frame_at": _at(last).isoformat() if eid in self._heard else None,
                         "silent_s": round(silent, 1), "camera_silent_s": self.silent_s},
                    )
                    if change:
                        changes.append(change)
                elif silent <= self.silent_s and is_open:
                    change = self._book.clear(
                        OFFLINE, eid, _at(last), f"电梯 {eid} 摄像头恢复 / elevator {eid} camera back online",
                        {"back_at": _at(last).isoformat()},
                    )
                    if change:
                        changes.append(change)
        return changes

    def states(self, wall: float) -> dict[str, dict[str, object]]:
        with self._lock:
            return {
                eid: {"silent_s": round(wall - last, 1), "offline": self._book.is_open(OFFLINE, eid),
                      "heard": eid in self._heard}
                for eid, last in self._last.items()
            }

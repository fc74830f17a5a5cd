"""Door linkage: the commands the edge sends to the elevator box, and the doors it holds.

An elevator is never held by a dead program. Three guards make sure of it:
- a watchdog thread releases a held door whose camera has not been judged for `watchdog_s`
  (the detector stalled or died, the camera is gone) and any hold older than `max_hold_s`;
- a worker that stops releases every door it holds before it disconnects;
- the held set is persisted (a small JSON file, atomically replaced), so a worker killed with
  `kill -9` (which can release nothing) is followed by one that releases those doors first
  thing at its start. Between the kill and the restart the box's own timeout is the last guard.
A watchdog release is remembered with its alert: when judging resumes and the rule still confirms the bike
of that open episode, the pipeline holds the door again (`rehold_due`), keeping the first hold's start so
that `max_hold_s` bounds the episode's holds together. A `max_hold_s` release is final for its episode.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest.topics import Topics
from ingest.wire.elevator import CommandAction, ElevatorCommand

log = logging.getLogger(__name__)

REANNOUNCE_S = 15.0  # the rider may not have heard it the first time
WATCHDOG_EVERY_S = 0.25


@dataclass(slots=True)
class Hold:
    alert_id: str | None
    since: float  # wall clock, epoch s
    text: str | None = None  # the announcement, repeated while the door is held
    announced: float = 0.0  # wall clock of the last announcement


@dataclass(slots=True, frozen=True)
class Release:
    """A hold the linkage ended by itself (not the rule): may the door be held again for the same alert?"""

    alert_id: str | None
    since: float  # when the released hold began
    final: bool  # released after max_hold_s: no new hold until the episode clears


def _now_dt(wall: float) -> datetime:
    return datetime.fromtimestamp(wall, tz=UTC)


class DoorLinkage:
    """Publishes `ElevatorCommand`s on `{prefix}/elevator/{id}/command` (QoS 1) and keeps the held set."""

    def __init__(
        self, publish: Callable[..., object], topics: Topics, state_path: Path, *, watchdog_s: float,
        max_hold_s: float, reannounce_s: float = REANNOUNCE_S,
    ) -> None:
        self._publish = publish
        self._topics = topics
        self.state_path = state_path
        self.watchdog_s = watchdog_s
        self.max_hold_s = max_hold_s
        self.reannounce_s = reannounce_s
        self._lock = threading.Lock()
        self._held: dict[str, Hold] = {}
        self._released: dict[str, Release] = {}  # by elevator: the last release by the watchdog
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.sent: dict[str, int] = {}
        self.watchdog_releases = 0
        self.max_hold_releases = 0
        self.restart_releases = 0

    # ---- commands -------------------------------------------------------------------------
    def send(self, elevator_id: str, command: ElevatorCommand) -> None:
        """Publish one command from the rule and keep the held set in step with it."""
        wall = time.time()
        with self._lock:
            if command.action == "hold_door":
                before = self._released.pop(elevator_id, None)
                again = before is not None and before.alert_id == command.alert_id
                self._held[elevator_id] = Hold(command.alert_id, before.since if again else wall)
            elif command.action == "release_door":
                self._held.pop(elevator_id, None)
                self._released.pop(elevator_id, None)  # the episode is over
            elif command.action == "announce" and elevator_id in self._held:
                hold = self._held[elevator_id]
                hold.text, hold.announced = command.text, wall
            self._save()
        self._emit(elevator_id, command)

    def release(self, elevator_id: str, why: str, *, remember: Release | None = None) -> bool:
        """Release a held door outside the rule (watchdog, stop); the alert itself stays as it is."""
        with self._lock:
            hold = self._held.pop(elevator_id, None)
            if hold is None:
                return False
            if remember is not None:
                self._released[elevator_id] = remember
            self._save()
        log.warning("releasing the door of elevator %s (alert %s): %s", elevator_id, hold.alert_id, why)
        self._command(elevator_id, "release_door", hold.alert_id)
        return True

    def rehold_due(self, elevator_id: str, alert_id: str, wall: float) -> bool:
        """True when the watchdog released this door for this alert, and not for being held too long."""
        with self._lock:
            if elevator_id in self._held:
                return False
            last = self._released.get(elevator_id)
            return bool(last and last.alert_id == alert_id and not last.final and wall - last.since < self.max_hold_s)

    def release_all(self, why: str) -> int:
        return sum(self.release(eid, why) for eid in self.held())

    def held(self) -> dict[str, Hold]:
        with self._lock:
            return {eid: Hold(h.alert_id, h.since, h.text, h.announced) for eid, h in self._held.items()}

    def release_left_over(self) -> int:
        """At start: release every door a previous run still held (it was killed before it could)."""
        try:
            rows: dict[str, Any] = json.loads(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return 0
        except (OSError, ValueError) as exc:
            log.error("cannot read the held doors of the previous run from %s: %s", self.state_path, exc)
            return 0
        for eid, row in rows.items():
            log.warning("releasing the door of elevator %s left held by the previous run (alert %s)",
                        eid, row.get("alert_id"))
            self._command(eid, "release_door", row.get("alert_id"))
        self.restart_releases += len(rows)
        with self._lock:
            self._save()  # what we hold now: nothing yet
        return len(rows)

    def _command(self, elevator_id: str, action: CommandAction, alert_id: str | None, text: str | None = None) -> None:
        self._emit(elevator_id, ElevatorCommand(action=action, alert_id=alert_id, text=text, ts=_now_dt(time.time())))

    def _emit(self, elevator_id: str, command: ElevatorCommand) -> None:
        self._publish(self._topics.elevator_command(elevator_id), command.dump(), qos=1)
        with self._lock:
            self.sent[command.action] = self.sent.get(command.action, 0) + 1

    def _save(self) -> None:
        """Called with the lock held: write the held set atomically (a torn file must not lose a hold)."""
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({eid: asdict(h) for eid, h in self._held.items()}), encoding="utf-8")
        os.replace(tmp, self.state_path)

    # ---- watchdog ---------------------------------------------------------------------------
    def start_watchdog(self, judged_at: Callable[[str], float | None],
                       tick: Callable[[float], None] | None = None) -> None:
        """`judged_at(elevator_id)`: wall clock of that camera's last judged frame (None: never).
        `tick(wall)` runs on every round too (the camera liveness check)."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, args=(judged_at, tick), name="elevator-watchdog",
                                        daemon=True)
        self._thread.start()

    def stop_watchdog(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)

    @property
    def watchdog_alive(self) -> bool:
        return bool(self._thread and self._thread.is_alive())

    def _watch(self, judged_at: Callable[[str], float | None], tick: Callable[[float], None] | None) -> None:
        while not self._stop.wait(WATCHDOG_EVERY_S):
            try:
                self.check(time.time(), judged_at)
                if tick:
                    tick(time.time())
            except Exception:  # the watchdog must outlive any bug in one round
                log.exception("elevator watchdog round failed")

    def check(self, wall: float, judged_at: Callable[[str], float | None]) -> None:
        for eid, hold in self.held().items():
            judged = judged_at(eid)
            last = max(judged if judged is not None else hold.since, hold.since)
            if wall - last > self.watchdog_s:
                if self.release(eid, f"camera not judged for {wall - last:.1f} s (watchdog {self.watchdog_s:g} s)",
                                remember=Release(hold.alert_id, hold.since, final=False)):
                    self.watchdog_releases += 1
            elif wall - hold.since > self.max_hold_s:
                if self.release(eid, f"held for {wall - hold.since:.0f} s, the most allowed is {self.max_hold_s:g} s",
                                remember=Release(hold.alert_id, hold.since, final=True)):
                    self.max_hold_releases += 1
            elif hold.text and wall - hold.announced >= self.reannounce_s:
                with self._lock:
                    if eid in self._held:
                        self._held[eid].announced = wall
                self._command(eid, "announce", hold.alert_id, hold.text)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "held": {eid: {"alert_id": h.alert_id, "since": h.since} for eid, h in self._held.items()},
                "commands": dict(self.sent),
                "watchdog_releases": self.watchdog_releases,
                "max_hold_releases": self.max_hold_releases,
                "restart_releases": self.restart_releases,
            }

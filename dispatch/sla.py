"""Deadlines of the dispatch loop ("minute-level response, hour-level disposal") and who is
told when one passes: the grid leader at the deadline, the community station later.

Pure: the store keeps the timers, the scheduler fires them, this decides their times.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field

from ingest.config import Section

TimerKind = str  # "accept" | "resolve"


class SeverityDeadlines(Section):
    accept_min: float = Field(gt=0, le=7 * 24 * 60, description="minutes from dispatch to accept (接单)")
    resolve_min: float = Field(gt=0, le=30 * 24 * 60, description="minutes from dispatch to resolve (办结)")


class SlaConfig(Section):
    critical: SeverityDeadlines = SeverityDeadlines(accept_min=5, resolve_min=60)
    warning: SeverityDeadlines = SeverityDeadlines(accept_min=15, resolve_min=240)
    info: SeverityDeadlines = SeverityDeadlines(accept_min=60, resolve_min=1440)
    station_factor: float = Field(
        2.0, gt=1.0, le=10.0,
        description="a deadline missed goes to the grid leader at once, and to the community station when this "
        "many times the allowed time has passed (2: a 5-minute accept deadline reaches the station at 10 minutes)",
    )

    def for_severity(self, severity: str) -> SeverityDeadlines:
        return getattr(self, severity)


@dataclass(frozen=True, slots=True)
class Timer:
    kind: TimerKind
    level: int  # 1: the grid leader; 2: the community station
    due_at: float  # epoch seconds, wall clock of dispatch


def timers_for(sla: SlaConfig, severity: str, dispatched_at: float, kinds: tuple[str, ...] = ("accept", "resolve")
               ) -> list[Timer]:
    """The escalation timers of an alert dispatched at `dispatched_at`."""
    deadlines = sla.for_severity(severity)
    timers = []
    for kind in kinds:
        window_s = (deadlines.accept_min if kind == "accept" else deadlines.resolve_min) * 60.0
        timers.append(Timer(kind, 1, dispatched_at + window_s))
        timers.append(Timer(kind, 2, dispatched_at + window_s * sla.station_factor))
    return timers

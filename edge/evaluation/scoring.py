"""Episode-level scores of the water rules against ground truth events."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from edge.evaluation.replay import Episode
from simulators.water.model import TruthEvent

# After an event ends the rule still sees it at the next reading(s): allow that long.
GRACE = timedelta(hours=2)
# An alert a little before the labelled start is still this event (e.g. the quiet span of a
# fall starts at the last use before the fall).
LEAD = timedelta(hours=12)



@dataclass
class TypeScore:
    alert_type: str
    expected: int = 0  # truth events that require this type
    detected: int = 0  # of those, found by an episode of this type
    alerts: int = 0  # episodes of this type
    true_alerts: int = 0  # episodes matched to an event that expects this type
    tolerated: int = 0  # episodes on an event that tolerates the type (neither true nor false)
    delays_h: list[float] = field(default_factory=list)

    @property
    def false_alerts(self) -> int:
        return self.alerts - self.true_alerts - self.tolerated

    @property
    def precision(self) -> float | None:
        judged = self.true_alerts + self.false_alerts
        return self.true_alerts / judged if judged else None

    @property
    def recall(self) -> float | None:
        return self.detected / self.expected if self.expected else None

    def delay(self, q: float) -> float | None:
        if not self.delays_h:
            return None
        if len(self.delays_h) == 1:
            return self.delays_h[0]
        return statistics.quantiles(self.delays_h, n=100, method="inclusive")[int(q * 100) - 1]


def _window(event: TruthEvent) -> tuple[datetime, datetime]:
    return event.start - LEAD, event.end + GRACE


def judge(episode: Episode, events: Sequence[TruthEvent]) -> tuple[str, TruthEvent | None]:
    """("true" | "tolerated" | "false", the event it found) of one episode against its meter's events."""
    verdict = "false"
    for event in events:
        lo, hi = _window(event)
        if not lo <= episode.raised_at <= hi:
            continue
        if episode.type in event.expect:
            return "true", event
        if episode.type in event.tolerate:
            verdict = "tolerated"
    return verdict, None


def score(episodes: Sequence[Episode], truth: Sequence[TruthEvent], types: Sequence[str]) -> dict[str, TypeScore]:
    scores = {t: TypeScore(t) for t in types}
    by_meter: dict[str, list[TruthEvent]] = {}
    for event in truth:
        by_meter.setdefault(event.meter, []).append(event)
        for alert_type in event.expect:
            scores.setdefault(alert_type, TypeScore(alert_type)).expected += 1

    detected: set[tuple[int, str]] = set()
    for episode in episodes:
        result = scores.setdefault(episode.type, TypeScore(episode.type))
        result.alerts += 1
        verdict, event = judge(episode, by_meter.get(episode.subject, []))
        if verdict == "true" and event is not None:
            key = (id(event), episode.type)
            if key not in detected:
                detected.add(key)
                result.detected += 1
                result.delays_h.append(max(0.0, (episode.raised_at - event.start).total_seconds() / 3600))
        if verdict == "true":
            result.true_alerts += 1
        elif verdict == "tolerated":
            result.tolerated += 1
    return scores

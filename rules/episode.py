"""Alert episodes: raised once, updated when severity or evidence changes, cleared once.

Rules decide; this book keeps which episodes are open and turns decisions into changes.
Its state is plain data so it persists with the rule state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ingest.wire.alert import SEVERITY_RANK, Alert, AlertType, Severity, episode_id
from ingest.wire.timestamps import parse_ts, to_rfc3339
from rules.reason import with_cleared_reason, with_reason


@dataclass(frozen=True, slots=True)
class AlertChange:
    """One change of one episode as a rule sees it; the edge adds place and edge id."""

    type: AlertType
    subject: str
    state: str  # "active" | "cleared"
    severity: Severity
    started_at: datetime
    raised_at: datetime
    cleared_at: datetime | None
    summary: str
    evidence: dict[str, Any]
    revision: int

    @property
    def id(self) -> str:
        return episode_id(self.type, self.subject, self.started_at)

    def to_alert(self, edge_id: str, building: str | None, grid: str | None) -> Alert:
        return Alert(
            id=self.id,
            type=self.type,
            state=self.state,  # type: ignore[arg-type]
            severity=self.severity,
            subject=self.subject,
            building=building,
            grid=grid,
            started_at=self.started_at,
            raised_at=self.raised_at,
            cleared_at=self.cleared_at,
            summary=self.summary,
            evidence=self.evidence,
            edge_id=edge_id,
            revision=self.revision,
        )


@dataclass(slots=True)
class _Open:
    severity: Severity
    started_at: datetime
    raised_at: datetime
    summary: str
    evidence: dict[str, Any]
    revision: int


@dataclass
class EpisodeBook:
    """Open episodes by (type, subject)."""

    open: dict[tuple[str, str], _Open] = field(default_factory=dict)

    def is_open(self, alert_type: str, subject: str) -> bool:
        return (alert_type, subject) in self.open

    def started_at(self, alert_type: str, subject: str) -> datetime | None:
        episode = self.open.get((alert_type, subject))
        return episode.started_at if episode else None

    def raise_or_update(
        self,
        alert_type: AlertType,
        subject: str,
        severity: Severity,
        started_at: datetime,
        at: datetime,
        summary: str,
        evidence: dict[str, Any],
        *,
        update_evidence: bool = False,
    ) -> AlertChange | None:
        """A change when the episode is new, its severity rises, or new evidence is asked to go out."""
        evidence = with_reason(alert_type, subject, evidence)
        key = (alert_type, subject)
        episode = self.open.get(key)
        if episode is None:
            episode = _Open(severity, started_at, at, summary, evidence, 1)
            self.open[key] = episode
        elif SEVERITY_RANK[severity] > SEVERITY_RANK[episode.severity] or (
            update_evidence and evidence != episode.evidence
        ):
            episode.severity = max(severity, episode.severity, key=SEVERITY_RANK.__getitem__)  # type: ignore[assignment]
            episode.summary, episode.evidence = summary, evidence
            episode.revision += 1
        else:
            return None
        return AlertChange(
            alert_type, subject, "active", episode.severity, episode.started_at,
            episode.raised_at, None, episode.summary, episode.evidence, episode.revision,
        )

    def clear(
        self, alert_type: AlertType, subject: str, at: datetime, summary: str | None = None,
        evidence: dict[str, Any] | None = None,
    ) -> AlertChange | None:
        episode = self.open.pop((alert_type, subject), None)
        if episode is None:
            return None
        evidence = with_cleared_reason(alert_type, subject, evidence or {})
        return AlertChange(
            alert_type, subject, "cleared", episode.severity, episode.started_at,
            episode.raised_at, at, summary or episode.summary,
            {**episode.evidence, **(evidence or {})}, episode.revision + 1,
        )

    # Persistence: plain JSON-able data.
    def to_state(self) -> list[dict[str, Any]]:
        return [
            {
                "type": t, "subject": s, "severity": e.severity,
                "started_at": to_rfc3339(e.started_at), "raised_at": to_rfc3339(e.raised_at),
                "summary": e.summary, "evidence": e.evidence, "revision": e.revision,
            }
            for (t, s), e in self.open.items()
        ]

    @classmethod
    def from_state(cls, rows: list[dict[str, Any]]) -> EpisodeBook:
        book = cls()
        for row in rows:
            book.open[(row["type"], row["subject"])] = _Open(
                row["severity"], parse_ts(row["started_at"]), parse_ts(row["raised_at"]),
                row["summary"], row["evidence"], row["revision"],
            )
        return book

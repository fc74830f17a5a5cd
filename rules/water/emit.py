"""Small helpers between the rules (epoch seconds, plain numbers) and the episode book (datetimes)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ingest.wire.alert import SEVERITY_RANK, AlertType, Severity
from ingest.wire.timestamps import to_rfc3339
from rules.episode import AlertChange, EpisodeBook


def at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def iso(ts: float) -> str:
    return to_rfc3339(at(ts))


def severity_open(book: EpisodeBook, alert_type: str, subject: str) -> str | None:
    """The severity of the open episode, None when there is none."""
    episode = book.open.get((alert_type, subject))
    return episode.severity if episode is not None else None


def needs(book: EpisodeBook, alert_type: str, subject: str, severity: Severity) -> bool:
    """True when raising at this severity would change something (new episode or higher severity).

    Rules ask first so that they format a summary only for a change that will go out.
    """
    episode = book.open.get((alert_type, subject))
    return episode is None or SEVERITY_RANK[severity] > SEVERITY_RANK[episode.severity]


def raise_(
    book: EpisodeBook, out: list[AlertChange], alert_type: AlertType, subject: str, severity: Severity,
    started: float, now: float, summary: str, evidence: dict[str, Any],
) -> None:
    change = book.raise_or_update(alert_type, subject, severity, at(started), at(now), summary, evidence)
    if change is not None:
        out.append(change)


def clear(
    book: EpisodeBook, out: list[AlertChange], alert_type: AlertType, subject: str, now: float,
    summary: str, evidence: dict[str, Any] | None = None,
) -> None:
    change = book.clear(alert_type, subject, at(now), summary, evidence)
    if change is not None:
        out.append(change)


def hours(seconds: float) -> float:
    return round(seconds / 3600, 2)

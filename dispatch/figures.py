"""Today's figures for the command center (pure: stored alerts and a clock in, figures out)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from dispatch.schemas import TodayFigures
from dispatch.store import StoredAlert
from ingest.wire.dispatch import OPEN_STATES


def start_of_day(now: float, timezone: str) -> tuple[float, str]:
    local = datetime.fromtimestamp(now, tz=ZoneInfo(timezone))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight.timestamp(), midnight.date().isoformat()


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def _today(value: float | None, since: float) -> bool:
    return value is not None and value >= since


def today_figures(alerts: Iterable[StoredAlert], now: float, timezone: str) -> TodayFigures:
    since, date = start_of_day(now, timezone)
    # Fix the iteration once: several passes below.
    items = list(alerts)
    dispatched = [a for a in items if _today(a.dispatched_at, since)]
    accepted = [a for a in items if _today(a.accepted_at, since)]
    resolved = [a for a in items if _today(a.resolved_at, since)]
    closed_of_dispatched = [a for a in dispatched if a.resolved_at is not None]
    active: dict[str, dict[str, int]] = {}
    overdue = 0
    for a in items:
        if a.dispatch_state not in OPEN_STATES:
            continue
        counts = active.setdefault(a.queue, {"critical": 0, "warning": 0, "info": 0})
        counts[a.alert.severity] += 1
        if any(due is not None and due < now for due in (a.accept_due, a.resolve_due)):
            overdue += 1
    zone = ZoneInfo(timezone)
    by_type: dict[str, int] = {}
    by_hour = [0] * 24
    for a in items:
        if _today(a.first_change_at, since):
            by_type[a.alert.type] = by_type.get(a.alert.type, 0) + 1
            by_hour[datetime.fromtimestamp(a.first_change_at, tz=zone).hour] += 1
    return TodayFigures(
        date=date, timezone=timezone, received_by_type=by_type, received_by_hour=by_hour,
        received=sum(_today(a.first_change_at, since) for a in items),
        dispatched=len(dispatched), accepted=len(accepted), resolved=len(resolved),
        rated=sum(_today(a.rated_at, since) for a in items),
        completion_rate=round(len(closed_of_dispatched) / len(dispatched), 3) if dispatched else None,
        response_s_p50=_quantile([a.accepted_at - a.dispatched_at for a in accepted if a.dispatched_at], 0.5),
        response_s_p90=_quantile([a.accepted_at - a.dispatched_at for a in accepted if a.dispatched_at], 0.9),
        resolve_s_p50=_quantile([a.resolved_at - a.dispatched_at for a in resolved if a.dispatched_at], 0.5),
        overdue=overdue, active_by_grid=active,
    )



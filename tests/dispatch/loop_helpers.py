"""Alerts, registries and tokens shared by the dispatch loop's tests."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from ingest.registry import Registry
from ingest.wire.alert import Alert, episode_id

EDGE, OPERATOR = "edge-secret", "operator-secret"
TOKENS = {"w1": "w1-secret", "w2": "w2-secret", "lead": "lead-secret", "st1": "st1-secret", "w9": "w9-secret"}


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def loop_registry(channels: dict[str, list[str]] | None = None) -> Registry:
    """g1: w1 and w2 on duty, `lead` leads, station s1 (staff st1); g2: w9 alone; no leader."""
    channels = channels or {}
    return Registry.model_validate({
        "grids": [{"id": "g1", "name": "东区一网格", "workers": ["w1", "w2"], "leader": "lead", "station": "s1"},
                  {"id": "g2", "workers": ["w9"]}],
        "workers": [{"id": w, "token_sha256": sha(t), "channels": channels.get(w, [])} for w, t in TOKENS.items()],
        "stations": [{"id": "s1", "name": "东区社区工作站", "workers": ["st1"]}],
        "buildings": [{"id": "b1", "grid": "g1"}, {"id": "b2", "grid": "g2"}, {"id": "b-none"}],
    })


def make_alert(n: int = 0, *, state: str = "active", building: str | None = "b1", grid: str | None = "g1",
               severity: str = "warning", revision: int | None = 1, alert_type: str = "water.no_usage") -> Alert:
    started = datetime(2026, 3, 1, 8, tzinfo=UTC) + timedelta(hours=n)
    subject = f"m{n}"
    return Alert(
        id=episode_id(alert_type, subject, started), type=alert_type, state=state, severity=severity,
        subject=subject, building=building, grid=grid, started_at=started,
        raised_at=started + timedelta(hours=12),
        cleared_at=started + timedelta(hours=14) if state == "cleared" else None,
        summary=f"no water used for 12 h at {subject}", evidence={"silent_h": 12}, edge_id="edge-01",
        revision=revision,
    )

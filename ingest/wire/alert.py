"""The alert JSON that the edge POSTs to dispatch and publishes on `grid/alerts/{grid}`."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo

from ingest.wire.water import Timestamp

AlertType = Literal[
    "water.no_usage",
    "water.continuous_flow",
    "water.tap_open",
    "water.spike",
    "water.meter_offline",
    "water.meter_tamper",
    "water.gateway_offline",
    "elevator.ebike",
    # Not in ARCHITECTURE.md's list: a camera that stopped sending frames (as water.meter_offline for meters).
    "elevator.camera_offline",
]
AlertState = Literal["active", "cleared"]
Severity = Literal["info", "warning", "critical"]

SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}

# Evidence is rule-specific JSON, so it is bounded by shape, not by schema: a receiver stores it
# inside larger documents (the feed event, the notify message) that must always read back, and
# pydantic's JSON parser stops at 200 levels. The edge's rules use 3 levels and a few hundred bytes.
MAX_EVIDENCE_DEPTH = 16
MAX_EVIDENCE_BYTES = 192 * 1024  # room for the clip preview (edge/elevator/evidence.py keeps it to half)
# Validation context of what a store reads back: the bounds apply to what comes in, so that an alert
# stored before they existed still reads (and lists, and pushes) instead of failing every reader.
STORED: dict[str, bool] = {"stored": True}


def _bounded_evidence(value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
    """Refuse evidence nested deeper than MAX_EVIDENCE_DEPTH or larger than MAX_EVIDENCE_BYTES (no recursion)."""
    if info.context and info.context.get("stored"):
        return value
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > MAX_EVIDENCE_DEPTH:
                raise ValueError(f"nested deeper than {MAX_EVIDENCE_DEPTH} levels")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode())
    if size > MAX_EVIDENCE_BYTES:
        raise ValueError(f"{size} bytes as JSON, the limit is {MAX_EVIDENCE_BYTES}")
    return value


Evidence = Annotated[dict[str, Any], AfterValidator(_bounded_evidence)]


class Alert(BaseModel):
    """One change of one alert episode; `id` is the episode's, stable across retries."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")
    type: AlertType
    state: AlertState
    severity: Severity
    subject: str = Field(min_length=1, max_length=128)
    building: str | None = None
    grid: str | None = None
    started_at: Timestamp
    raised_at: Timestamp
    cleared_at: Timestamp | None = None
    summary: str = Field(max_length=500)
    evidence: Evidence = Field(default_factory=dict)
    snapshot_jpeg_b64: str | None = None
    edge_id: str = Field(min_length=1, max_length=128)
    # Not in the contract's list, optional: the edge numbers the changes of one episode so
    # that a receiver can order them; a receiver that ignores it loses nothing.
    revision: int | None = Field(default=None, ge=0, le=2**63 - 1)  # what SQLite (and most stores) hold

    def to_json(self) -> str:
        return self.model_dump_json(exclude_none=False)

    def change_key(self) -> str:
        """Identity of this change: the same change sent twice has the same key."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def episode_id(alert_type: str, subject: str, started_at: datetime) -> str:
    """Deterministic episode id: the same episode keeps it across retries, restarts, replays."""
    key = f"{alert_type}|{subject}|{started_at.timestamp():.3f}"
    digest = hashlib.blake2b(key.encode(), digest_size=8).hexdigest()
    return f"{alert_type}:{digest}"

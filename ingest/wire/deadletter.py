"""`grid/deadletter/{edge_id}`: a rejected payload, with the reason it was rejected."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from ingest.wire.water import Timestamp

EXCERPT_BYTES = 200


class DeadLetter(BaseModel):
    model_config = ConfigDict(frozen=True)

    topic: str
    reason: str
    payload_excerpt: str
    ts: Timestamp

    @staticmethod
    def excerpt(payload: bytes) -> str:
        text = payload[:EXCERPT_BYTES].decode("utf-8", errors="replace")
        return text + ("…" if len(payload) > EXCERPT_BYTES else "")

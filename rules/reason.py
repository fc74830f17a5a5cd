"""The structured reason an alert carries in its evidence, besides the contract's one-line `summary`:
a message key and its parameters, so that the command-center page and the pushes can word it fully in the
reader's language (the catalogue is dispatch/web/messages.json).

`evidence.reason` says what the alert is about, `evidence.cleared_reason` why it ended; a cleared alert keeps
both, so its card still says what it was."""

from __future__ import annotations

from typing import Any

Reason = dict[str, Any]
VARIANT_FIELDS = ("event", "method", "signs")  # the first one the evidence has picks the sentence


def _params(subject: str, evidence: dict[str, Any]) -> dict[str, Any]:
    """The evidence's plain values (numbers, words, times) and the subject: what a sentence can name."""
    plain = {k: v for k, v in evidence.items()
             if k not in ("reason", "cleared_reason") and (v is None or isinstance(v, (str, int, float, bool)))}
    return {"subject": subject, **plain}


def with_reason(alert_type: str, subject: str, evidence: dict[str, Any]) -> dict[str, Any]:
    """`evidence` with `reason`: {"key": "<type>[.<variant>]", "params": {...}}.

    A variant is the evidence's own `event` (a register that went down or jumped), `method` (a leak found
    every hour or by night flow) or `signs` (no use events, not litres), so one type can say several things
    without the rules naming message keys."""
    variant = next((v for v in (evidence.get(f) for f in VARIANT_FIELDS) if isinstance(v, str)), None)
    key = f"{alert_type}.{variant}" if variant is not None else alert_type
    return {**evidence, "reason": {"key": key, "params": _params(subject, evidence)}}


def with_cleared_reason(alert_type: str, subject: str, evidence: dict[str, Any]) -> dict[str, Any]:
    """Clear evidence with `cleared_reason`: {"key": "<type>.cleared[.<cleared_by>]", "params": {...}}."""
    by = evidence.get("cleared_by")
    key = f"{alert_type}.cleared.{by}" if isinstance(by, str) else f"{alert_type}.cleared"
    return {**evidence, "cleared_reason": {"key": key, "params": _params(subject, evidence)}}

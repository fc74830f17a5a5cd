"""Alert messages in the reader's language, from the one catalogue the page also reads
(dispatch/web/messages.json): an alert's `evidence.reason` (and `cleared_reason`) worded in Chinese or English.

An alert from an edge that sends no reason (an older edge, a foreign one) is told by its `summary`."""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

CATALOGUE = Path(__file__).resolve().parent / "web" / "messages.json"
Lang = str  # "zh" | "en"
_FIELD = re.compile(r"\{(\w+)(?::(\w+))?\}")


@cache
def catalogue() -> dict[str, Any]:
    return json.loads(CATALOGUE.read_text(encoding="utf-8"))


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)


def _value(value: Any, kind: str | None, zone: ZoneInfo | None) -> str:
    if value is None:
        return "-"
    if kind == "time" and isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        if zone is None:  # a reader's zone unknown (a push): say which one it is
            return moment.astimezone(ZoneInfo("UTC")).strftime("%m-%d %H:%M UTC")
        return moment.astimezone(zone).strftime("%m-%d %H:%M")
    if kind == "abs" and isinstance(value, (int, float)):
        return _number(abs(value))
    return _number(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def render(reason: dict[str, Any] | None, lang: Lang, zone: ZoneInfo | None = None) -> str | None:
    """The reason as a sentence in `lang`; None when there is none or the catalogue lacks its key."""
    if not isinstance(reason, dict):
        return None
    entry = catalogue()["messages"].get(str(reason.get("key")))
    if entry is None:
        return None
    params = reason.get("params") or {}
    return _FIELD.sub(lambda m: _value(params.get(m.group(1)), m.group(2), zone), entry[lang])


def type_name(alert_type: str, lang: Lang, default: str | None = None) -> str:
    entry = catalogue()["types"].get(alert_type)
    return entry[lang] if entry else alert_type if default is None else default


def describe(evidence: dict[str, Any] | None, state: str, summary: str, lang: Lang,
             zone: ZoneInfo | None = None) -> str:
    """What the alert is (and, once cleared, why it ended) in `lang`; the summary when the edge sent no reason."""
    evidence = evidence or {}
    what = render(evidence.get("reason"), lang, zone)
    if what is None:
        return summary
    if state == "cleared":
        ended = render(evidence.get("cleared_reason"), lang, zone) or catalogue()["messages"]["cleared"][lang]
        return f"{what}; {ended}" if lang == "en" else f"{what}；{ended}"
    return what

"""The words a grid worker reads in an SMS, a WeCom/DingTalk message or an e-mail: Chinese first, then
English, short (SMS gateways cut long texts). Pure: the deadline is told relative to `now`, so a push
that waited out a broker outage still says the truth."""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo

from dispatch.messages import describe, type_name
from ingest.wire.dispatch import NotifyMessage

SEVERITY_ZH = {"info": "提示", "warning": "警告", "critical": "严重"}


# Why the worker gets this message (NotifyReason): (Chinese, English).
REASON = {
    "dispatched": ("新派单", "new dispatch"),
    "reassigned": ("转派给您", "reassigned to you"),
    "severity_raised": ("级别升高", "severity raised"),
    "edge_cleared": ("现场已恢复，仍请办结", "cleared at the site; please still close it"),
    "escalated": ("超时升级", "deadline missed, escalated"),
}

ESCALATED_TO = {1: ("已报网格长", "grid leader told"), 2: ("已报社区工作站", "community station told")}


def title(message: NotifyMessage) -> str:
    """e.g. "[严重] 电动车进电梯 elevator.ebike · 新派单"."""
    severity = SEVERITY_ZH.get(message.severity, message.severity)
    what = type_name(message.type, "zh", default="")
    reason_zh, _ = REASON.get(message.dispatch.reason or "dispatched", REASON["dispatched"])
    return f"[{severity}] {what} {message.type} · {reason_zh}".replace("  ", " ")


def body(message: NotifyMessage, now: datetime, *, building_name: str | None = None,
         zone: ZoneInfo | None = None) -> str:
    """Where, what (from the alert's reason, in Chinese and English), what to do by when, and the alert id."""
    info = message.dispatch
    reason = info.reason or "dispatched"
    reason_zh, reason_en = REASON.get(reason, REASON["dispatched"])
    place = building_name or message.building or "未知楼栋 unknown building"
    zh = describe(message.evidence, message.state, message.summary, "zh", zone)
    en = describe(message.evidence, message.state, message.summary, "en", zone)
    told = message.summary if zh == message.summary else f"{zh} · {en}"  # an edge without reasons: its summary
    lines = [f"{place} / {message.subject}: {told}", f"{reason_zh} · {reason_en}"]
    if reason == "escalated" and info.escalation in ESCALATED_TO:
        zh, en = ESCALATED_TO[info.escalation]
        who = info.assignee or "—"
        lines.append(f"责任人 {who} 未按时处置，{zh} · {who} missed the deadline, {en}")
    deadline = deadline_line(message, now)
    if deadline:
        lines.append(deadline)
    lines.append(f"编号 ID: {message.id}")
    return "\n".join(lines)


def deadline_line(message: NotifyMessage, now: datetime) -> str | None:
    """The next deadline of the loop, in whole minutes from now."""
    info = message.dispatch
    if info.accept_due is not None and info.accepted_at is None:
        due, zh, en = info.accept_due, "接单", "accept"
    elif info.resolve_due is not None and info.resolved_at is None:
        due, zh, en = info.resolve_due, "办结", "resolve"
    else:
        return None
    seconds = (due - now).total_seconds()
    if seconds > 0:
        minutes = max(1, math.ceil(seconds / 60))
        return f"请{minutes}分钟内{zh} · {en} within {minutes} min"
    minutes = max(1, math.floor(-seconds / 60))
    return f"{zh}已超时{minutes}分钟 · {en} overdue by {minutes} min"

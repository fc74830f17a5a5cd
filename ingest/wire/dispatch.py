"""What dispatch sends and takes besides the alert itself: the `dispatch` object, the worker
notify message (`grid/workers/{id}/notify`), the feed event (`GET /api/v1/feed`) and the
lifecycle call body (`POST /api/v1/alerts/{id}/accept|arrive|resolve|rate`).

Defined here, with the other wire formats, because the worker-phone simulator and any
phone app speak them too.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ingest.wire.alert import Alert
from ingest.wire.water import Timestamp

# The closed loop (派单、接单、到场、办结、评单). "new": received, no one on duty to take it
# (the unassigned queue, or a grid with nobody on duty) until an operator assigns it.
DispatchState = Literal["new", "dispatched", "accepted", "on_site", "resolved", "rated"]
DISPATCH_STATES: tuple[str, ...] = ("new", "dispatched", "accepted", "on_site", "resolved", "rated")
OPEN_STATES = frozenset({"new", "dispatched", "accepted", "on_site"})

Action = Literal["accept", "arrive", "resolve", "rate", "assign"]
# Why a notify message was sent: the first push to the assignee, an update they should know
# of (severity rose, the edge cleared it), or a missed deadline sent up the chain.
NotifyReason = Literal["dispatched", "reassigned", "severity_raised", "edge_cleared", "escalated"]
# 0: none; 1: the grid leader has been told of a missed deadline; 2: the community station too.
EscalationLevel = Literal[0, 1, 2]


class DispatchInfo(BaseModel):
    """Where an alert stands in the dispatch loop; wall-clock times of the dispatch endpoint."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    state: DispatchState
    queue: str  # the grid id, or "unassigned"
    assignee: str | None = None  # the worker who must accept, arrive and resolve
    dispatched_at: Timestamp | None = None
    accepted_at: Timestamp | None = None
    on_site_at: Timestamp | None = None
    resolved_at: Timestamp | None = None
    rated_at: Timestamp | None = None
    score: int | None = None
    accept_due: Timestamp | None = None  # SLA deadlines; None once met or when not dispatched
    resolve_due: Timestamp | None = None
    escalation: EscalationLevel = 0
    first_change_at: Timestamp  # when dispatch received the first / latest edge change
    last_change_at: Timestamp
    changes: int  # edge changes received, stale ones included
    has_snapshot: bool = False
    reason: NotifyReason | None = None  # set only in notify messages


class AlertView(Alert):
    """The alert JSON plus `dispatch`: what the API lists and what a worker's phone receives."""

    dispatch: DispatchInfo


class NotifyMessage(AlertView):
    """`grid/workers/{worker_id}/notify` (QoS 1): the alert as the worker should see it, with
    `dispatch.reason`. `to` is the recipient (the worker id), so a message forwarded by a
    bridge still says whom it was for."""

    to: str


class Transition(BaseModel):
    """One step of the loop as the audit trail keeps it."""

    model_config = ConfigDict(frozen=True)

    alert_id: str
    action: Literal["dispatch", "accept", "arrive", "resolve", "rate", "assign", "escalate", "edge_cleared"]
    from_state: DispatchState
    to_state: DispatchState
    actor: str  # "worker:w1", "operator", "system"
    at: Timestamp
    note: str | None = None
    score: int | None = None
    assignee: str | None = None  # dispatch / assign: who got it; escalate: who was told


class LifecycleBody(BaseModel):
    """Body of the lifecycle calls; all fields optional."""

    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(None, max_length=2000)
    score: int | None = Field(None, ge=1, le=5, description="rate only: 1 (poor) to 5 (excellent)")
    worker: str | None = Field(None, description="assign only: the worker to give the alert to")


FeedKind = Literal["change", "transition"]


class FeedEvent(BaseModel):
    """One Server-Sent Event of `GET /api/v1/feed` (`id:` is `seq`, `event:` is `kind`).

    change: the edge sent a change of the alert; transition: the loop moved (dispatch,
    accept, arrive, resolve, rate, assign, escalate). `alert` is the view after the event,
    without the snapshot (fetch `GET /api/v1/alerts/{id}` for it). `notify` lists the worker
    ids told of it on their phones.
    """

    model_config = ConfigDict(frozen=True)

    seq: int
    kind: FeedKind
    at: Timestamp
    alert: AlertView
    transition: Transition | None = None
    notify: list[str] = Field(default_factory=list)
    reason: NotifyReason | None = None  # why `notify` was told

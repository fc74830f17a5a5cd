"""The dispatch loop: what an edge change, a worker's call and a passing deadline do.

Each entry point runs in one store transaction, so the change, the dispatch it causes,
the audit record, the timers and the feed event (which the pusher turns into phone pushes)
are committed together.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from dispatch.auth import Principal
from dispatch.lifecycle import decide
from dispatch.routing import Route, grid_of, local_time, route
from dispatch.sla import SlaConfig, Timer, timers_for
from dispatch.store import AlertStore, PutResult, StoredAlert, Tx
from dispatch.store_rows import at
from ingest.registry import Registry
from ingest.wire.alert import SEVERITY_RANK, Alert
from ingest.wire.dispatch import OPEN_STATES, AlertView, LifecycleBody, Transition

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ActResult:
    status: int  # 200, or 403/404/409/422 with `reason`
    reason: str = ""
    view: AlertView | None = None
    noop: bool = False


def _actor(principal: Principal) -> str:
    return f"worker:{principal.worker_id}" if principal.role == "worker" else principal.role


class DispatchService:
    def __init__(self, store: AlertStore, registry: Registry, sla: SlaConfig, timezone: str,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.registry = registry
        self.sla = sla
        self.timezone = timezone
        self.clock = clock

    # -- edge changes ---------------------------------------------------------------------

    def receive(self, alert: Alert) -> PutResult:
        now = self.clock()
        with self.store.write() as tx:
            before = tx.row(alert.id)
            chosen = None if before else self._route(tx, alert, now)
            result = tx.put_change(alert, now, before.queue if before else chosen.queue)
            if not result.stored:
                return result
            if before is None:
                tx.add_event("change", alert.id, now)
                if chosen.assignee is not None:
                    self._dispatch(tx, alert.id, chosen.assignee, now, action="dispatch", actor="system",
                                   note=chosen.why, reason="dispatched")
                return result
            self._on_update(tx, before, alert, result, now)
        return result

    def _route(self, tx: Tx, alert: Alert, now: float) -> Route:
        grid = self.registry.grid(grid_of(alert, self.registry))
        load = tx.open_load([*grid.workers, *([grid.leader] if grid.leader else [])]) if grid else {}
        return route(alert, self.registry, local_time(now, self.timezone), load)

    def _on_update(self, tx: Tx, before: StoredAlert, alert: Alert, result: PutResult, now: float) -> None:
        """A later change: tell the assignee what they should know; never close the loop."""
        reason, transition = None, None
        loop_open = before.dispatch_state in OPEN_STATES and before.assignee is not None
        if result.applied and loop_open:
            if SEVERITY_RANK[alert.severity] > SEVERITY_RANK[before.alert.severity]:
                reason = "severity_raised"
                self._tighten_timers(tx, before, alert.severity)
            elif alert.state == "cleared" and before.alert.state != "cleared":
                # Shown and recorded, but the loop stays open: only a person closes it.
                reason = "edge_cleared"
                transition = Transition(alert_id=alert.id, action="edge_cleared", from_state=before.dispatch_state,
                                        to_state=before.dispatch_state, actor=f"edge:{alert.edge_id}", at=at(now),
                                        note=alert.summary, assignee=before.assignee)
                tx.add_transition(transition)
        tx.add_event("change", alert.id, now, transition=transition,
                     notify=[before.assignee] if reason else [], reason=reason)

    def _tighten_timers(self, tx: Tx, stored: StoredAlert, severity: str) -> None:
        """A higher severity has shorter deadlines: pending timers move earlier, never later."""
        if stored.dispatched_at is None:
            return
        sooner = {(t.kind, t.level): t for t in timers_for(self.sla, severity, stored.dispatched_at)}
        pending = tx.pending_timers(stored.alert.id)
        moved = [Timer(t.kind, t.level, min(t.due_at, sooner[(t.kind, t.level)].due_at)) for t in pending]
        tx.set_timers(stored.alert.id, moved)
        firsts = {t.kind: t.due_at for t in moved if t.level == 1}
        tx.update(stored.alert.id, accept_due=firsts.get("accept", stored.accept_due) if stored.accept_due else None,
                  resolve_due=firsts.get("resolve", stored.resolve_due) if stored.resolve_due else None)

    def _dispatch(self, tx: Tx, alert_id: str, assignee: str, now: float, *, action: str, actor: str,
                  note: str | None, reason: str) -> None:
        stored = tx.row(alert_id)
        assert stored is not None
        timers = timers_for(self.sla, stored.alert.severity, now)
        tx.cancel_timers(alert_id)
        tx.set_timers(alert_id, timers)
        due = {t.kind: t.due_at for t in timers if t.level == 1}
        queue = stored.queue
        if queue == "unassigned":  # an operator gave it to a worker: it joins that worker's grid
            queue = next((g.id for g in self.registry.grids if assignee in g.workers or g.leader == assignee), queue)
        tx.update(alert_id, queue=queue, dispatch_state="dispatched", assignee=assignee, dispatched_at=now,
                  accepted_at=None, on_site_at=None, accept_due=due["accept"], resolve_due=due["resolve"],
                  escalation=0)
        transition = Transition(alert_id=alert_id, action=action, from_state=stored.dispatch_state,
                                to_state="dispatched", actor=actor, at=at(now), note=note, assignee=assignee)
        tx.add_transition(transition)
        tx.add_event("transition", alert_id, now, transition=transition, notify=[assignee], reason=reason)

    # -- people ---------------------------------------------------------------------------

    def act(self, alert_id: str, action: str, principal: Principal, body: LifecycleBody) -> ActResult:
        now = self.clock()
        with self.store.write() as tx:
            stored = tx.row(alert_id)
            if stored is None:
                return ActResult(404, f"no alert {alert_id!r}")
            if not principal.may_see(stored.queue):
                return ActResult(403, "this alert is not in one of this worker's grids")
            decision = decide(action, stored.dispatch_state, stored.assignee, principal, score=body.score,
                              worker=body.worker)
            if decision.status != 200:
                return ActResult(decision.status, decision.reason)
            if decision.noop:
                return ActResult(200, decision.reason, stored.view(with_snapshot=False), noop=True)
            if action == "assign":
                if self.registry.worker(body.worker or "") is None:
                    return ActResult(422, f"unknown worker {body.worker!r}")
                self._dispatch(tx, alert_id, body.worker or "", now, action="assign", actor=_actor(principal),
                               note=body.note, reason="reassigned" if stored.assignee else "dispatched")
            else:
                self._step(tx, stored, action, decision.to_state or "", principal, body, now)
            after = tx.row(alert_id)
        return ActResult(200, "", after.view(with_snapshot=False) if after else None)

    def _step(self, tx: Tx, stored: StoredAlert, action: str, to_state: str, principal: Principal,
              body: LifecycleBody, now: float) -> None:
        alert_id = stored.alert.id
        if action == "accept":
            tx.cancel_timers(alert_id, "accept")
            tx.update(alert_id, dispatch_state=to_state, accepted_at=now, accept_due=None)
        elif action == "arrive":
            tx.update(alert_id, dispatch_state=to_state, on_site_at=now)
        elif action == "resolve":
            tx.cancel_timers(alert_id)
            tx.update(alert_id, dispatch_state=to_state, resolved_at=now, accept_due=None, resolve_due=None)
        elif action == "rate":
            tx.update(alert_id, dispatch_state=to_state, rated_at=now, score=body.score)
        transition = Transition(alert_id=alert_id, action=action, from_state=stored.dispatch_state,
                                to_state=to_state, actor=_actor(principal), at=at(now), note=body.note,
                                score=body.score if action == "rate" else None, assignee=stored.assignee)
        tx.add_transition(transition)
        tx.add_event("transition", alert_id, now, transition=transition)

    # -- deadlines ------------------------------------------------------------------------

    def fire_due(self, now: float | None = None) -> int:
        """Escalate every alert whose timer is due; each in its own transaction. Returns how many fired."""
        fired = 0
        while True:
            current = self.clock() if now is None else now
            with self.store.write() as tx:
                taken = tx.take_due_timer(current)
                if taken is None:
                    return fired
                self._escalate(tx, *taken, current)
            fired += 1

    def _escalate(self, tx: Tx, alert_id: str, timer: Timer, now: float) -> None:
        stored = tx.row(alert_id)
        if stored is None or stored.dispatch_state not in OPEN_STATES:
            return
        if (timer.kind == "accept" and stored.accepted_at is not None) or stored.resolved_at is not None:
            return  # met after the timer was set (a cancelled timer is deleted; this is belt and braces)
        grid = self.registry.grid(stored.queue)
        level, recipients = timer.level, []
        if level == 1 and grid is not None and grid.leader and grid.leader != stored.assignee:
            recipients = [grid.leader]
        else:
            level = 2
            station = self.registry.station(grid.station if grid else None)
            if station is not None:
                recipients = [*station.workers, f"station:{station.id}"]
        if not recipients:
            level = stored.escalation  # nobody more to tell: the miss is recorded, the level stays
        elif level > stored.escalation:
            tx.update(alert_id, escalation=level)
        what = "accept (接单)" if timer.kind == "accept" else "resolve (办结)"
        told = ", ".join(recipients) or "nobody (no leader or station in the registry)"
        transition = Transition(alert_id=alert_id, action="escalate", from_state=stored.dispatch_state,
                                to_state=stored.dispatch_state, actor="system", at=at(now),
                                note=f"{what} deadline missed; told {told}",
                                assignee=recipients[0] if recipients else None)
        tx.add_transition(transition)
        tx.add_event("transition", alert_id, now, transition=transition, notify=recipients, reason="escalated")
        log.warning("alert %s: %s deadline missed by %s, escalated to %s", alert_id, timer.kind, stored.assignee,
                    told)

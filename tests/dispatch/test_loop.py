"""The dispatch loop on a real store with a hand-driven clock: dispatch, the closed loop,
who may do what, the edge's `cleared`, deadlines and escalation, and a restart in between."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from dispatch.auth import Principal
from dispatch.lifecycle import decide
from dispatch.service import DispatchService
from dispatch.sla import SeverityDeadlines, SlaConfig
from dispatch.store import AlertStore
from ingest.wire.dispatch import LifecycleBody
from tests.dispatch.loop_helpers import loop_registry, make_alert

T0 = 1_790_000_000.0
SLA = SlaConfig(critical=SeverityDeadlines(accept_min=5, resolve_min=60),
                warning=SeverityDeadlines(accept_min=15, resolve_min=240),
                info=SeverityDeadlines(accept_min=60, resolve_min=1440), station_factor=2.0)

W1 = Principal("worker", "w1", frozenset({"g1"}))
W2 = Principal("worker", "w2", frozenset({"g1"}))
W9 = Principal("worker", "w9", frozenset({"g2"}))
OPERATOR = Principal("operator")
EDGE = Principal("edge")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(open_store: Callable[[], AlertStore], clock: Clock) -> DispatchService:
    return DispatchService(open_store(), loop_registry(), SLA, "Asia/Shanghai", clock)


def reopen(service: DispatchService, open_store: Callable[[], AlertStore], clock: Clock) -> DispatchService:
    service.store.close()
    return DispatchService(open_store(), loop_registry(), SLA, "Asia/Shanghai", clock)


@pytest.mark.parametrize(
    ("action", "state", "assignee", "principal", "extra", "status", "to_state", "noop"),
    [
        ("accept", "dispatched", "w1", W1, {}, 200, "accepted", False),
        ("accept", "accepted", "w1", W1, {}, 200, None, True),  # a phone retrying
        ("accept", "dispatched", "w1", W2, {}, 403, None, False),  # not the assignee
        ("accept", "dispatched", "w1", OPERATOR, {}, 403, None, False),
        ("accept", "dispatched", "w1", EDGE, {}, 403, None, False),
        ("accept", "new", None, W1, {}, 403, None, False),
        ("arrive", "dispatched", "w1", W1, {}, 409, None, False),  # accept first
        ("arrive", "accepted", "w1", W1, {}, 200, "on_site", False),
        ("resolve", "accepted", "w1", W1, {}, 200, "resolved", False),  # settled by a phone call
        ("resolve", "on_site", "w1", W1, {}, 200, "resolved", False),
        ("resolve", "resolved", "w1", W1, {}, 200, None, True),
        ("accept", "resolved", "w1", W1, {}, 409, None, False),
        ("rate", "resolved", "w1", OPERATOR, {"score": 5}, 200, "rated", False),
        ("rate", "resolved", "w1", OPERATOR, {}, 422, None, False),
        ("rate", "resolved", "w1", W1, {"score": 5}, 403, None, False),
        ("rate", "on_site", "w1", OPERATOR, {"score": 5}, 409, None, False),
        ("assign", "new", None, OPERATOR, {"worker": "w1"}, 200, "dispatched", False),
        ("assign", "new", None, W1, {"worker": "w1"}, 403, None, False),
        ("assign", "resolved", "w1", OPERATOR, {"worker": "w2"}, 409, None, False),
    ],
)
def test_decide(action: str, state: str, assignee: str | None, principal: Principal, extra: dict, status: int,
                to_state: str | None, noop: bool) -> None:
    decision = decide(action, state, assignee, principal, **extra)
    assert (decision.status, decision.to_state, decision.noop) == (status, to_state, noop)
    if status != 200:
        assert decision.reason


def test_an_alert_walks_the_closed_loop(service: DispatchService, clock: Clock) -> None:
    alert = make_alert()
    assert service.receive(alert).stored
    view = service.store.get(alert.id)
    assert (view.dispatch_state, view.queue, view.assignee) == ("dispatched", "g1", "w1")
    assert view.accept_due == T0 + 15 * 60 and view.resolve_due == T0 + 240 * 60

    steps = [("accept", W1, {}, "accepted"), ("arrive", W1, {}, "on_site"),
             ("resolve", W1, {"note": "老人在家，安好"}, "resolved"), ("rate", OPERATOR, {"score": 4}, "rated")]
    for action, who, body, state in steps:
        clock.now += 60
        result = service.act(alert.id, action, who, LifecycleBody(**body))
        assert result.status == 200, result.reason
        assert result.view.dispatch.state == state

    stored = service.store.get(alert.id)
    assert stored.score == 4 and stored.accepted_at == T0 + 60 and stored.resolved_at == T0 + 180
    assert service.store.timers_of(alert.id) == []  # nothing left to escalate
    trail = service.store.transitions(alert.id)
    assert [(t.action, t.actor, t.to_state) for t in trail] == [
        ("dispatch", "system", "dispatched"), ("accept", "worker:w1", "accepted"), ("arrive", "worker:w1", "on_site"),
        ("resolve", "worker:w1", "resolved"), ("rate", "operator", "rated")]
    assert trail[3].note == "老人在家，安好" and trail[4].score == 4
    # One feed event per change: the edge change, then each step; the dispatch told w1.
    events = service.store.events_after(0)
    assert [e.kind for e in events] == ["change"] + ["transition"] * 5
    assert events[1].notify == ["w1"] and events[1].reason == "dispatched"
    assert [e.seq for e in events] == sorted(e.seq for e in events)


def test_a_repeated_change_dispatches_once(service: DispatchService) -> None:
    alert = make_alert()
    service.receive(alert)
    assert service.receive(alert).duplicate
    assert len(service.store.transitions(alert.id)) == 1
    assert len(service.store.events_after(0)) == 2


def test_load_is_spread_over_the_workers_on_duty(service: DispatchService) -> None:
    for n in range(4):
        service.receive(make_alert(n))
    assignees = [a.assignee for a in service.store.query()]
    assert sorted(assignees) == ["w1", "w1", "w2", "w2"]


def test_unassigned_alerts_wait_for_an_operator(service: DispatchService) -> None:
    alert = make_alert(building="b-none", grid=None)
    service.receive(alert)
    stored = service.store.get(alert.id)
    assert (stored.queue, stored.dispatch_state, stored.assignee) == ("unassigned", "new", None)
    assert service.store.timers_of(alert.id) == []
    assert service.act(alert.id, "accept", W1, LifecycleBody()).status == 403  # nobody's yet; not w1's grid
    result = service.act(alert.id, "assign", OPERATOR, LifecycleBody(worker="w9", note="东门那栋归二网格"))
    assert result.status == 200
    stored = service.store.get(alert.id)
    assert (stored.queue, stored.dispatch_state, stored.assignee) == ("g2", "dispatched", "w9")
    assert service.store.events_after(0)[-1].notify == ["w9"]
    assert service.act(alert.id, "accept", W9, LifecycleBody()).status == 200


def test_a_worker_cannot_touch_another_grid(service: DispatchService) -> None:
    alert = make_alert(building="b2", grid="g2")
    service.receive(alert)
    result = service.act(alert.id, "accept", W1, LifecycleBody())
    assert result.status == 403 and "grid" in result.reason
    assert service.act("no-such-alert", "accept", W1, LifecycleBody()).status == 404


def test_edge_cleared_is_shown_but_closes_nothing(service: DispatchService) -> None:
    active = make_alert(revision=1)
    service.receive(active)
    service.act(active.id, "accept", W1, LifecycleBody())
    cleared = make_alert(state="cleared", revision=2)
    service.receive(cleared)
    stored = service.store.get(active.id)
    assert stored.alert.state == "cleared"  # shown
    assert stored.dispatch_state == "accepted"  # still the worker's to close
    assert service.store.timers_of(active.id)  # the resolve deadline still runs
    last = service.store.events_after(0)[-1]
    assert (last.kind, last.notify, last.reason) == ("change", ["w1"], "edge_cleared")
    assert service.store.transitions(active.id)[-1].action == "edge_cleared"


def test_missed_accept_goes_to_the_leader_then_the_station(service: DispatchService, clock: Clock) -> None:
    alert = make_alert(severity="critical")
    service.receive(alert)
    clock.now = T0 + 5 * 60 - 1
    assert service.fire_due() == 0
    clock.now = T0 + 5 * 60
    assert service.fire_due() == 1
    event = service.store.events_after(0)[-1]
    assert (event.reason, event.notify) == ("escalated", ["lead"])
    assert service.store.get(alert.id).escalation == 1
    clock.now = T0 + 10 * 60
    assert service.fire_due() == 1
    event = service.store.events_after(0)[-1]
    assert (event.reason, event.notify) == ("escalated", ["st1", "station:s1"])
    assert event.alert.dispatch.escalation == 2
    # Accepting late stops the accept chain but the resolve deadline still stands.
    assert service.act(alert.id, "accept", W1, LifecycleBody()).status == 200
    assert {t.kind for t in service.store.timers_of(alert.id)} == {"resolve"}


def test_accepting_in_time_escalates_nothing(service: DispatchService, clock: Clock) -> None:
    alert = make_alert(severity="critical")
    service.receive(alert)
    clock.now = T0 + 60
    service.act(alert.id, "accept", W1, LifecycleBody())
    clock.now = T0 + 30 * 60
    service.act(alert.id, "resolve", W1, LifecycleBody())
    clock.now = T0 + 10 * 3600
    assert service.fire_due() == 0
    assert service.store.get(alert.id).escalation == 0


def test_a_grid_without_leader_or_station_still_records_the_miss(service: DispatchService, clock: Clock) -> None:
    alert = make_alert(building="b2", grid="g2", severity="critical")
    service.receive(alert)
    clock.now = T0 + 5 * 60
    assert service.fire_due() >= 1
    trail = service.store.transitions(alert.id)
    assert trail[-1].action == "escalate" and "nobody" in trail[-1].note


def test_severity_rising_brings_deadlines_forward(service: DispatchService, clock: Clock) -> None:
    service.receive(make_alert(severity="warning", revision=1))
    clock.now = T0 + 60
    raised = make_alert(severity="critical", revision=2)
    service.receive(raised)
    stored = service.store.get(raised.id)
    assert stored.accept_due == T0 + 5 * 60  # from the dispatch, with critical's window
    last = service.store.events_after(0)[-1]
    assert (last.notify, last.reason) == (["w1"], "severity_raised")


def test_timers_survive_a_restart(service: DispatchService, clock: Clock,
                                  open_store: Callable[[], AlertStore]) -> None:
    alert = make_alert(severity="critical")
    service.receive(alert)
    service = reopen(service, open_store, clock)
    clock.now = T0 + 11 * 60  # both accept deadlines passed while dispatch was down
    assert service.fire_due() == 2
    assert [e.notify for e in service.store.events_after(0) if e.reason == "escalated"] == [
        ["lead"], ["st1", "station:s1"]]
    assert service.fire_due() == 0  # fired once, not again


def test_listeners_hear_each_commit(service: DispatchService) -> None:
    heard: list[int] = []
    service.store.add_listener(heard.append)
    service.receive(make_alert())
    seq = service.store.last_seq()
    assert heard and set(heard) == {seq}  # PostgreSQL's NOTIFY may tell it a second time: harmless
    service.store.remove_listener(heard.append)
    service.receive(make_alert(1))
    time.sleep(0.3)  # room for a NOTIFY that should not be heard
    assert set(heard) == {seq}

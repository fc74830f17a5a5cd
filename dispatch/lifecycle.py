"""The dispatch loop's steps: which call moves which state, and who may make it.

Pure: `decide` answers with the new state, a no-op (the same call repeated, as a phone on a
bad network does), or the HTTP status and reason of a refusal.
"""

from __future__ import annotations

from dataclasses import dataclass

from dispatch.auth import Principal

# action: (states it may start from, state it leads to)
STEPS: dict[str, tuple[frozenset[str], str]] = {
    "accept": (frozenset({"dispatched"}), "accepted"),
    "arrive": (frozenset({"accepted"}), "on_site"),
    # Some cases are settled by a phone call, without a visit.
    "resolve": (frozenset({"accepted", "on_site"}), "resolved"),
    "rate": (frozenset({"resolved"}), "rated"),
    # An operator gives an alert to a worker: the unassigned queue, nobody on duty, or a reassignment.
    "assign": (frozenset({"new", "dispatched", "accepted", "on_site"}), "dispatched"),
}
OPERATOR_ACTIONS = frozenset({"rate", "assign"})


@dataclass(frozen=True, slots=True)
class Decision:
    to_state: str | None = None  # the state after the step; None with `noop` or a refusal
    noop: bool = False  # the step was already taken by the same caller: answer 200, change nothing
    status: int = 200  # 403, 409, 422 on refusal
    reason: str = ""


def decide(action: str, state: str, assignee: str | None, principal: Principal, *, score: int | None = None,
           worker: str | None = None) -> Decision:
    if action not in STEPS:
        return Decision(status=404, reason=f"unknown action {action!r}")
    allowed_from, to_state = STEPS[action]
    if action in OPERATOR_ACTIONS:
        if principal.role not in ("operator", "anonymous"):
            return Decision(status=403, reason=f"only an operator may {action}")
    elif principal.role != "worker" or principal.worker_id != assignee:
        who = f"worker {assignee!r}" if assignee else "a worker (an operator must assign it first)"
        return Decision(status=403, reason=f"only the assigned {who} may {action} this alert")
    if action == "rate" and score is None:
        return Decision(status=422, reason="rate needs a score from 1 to 5")
    if action == "assign" and not worker:
        return Decision(status=422, reason="assign needs the worker to give the alert to")
    if state == to_state and action not in ("assign",):
        return Decision(noop=True, reason=f"already {to_state}")
    if state not in allowed_from:
        return Decision(status=409, reason=f"cannot {action} an alert that is {state}")
    return Decision(to_state=to_state)

"""`/api/v1/alerts`: the edge posts alert changes; operators and grid workers read them and
walk the loop (accept, arrive, resolve; rate and assign are the operator's)."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from dispatch.auth import Principal, require_edge, require_reader
from dispatch.schemas import AlertDetail, AlertList, ChangeView, PostResult
from dispatch.service import DispatchService
from ingest.wire.alert import STORED, Alert, AlertState, AlertType
from ingest.wire.dispatch import AlertView, DispatchState, LifecycleBody

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])


def _service(request: Request) -> DispatchService:
    return request.app.state.service


def describe(exc: ValidationError) -> str:
    """One line an edge operator can act on: `field: message; ...`."""
    parts = []
    for error in exc.errors(include_url=False)[:10]:
        where = ".".join(str(p) for p in error["loc"]) or "body"
        parts.append(f"{where}: {error['msg']}")
    return "invalid alert: " + "; ".join(parts)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=PostResult,
    responses={200: {"model": PostResult, "description": "the same change was already stored"}},
)
async def post_alert(
    request: Request, response: Response, principal: Annotated[Principal, Depends(require_edge)]
) -> PostResult | JSONResponse:
    counters = request.app.state.counters
    counters["received"] += 1
    body = await request.body()  # bounded in size and time by dispatch.body_limit (http.max_alert_body_bytes)
    try:
        alert = Alert.model_validate_json(body)
    except ValidationError as exc:
        counters["invalid"] += 1
        message = describe(exc)
        log.warning("rejected an alert change: %s", message[:300])
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        return JSONResponse({"detail": message, "errors": errors}, status_code=422)
    # The commit (fsync) blocks: keep it off the event loop. The answer waits for it.
    result = await run_in_threadpool(_service(request).receive, alert)
    if result.duplicate:
        counters["duplicates"] += 1
        response.status_code = status.HTTP_200_OK
    else:
        counters["stored"] += 1
    return PostResult(id=alert.id, stored=result.stored, duplicate=result.duplicate, applied=result.applied)


@router.get("", response_model=AlertList)
def list_alerts(
    request: Request,
    principal: Annotated[Principal, Depends(require_reader)],
    grid: Annotated[str | None, Query(description="a grid id, or 'unassigned'")] = None,
    state: AlertState | None = None,
    alert_type: Annotated[AlertType | None, Query(alias="type")] = None,
    dispatch_state: Annotated[list[DispatchState] | None, Query(description="repeatable")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 100,
) -> AlertList:
    if grid is not None and not principal.may_see(grid):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"grid {grid!r} is not one of this worker's grids")
    stored = _service(request).store.query(queues=principal.grids, queue=grid, state=state, alert_type=alert_type,
                                           dispatch_states=dispatch_state, limit=limit)
    alerts = [item.view(with_snapshot=False) for item in stored]
    return AlertList(alerts=alerts, count=len(alerts))


@router.get("/{alert_id}", response_model=AlertDetail)
def get_alert(
    request: Request, alert_id: str, principal: Annotated[Principal, Depends(require_reader)]
) -> AlertDetail:
    store = _service(request).store
    stored = store.get(alert_id)
    if stored is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert {alert_id!r}")
    if not principal.may_see(stored.queue):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this alert is not in one of this worker's grids")
    view = stored.view(with_snapshot=True)
    history = [ChangeView.of(change) for change in store.history(alert_id)]
    return AlertDetail.model_validate({**view.model_dump(mode="json"), "history": history,
                                       "transitions": store.transitions(alert_id)}, context=STORED)


async def _act(request: Request, alert_id: str, action: str, principal: Principal,
               body: LifecycleBody | None) -> AlertView:
    result = await run_in_threadpool(_service(request).act, alert_id, action, principal, body or LifecycleBody())
    if result.status != 200:
        raise HTTPException(result.status, result.reason)
    log.info("alert %s: %s by %s%s", alert_id, action, principal.worker_id or principal.role,
             " (repeat, no change)" if result.noop else "")
    assert result.view is not None
    return result.view


Body_ = Annotated[LifecycleBody | None, Body()]
Reader = Annotated[Principal, Depends(require_reader)]


@router.post("/{alert_id}/accept", response_model=AlertView, summary="the assigned worker takes the alert (接单)")
async def accept(request: Request, alert_id: str, principal: Reader, body: Body_ = None) -> AlertView:
    return await _act(request, alert_id, "accept", principal, body)


@router.post("/{alert_id}/arrive", response_model=AlertView, summary="the assigned worker is on site (到场)")
async def arrive(request: Request, alert_id: str, principal: Reader, body: Body_ = None) -> AlertView:
    return await _act(request, alert_id, "arrive", principal, body)


@router.post("/{alert_id}/resolve", response_model=AlertView, summary="the assigned worker closes the case (办结)")
async def resolve(request: Request, alert_id: str, principal: Reader, body: Body_ = None) -> AlertView:
    return await _act(request, alert_id, "resolve", principal, body)


@router.post("/{alert_id}/rate", response_model=AlertView, summary="an operator rates the handling (评单), score 1-5")
async def rate(request: Request, alert_id: str, principal: Reader, body: Body_ = None) -> AlertView:
    return await _act(request, alert_id, "rate", principal, body)


@router.post("/{alert_id}/assign", response_model=AlertView,
             summary="an operator gives the alert to a worker (unassigned queue, nobody on duty, reassignment)")
async def assign(request: Request, alert_id: str, principal: Reader, body: Body_ = None) -> AlertView:
    return await _act(request, alert_id, "assign", principal, body)

"""`GET /healthz` for probes: no auth, says whether the store answers."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from dispatch.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz(request: Request, response: Response) -> Health:
    try:
        ok = request.app.state.store.ping()
    except Exception:
        ok = False
    if not ok:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Health(status="ok" if ok else "store unavailable")

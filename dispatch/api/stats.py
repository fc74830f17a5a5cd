"""`GET /api/v1/stats`: today's figures over the caller's grids."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from dispatch.auth import Principal, require_reader
from dispatch.figures import start_of_day, today_figures
from dispatch.schemas import TodayFigures

router = APIRouter(prefix="/api/v1", tags=["stats"])


@router.get("/stats", response_model=TodayFigures)
def stats(request: Request, principal: Annotated[Principal, Depends(require_reader)]) -> TodayFigures:
    service = request.app.state.service
    now = time.time()
    since, _ = start_of_day(now, service.timezone)
    return today_figures(service.store.since(since, principal.grids), now, service.timezone)

"""`GET /metrics` (Prometheus text format) and `GET /status` (the same as JSON), no auth like /healthz.

Counts only, no alert content: keep them off the public Ingress (deploy/kubernetes/ingress.yaml routes
/, /static and /api only) and let Prometheus scrape the pods directly.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from starlette.concurrency import run_in_threadpool

from dispatch.metrics import status as read_status

router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=Response, include_in_schema=False)
async def metrics(request: Request) -> Response:
    # The store's counts are queries: off the event loop, like every other store read.
    body = await run_in_threadpool(generate_latest, request.app.state.metrics)
    return Response(body, media_type=CONTENT_TYPE_PLAIN_0_0_4)


@router.get("/status")
async def status(request: Request) -> dict[str, Any]:
    return await run_in_threadpool(read_status, request.app)

"""`GET /api/v1/feed`: Server-Sent Events, one per change of an alert or of its dispatch state.

Resumable: an EventSource that reconnects sends `Last-Event-ID` and gets every event it
missed, then the live ones, none twice. `?after=` does the same for clients that cannot set
headers (`?after=0`: from the beginning); without either the stream starts from now. A worker
sees only the events of its grids.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request, status
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from dispatch.auth import Principal, caller_key, require_reader
from dispatch.feed import FeedHub, Subscription

router = APIRouter(prefix="/api/v1", tags=["feed"])

HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # X-Accel: nginx must not buffer the stream


class EventStream(StreamingResponse):
    """Subscribes when the response starts and unsubscribes when it ends, however it ends
    (the client went away, the hub stopped, the server cancelled it): no subscriber leaks."""

    media_type = "text/event-stream"

    def __init__(self, hub: FeedHub, queues: frozenset[str] | None, after: int | None,
                 release: Callable[[], None]) -> None:
        super().__init__(iter(()), headers=HEADERS)
        self.hub, self.queues, self.after, self.release = hub, queues, after, release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            sub: Subscription = self.hub.subscribe(self.queues, self.after)
            self.body_iterator = self.hub.frames(sub)
            try:
                await super().__call__(scope, receive, send)
            finally:
                self.hub.unsubscribe(sub)
        finally:
            self.release()


def _take_stream(request: Request) -> Callable[[], None]:
    """Count one more open stream for this caller (429 past http.max_streams_per_caller); returns its release."""
    streams: dict[bytes, int] = request.app.state.streams
    key = caller_key(request) or b"anonymous"
    limit = request.app.state.config.http.max_streams_per_caller
    if streams.get(key, 0) >= limit:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, f"this token already has {limit} feed streams open",
                            headers={"Retry-After": "10"})
    streams[key] = streams.get(key, 0) + 1
    released = False

    def release() -> None:
        nonlocal released
        if not released:
            released = True
            left = streams.get(key, 1) - 1
            if left > 0:
                streams[key] = left
            else:
                streams.pop(key, None)

    return release


def _resume_point(last_event_id: str | None, after: int | None) -> int | None:
    if last_event_id is None or not last_event_id.strip():
        return after
    try:
        seq = int(last_event_id)
    except ValueError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "Last-Event-ID must be an event id of this feed") from None
    if seq < 0:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "Last-Event-ID must not be negative")
    return seq


@router.get(
    "/feed",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "`id: <seq>`, `event: change|transition`,"
                     " `data: <FeedEvent JSON>`; `: keepalive` comments while quiet"}},
)
async def feed(
    request: Request,
    principal: Annotated[Principal, Depends(require_reader)],
    grid: Annotated[str | None, Query(description="only this grid (or 'unassigned')")] = None,
    after: Annotated[int | None, Query(ge=0, description="replay events after this id; 0: from the start")] = None,
    last_event_id: Annotated[str | None, Header(description="set by EventSource when it reconnects")] = None,
) -> StreamingResponse:
    hub: FeedHub | None = getattr(request.app.state, "feed", None)
    if hub is None or hub.stopping:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the feed is not running")
    if grid is not None and not principal.may_see(grid):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"grid {grid!r} is not one of this worker's grids")
    queues = frozenset({grid}) if grid is not None else principal.grids
    # The header wins: a page opened with ?after=0 reconnects to the same URL with its Last-Event-ID.
    resume = _resume_point(last_event_id, after)
    return EventStream(hub, queues, resume, _take_stream(request))

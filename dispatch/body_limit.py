"""Request bodies bounded in size and in time before anything parses them, and before auth.

An ASGI middleware, outermost of the app's own: a declared `Content-Length` over the route's limit is a
413 without reading a byte; a body sent without one (chunked) is counted as it streams and cut off with
a 413 at the limit; a body that trickles in slower than `body_timeout_s` in all is a 408. FastAPI reads
a body before it runs the auth dependency, so without this an anonymous client could make dispatch
hold and parse hundreds of MB per request.
"""

from __future__ import annotations

import asyncio
import json
import time

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class _BodyRefused(HTTPException):
    """An HTTPException, so that FastAPI's body reading passes it on as it is (it turns other errors into 400)."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(status_code, detail, headers={"Connection": "close"})


class BodyLimit:
    def __init__(self, app: ASGIApp, *, default_bytes: int, by_path: dict[str, int] | None = None,
                 body_timeout_s: float = 30.0) -> None:
        self.app = app
        self.default_bytes = default_bytes
        self.by_path = by_path or {}
        self.body_timeout_s = body_timeout_s

    def limit_for(self, path: str) -> int:
        return self.by_path.get(path.rstrip("/") or "/", self.default_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, 413, f"request body of {declared} bytes, the limit here is {limit}")
            return
        received = 0
        deadline = time.monotonic() + self.body_timeout_s
        body_done = False
        started = False

        async def bounded_receive() -> Message:
            nonlocal received, body_done
            if body_done:  # later waits (a client disconnect during a stream) are not bounded
                return await receive()
            try:
                async with asyncio.timeout(max(deadline - time.monotonic(), 0.001)):
                    message = await receive()
            except TimeoutError:
                raise _BodyRefused(408, f"request body not received within {self.body_timeout_s:g} s") from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyRefused(413, f"request body over {limit} bytes")
                body_done = not message.get("more_body", False)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, bounded_receive, tracked_send)
        except _BodyRefused as exc:  # raised where no exception handler sat between (the app turns it into a response)
            if started:
                raise
            await _refuse(send, exc.status_code, exc.detail)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})

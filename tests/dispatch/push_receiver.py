"""A real local HTTP receiver for apprise's json:// and form:// URLs: what a WeCom bot or an SMS
gateway would be, on a free loopback port, answering the status the test sets."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dispatch.server import ServerHandle, start_app_in_thread


@dataclass
class Received:
    path: str
    body: dict[str, Any]
    at: float  # time.time() when it arrived


@dataclass
class Receiver:
    status: int = 200  # what the receiver answers; a test flips it to 500 and back
    delay_s: float = 0.0  # how long it thinks before answering (a gateway that hangs)
    received: list[Received] = field(default_factory=list)  # answered 2xx
    refused: int = 0  # requests answered with an error status
    handle: ServerHandle | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Receiver:
        async def hook(request: Request) -> Response:
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            if request.headers.get("content-type", "").startswith("application/json"):
                body = await request.json()
            else:  # form:// posts urlencoded (starlette's form parser needs python-multipart)
                body = dict(parse_qsl((await request.body()).decode()))
            with self._lock:
                if self.status >= 300:
                    self.refused += 1
                else:
                    self.received.append(Received(request.url.path, body, time.time()))
            return Response(status_code=self.status)

        self.handle = start_app_in_thread(Starlette(routes=[Route("/{path:path}", hook, methods=["POST"])]))
        return self

    def stop(self) -> None:
        if self.handle is not None:
            self.handle.stop()

    @property
    def port(self) -> int:
        assert self.handle is not None
        return self.handle.port

    def url(self, scheme: str = "json", path: str = "hook") -> str:
        return f"{scheme}://127.0.0.1:{self.port}/{path}"

    def messages(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.received if path is None or r.path == f"/{path}"]

    def wait_for(self, count: int, path: str | None = None, timeout_s: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout_s
        while len(self.messages(path)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.messages(path))} of {count} messages arrived in {timeout_s} s")
            time.sleep(0.01)
        return self.messages(path)

"""The labelling page's server: `page/` (plain files, nothing to build) and a small JSON API over one folder.

Served on 127.0.0.1 only, with the Host header checked (a web page elsewhere cannot reach it through DNS
rebinding) and JSON bodies only (a cross-site form cannot post a decision).

  GET  /api/folder              names, every frame's state, where to start
  GET  /api/frames/{stem}       its boxes, state, and why it cannot be labelled (if so)
  GET  /api/frames/{stem}/image the image
  POST /api/frames/{stem}       {"action": "save" | "empty" | "skip", "boxes": [...]} -> the decision
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Literal

import uvicorn
from fastapi import FastAPI, HTTPException, status
from fastapi.responses import FileResponse, Response
from pydantic import BaseModel, Field
from starlette.middleware.trustedhost import TrustedHostMiddleware

from models.training.review.folder import UNREVIEWED, Decision, FlywheelFolder, Frame
from models.training.review.labels import Box, ReviewError

PAGE_DIR = Path(__file__).resolve().parent / "page"
MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
               ".css": "text/css; charset=utf-8"}
IMAGE_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".bmp": "image/bmp"}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


class BoxIn(BaseModel):
    cls: int = Field(ge=0)
    cx: float = Field(ge=0, le=1)
    cy: float = Field(ge=0, le=1)
    w: float = Field(gt=0, le=1)
    h: float = Field(gt=0, le=1)


class DecisionIn(BaseModel):
    action: Literal["save", "empty", "skip"]
    boxes: list[BoxIn] = []


class FrameState(BaseModel):
    stem: str
    state: str  # unreviewed | accept | correct | empty | skip


class FolderOut(BaseModel):
    folder: str
    names: list[str]
    frames: list[FrameState]
    start: int


class FrameOut(BaseModel):
    stem: str
    state: str
    boxes: list[BoxIn]
    error: str | None  # why it cannot be labelled: unreadable image, bad label line


def _state(decision: Decision | None) -> str:
    return decision.action if decision else UNREVIEWED


def create_app(folder: FlywheelFolder) -> FastAPI:
    app = FastAPI(title="gridwatch review", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost"])
    pages = {p.name: p for p in PAGE_DIR.iterdir() if p.suffix in MEDIA_TYPES}

    def frame_or_404(stem: str) -> Frame:
        frame = folder.frame(stem)
        if frame is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no frame {stem!r}")
        return frame

    @app.get("/", include_in_schema=False)
    def index() -> Response:
        return FileResponse(pages["index.html"], media_type=MEDIA_TYPES[".html"],
                            headers={**HEADERS, "Content-Security-Policy": CSP, "Referrer-Policy": "no-referrer"})

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        path = pages.get(name)
        if path is None or name == "index.html":
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no file {name!r}")
        return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=HEADERS)

    @app.get("/api/folder", response_model=FolderOut)
    def folder_state() -> FolderOut:
        frames, decisions = folder.frames(), folder.decisions()
        return FolderOut(folder=str(folder.root), names=list(folder.names),
                         frames=[FrameState(stem=f.stem, state=_state(decisions.get(f.stem))) for f in frames],
                         start=folder.start_index(frames, decisions))

    @app.get("/api/frames/{stem}", response_model=FrameOut)
    def frame_detail(stem: str) -> FrameOut:
        frame = frame_or_404(stem)
        error, boxes = folder.problem(frame), []
        if error is None:
            boxes = [BoxIn(cls=b.cls, cx=b.cx, cy=b.cy, w=b.w, h=b.h) for b in folder.boxes(frame)]
        return FrameOut(stem=stem, state=_state(folder.decisions().get(stem)), boxes=boxes, error=error)

    @app.get("/api/frames/{stem}/image", include_in_schema=False)
    def frame_image(stem: str) -> Response:
        frame = frame_or_404(stem)
        return FileResponse(frame.image, media_type=IMAGE_TYPES.get(frame.image.suffix.lower(), "image/jpeg"),
                            headers=HEADERS)

    @app.post("/api/frames/{stem}", response_model=FrameState)
    def decide(stem: str, body: DecisionIn) -> FrameState:
        # FastAPI parses the body only when it is sent as JSON: a cross-site form's text/plain is a 422.
        frame = frame_or_404(stem)
        if body.action != "skip" and (error := folder.problem(frame)):
            raise HTTPException(status.HTTP_409_CONFLICT, error)
        boxes = [Box(b.cls, b.cx, b.cy, b.w, b.h) for b in body.boxes]
        try:
            folder.decide(frame, body.action, boxes, via="page")
        except ReviewError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from None
        return FrameState(stem=stem, state=_state(folder.decisions().get(stem)))

    return app


def bind(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:port (0: a free one); a ReviewError when the port is taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        raise ReviewError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}: choose another --port "
                          "(0: a free one)") from None
    sock.listen(64)
    return sock


def serve(folder: FlywheelFolder, port: int = 0) -> None:
    """Until Ctrl-C. The URL is printed once the socket listens, so a browser opened on it gets the page."""
    sock = bind(port)
    print(f"review page for {folder.root}: http://127.0.0.1:{sock.getsockname()[1]}/ (Ctrl-C stops)", flush=True)
    server = uvicorn.Server(uvicorn.Config(create_app(folder), log_level="warning", lifespan="off"))
    server.run(sockets=[sock])

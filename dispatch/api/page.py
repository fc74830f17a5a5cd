"""The command-center page: `GET /` and its files (`dispatch/web/`, plain files, no build step), and
`GET /api/v1/board`, what the board shows to the caller: its grids as columns and the names behind the ids.

The page itself needs no token (it holds no data); everything it shows comes from the API with the
caller's cookie or bearer token.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.responses import FileResponse
from pydantic import BaseModel

from dispatch.auth import Principal, Role, require_reader
from dispatch.routing import UNASSIGNED, local_time, on_duty
from ingest.registry import Registry

router = APIRouter(tags=["page"])

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json; charset=utf-8",
}
# The page loads nothing from elsewhere and runs no inline script, so text that arrives with an alert
# can never become code, even if a bug put it into markup. Images: the snapshots are data: URLs.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# no-cache: revalidate every load (ETag), so a screen on the wall picks up a new version on reload.
STATIC_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
PAGE_HEADERS = {**STATIC_HEADERS, "Content-Security-Policy": CSP, "Referrer-Policy": "no-referrer"}


def _static_files() -> dict[str, Path]:
    """The files the page may load, fixed when the module loads: nothing else under the folder is served."""
    return {p.name: p for p in WEB_DIR.iterdir() if p.suffix in MEDIA_TYPES and p.name != "index.html"}


STATIC_FILES = _static_files()


def _file(request: Request, path: Path, headers: dict[str, str]) -> Response:
    """The file, or 304 when the browser's copy is current (FileResponse sends an ETag but never answers 304)."""
    stat = path.stat()
    etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers={**headers, "ETag": etag})
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers={**headers, "ETag": etag}, stat_result=stat)


@router.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
def index(request: Request) -> Response:
    return _file(request, WEB_DIR / "index.html", PAGE_HEADERS)


@router.api_route("/static/{name}", methods=["GET", "HEAD"], include_in_schema=False)
def static_file(request: Request, name: str) -> Response:
    path = STATIC_FILES.get(name)
    if path is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no file {name!r}")
    return _file(request, path, STATIC_HEADERS)


class BoardGrid(BaseModel):
    id: str
    name: str
    # The duty roster as the operator assigns by it: the grid's workers and leader, and who is on duty now.
    workers: list[str] = []
    leader: str | None = None
    on_duty: list[str] = []


class BoardWorker(BaseModel):
    id: str
    name: str


class BoardContext(BaseModel):
    """Names only: no phone numbers, channels or token hashes leave the registry this way."""

    role: Role
    worker: BoardWorker | None  # the caller, when a grid worker
    grids: list[BoardGrid]  # the columns, in registry order
    unassigned: bool  # whether the caller sees the unassigned queue
    workers: dict[str, str]  # id → name of the people the caller's alerts may name
    buildings: dict[str, str]
    stations: dict[str, str]


def board_context(registry: Registry, principal: Principal, local: datetime | None = None) -> BoardContext:
    """What `principal` may see of the registry (pure); with `local`, who of each grid is on duty then."""
    grids = [g for g in registry.grids if principal.may_see(g.id)]
    if principal.grids is None:
        stations = list(registry.stations)
        people = {w.id for w in registry.workers}
    else:
        station_ids = {g.station for g in grids if g.station}
        stations = [s for s in registry.stations if s.id in station_ids]
        people = {w for g in grids for w in [*g.workers, *([g.leader] if g.leader else [])]}
        people |= {w for s in stations for w in s.workers}
    me = registry.worker(principal.worker_id) if principal.worker_id else None
    return BoardContext(
        role=principal.role,
        worker=BoardWorker(id=me.id, name=me.name) if me else None,
        grids=[BoardGrid(id=g.id, name=g.name, workers=list(g.workers), leader=g.leader,
                         on_duty=on_duty(g, local) if local is not None else []) for g in grids],
        unassigned=principal.may_see(UNASSIGNED),
        workers={w.id: w.name for w in registry.workers if w.id in people},
        buildings={b.id: b.name for b in registry.buildings if principal.may_see(b.grid or UNASSIGNED)},
        stations={s.id: s.name for s in stations},
    )


@router.get("/api/v1/board", response_model=BoardContext, tags=["page"])
def board(request: Request, principal: Annotated[Principal, Depends(require_reader)]) -> BoardContext:
    service = request.app.state.service
    return board_context(request.app.state.registry, principal, local_time(time.time(), service.timezone))

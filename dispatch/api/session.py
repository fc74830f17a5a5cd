"""`/api/v1/session`: the page trades a token for an HttpOnly cookie (and back)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from dispatch.auth import COOKIE, Credentials, Principal, presented_token, require_reader

router = APIRouter(prefix="/api/v1/session", tags=["session"])

COOKIE_MAX_AGE_S = 12 * 3600  # a command-center shift


@router.post("", status_code=status.HTTP_204_NO_CONTENT)
def login(request: Request, response: Response, credentials: Credentials,
          principal: Annotated[Principal, Depends(require_reader)]) -> None:
    """Bearer token in, cookie out; 401/403 as for reading alerts (an edge token gets no page)."""
    token = presented_token(request, credentials)
    if token:
        response.set_cookie(COOKIE, token, max_age=COOKIE_MAX_AGE_S, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path="/")


@router.delete("", status_code=status.HTTP_204_NO_CONTENT)
def logout(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/")


@router.get("")
def whoami(principal: Annotated[Principal, Depends(require_reader)]) -> dict[str, object]:
    """Who the page is logged in as, and which grids it may show (null: all)."""
    return {"role": principal.role, "worker_id": principal.worker_id,
            "grids": sorted(principal.grids) if principal.grids is not None else None}

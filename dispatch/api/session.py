"""`/api/v1/session`: the page trades a token for a session cookie, and ends the session at logout.

The cookie holds an opaque session id (dispatch.sessions), never the token: HttpOnly, SameSite=Strict,
and Secure when the page is served over TLS or behind a trusted proxy that says it was
(`http.trusted_proxies`, X-Forwarded-Proto). Logout revokes the session at dispatch, not only in the
browser: a copied cookie stops working too.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status

from dispatch.auth import COOKIE, Credentials, Principal, require_reader
from dispatch.request_origin import is_https, origin_allowed
from dispatch.sessions import SessionStore

router = APIRouter(prefix="/api/v1/session", tags=["session"])

COOKIE_MAX_AGE_S = 12 * 3600  # a command-center shift


@router.post("", status_code=status.HTTP_204_NO_CONTENT)
def login(request: Request, response: Response, credentials: Credentials,
          principal: Annotated[Principal, Depends(require_reader)]) -> None:
    """Bearer token in, session cookie out; 401/403 as for reading alerts (an edge token gets no page)."""
    if credentials is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "log in with a bearer token",
                            headers={"WWW-Authenticate": "Bearer"})
    if request.headers.get("origin") and not origin_allowed(request, request.app.state.config.http):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "log in from dispatch's own page (Origin)")
    sessions: SessionStore = request.app.state.sessions
    session_id = sessions.open(credentials.credentials)
    response.set_cookie(COOKIE, session_id, max_age=COOKIE_MAX_AGE_S, httponly=True, samesite="strict",
                        secure=is_https(request, request.app.state.config.http), path="/")


@router.delete("", status_code=status.HTTP_204_NO_CONTENT)
def logout(request: Request, response: Response) -> None:
    """Revoke the cookie's session (from dispatch's own page) and drop the cookie."""
    session_id = request.cookies.get(COOKIE)
    if session_id:
        if not origin_allowed(request, request.app.state.config.http):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "log out from dispatch's own page (Origin)")
        request.app.state.sessions.revoke(session_id)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")


@router.get("")
def whoami(principal: Annotated[Principal, Depends(require_reader)]) -> dict[str, object]:
    """Who the page is logged in as, and which grids it may show (null: all)."""
    return {"role": principal.role, "worker_id": principal.worker_id,
            "grids": sorted(principal.grids) if principal.grids is not None else None}

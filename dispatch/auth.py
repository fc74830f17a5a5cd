"""Who is calling: the edge, an operator, or a grid worker (Bearer tokens, or the page's session cookie).

Tokens are read once when the app is built (environment or /run/secrets, via
ingest.config.secret), compared as sha256 digests in constant time and never logged. A worker's token is
stored only as its sha256 in the registry; a worker sees the grids it belongs to
(member or leader). The page's cookie holds a session id (dispatch.sessions), never a token; a call it
authenticates that changes state must come from dispatch's own page (dispatch.request_origin).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from dispatch.config import AuthConfig
from dispatch.request_origin import origin_allowed
from ingest.config import secret
from ingest.registry import Registry

log = logging.getLogger(__name__)

Role = Literal["edge", "operator", "worker", "anonymous"]


class AuthConfigError(RuntimeError):
    """Dispatch would run with no way to tell a real edge from anyone else."""


@dataclass(frozen=True, slots=True)
class Principal:
    role: Role
    worker_id: str | None = None
    grids: frozenset[str] | None = None  # None: every grid, the unassigned queue included

    def may_see(self, queue: str) -> bool:
        return self.grids is None or queue in self.grids


def worker_grids(registry: Registry, worker_id: str) -> frozenset[str]:
    return frozenset(g.id for g in registry.grids if worker_id in g.workers or g.leader == worker_id)


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class Authenticator:
    def __init__(self, config: AuthConfig, registry: Registry) -> None:
        self.edge_token = secret(config.edge_token_env) or None
        self.operator_token = secret(config.operator_token_env) or None
        self.allow_no_auth = config.allow_no_auth
        if self.edge_token is None and not self.allow_no_auth:
            raise AuthConfigError(
                f"no edge token: set the environment variable {config.edge_token_env} (or the file "
                f"/run/secrets/{config.edge_token_env}), or set auth.allow_no_auth: true for development"
            )
        if self.edge_token is None:
            log.warning("auth.allow_no_auth: alerts are accepted from anyone (development only)")
        if self.operator_token is None:
            log.warning("no operator token in %s: only grid workers can read alerts%s", config.operator_token_env,
                        " (allow_no_auth: reads are open)" if self.allow_no_auth else "")
        self._known: list[tuple[bytes, Principal]] = []  # in order of precedence
        if self.edge_token is not None:
            self._known.append((token_digest(self.edge_token), Principal("edge")))
        if self.operator_token is not None:
            self._known.append((token_digest(self.operator_token), Principal("operator")))
        self._known += [
            (bytes.fromhex(w.token_sha256), Principal("worker", w.id, worker_grids(registry, w.id)))
            for w in registry.workers
            if w.token_sha256
        ]

    def identify(self, token: str | None) -> Principal | None:
        """The caller a token stands for; None when the token is missing or unknown."""
        return self.identify_digest(token_digest(token)) if token else None

    def identify_digest(self, digest: bytes) -> Principal | None:
        """The caller a token's sha256 stands for (a session keeps only that)."""
        found: Principal | None = None
        # Every candidate is compared, so the time taken does not say which one matched.
        for expected, principal in self._known:
            if hmac.compare_digest(digest, expected):
                found = found or principal
        return found


_bearer = HTTPBearer(auto_error=False)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
# The command-center page authenticates with this cookie (EventSource cannot send headers): an opaque
# session id set by POST /api/v1/session, HttpOnly, SameSite=Strict, Secure over TLS.
COOKIE = "gridwatch_session"


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


def presented(request: Request, credentials: HTTPAuthorizationCredentials | None) -> bool:
    """Whether the caller showed a Bearer token or a session cookie (valid or not)."""
    return credentials is not None or bool(request.cookies.get(COOKIE))


def caller_key(request: Request) -> bytes | None:
    """The sha256 of the token behind this request (Bearer or session), once auth has run: what per-caller
    limits count by, so that one token's many sessions share its limit."""
    return getattr(request.state, "caller_key", None)


def _principal(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal | None:
    auth: Authenticator = request.app.state.auth
    if credentials is not None:
        key: bytes | None = token_digest(credentials.credentials)
    else:
        session_id = request.cookies.get(COOKIE)
        key = request.app.state.sessions.token_digest(session_id) if session_id else None
        if key is not None and not origin_allowed(request, request.app.state.config.http):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "a call that changes state must come from dispatch's "
                                "own page (Origin)")
    request.state.caller_key = key
    return auth.identify_digest(key) if key is not None else None


def require_edge(request: Request, credentials: Credentials) -> Principal:
    """POST of alert changes: the edge token (or anyone, with allow_no_auth and no edge token)."""
    auth: Authenticator = request.app.state.auth
    principal = _principal(request, credentials)
    if auth.edge_token is None:  # allow_no_auth (checked at start)
        return principal or Principal("anonymous")
    if principal is None:
        raise _unauthorized("missing or invalid token" if credentials else "missing bearer token")
    if principal.role != "edge":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this token may not post alerts")
    return principal


def require_reader(request: Request, credentials: Credentials) -> Principal:
    """Reading alerts and taking part in the loop: the operator (all) or a grid worker (own grids)."""
    auth: Authenticator = request.app.state.auth
    principal = _principal(request, credentials)
    shown = presented(request, credentials)
    if principal is None:
        if auth.allow_no_auth and auth.operator_token is None and not shown:
            return Principal("anonymous")  # development: open reads
        raise _unauthorized("missing or invalid token" if shown else "missing bearer token")
    if principal.role not in ("operator", "worker", "anonymous"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this token may not read alerts")
    return principal

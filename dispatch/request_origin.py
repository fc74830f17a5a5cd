"""Where a request came from, as far as the page's security needs: over TLS or not (for the cookie's
`Secure`), and whether a state-changing call was made from dispatch's own page (the Origin check).

`X-Forwarded-Proto` is believed only from the addresses in `http.trusted_proxies`: anyone else could
send it. A cookie-authenticated POST or DELETE must carry an `Origin` that is dispatch's own (or one in
`http.allowed_origins`); browsers send it on every such call, a forged cross-site form cannot fake it.
Bearer calls need no check: another site's page cannot make a browser add that header.
"""

from __future__ import annotations

from fastapi import Request

from dispatch.config import HttpConfig

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def is_https(request: Request, http: HttpConfig) -> bool:
    if request.url.scheme == "https":
        return True
    client = request.client.host if request.client else None
    if client is None or client not in http.trusted_proxies:
        return False
    proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return proto == "https"


def own_origin(request: Request, http: HttpConfig) -> str | None:
    host = request.headers.get("host")
    return f"{'https' if is_https(request, http) else 'http'}://{host}" if host else None


def origin_allowed(request: Request, http: HttpConfig) -> bool:
    """True for safe methods; for the others, an Origin header naming dispatch itself or an allowed origin."""
    if request.method in SAFE_METHODS:
        return True
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return False
    return origin == own_origin(request, http) or origin in http.allowed_origins

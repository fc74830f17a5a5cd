"""The page's session over real HTTP: the cookie is an opaque id, never the token; Secure over TLS or behind a
trusted proxy; revoked at logout (a copied cookie stops working); state-changing calls by cookie need the page's
Origin; one token holds a bounded number of feed streams."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from dispatch.auth import COOKIE
from dispatch.server import ServerHandle
from tests.dispatch.test_api import OPERATOR, W1, bearer, make_alert, post


def login(client: httpx.Client, token: str = W1, **headers: str) -> httpx.Response:
    return client.post("/api/v1/session", headers={**bearer(token), **headers})


def test_the_cookie_is_an_opaque_session_id_not_the_token(start_dispatch: Callable[..., ServerHandle]) -> None:
    dispatch = start_dispatch()
    with httpx.Client(base_url=dispatch.url) as browser:
        response = login(browser)
        assert response.status_code == 204
        value = browser.cookies[COOKIE]
        assert W1 not in response.headers["set-cookie"] and value != W1 and len(value) >= 40
        assert "secure" not in response.headers["set-cookie"].lower()  # plain HTTP, no proxy trusted
        assert browser.get("/api/v1/session").json()["worker_id"] == "w1"
    # The token itself in the cookie opens nothing (the old cookie format).
    assert httpx.get(dispatch.url + "/api/v1/alerts", cookies={COOKIE: W1}).status_code == 401
    assert httpx.get(dispatch.url + "/api/v1/alerts", cookies={"gridwatch_token": W1}).status_code == 401


def test_logout_revokes_the_session_at_dispatch(start_dispatch: Callable[..., ServerHandle]) -> None:
    dispatch = start_dispatch()
    with httpx.Client(base_url=dispatch.url) as browser:
        login(browser)
        stolen = browser.cookies[COOKIE]
        assert browser.delete("/api/v1/session", headers={"Origin": dispatch.url}).status_code == 204
    # A copy of the cookie taken before logout no longer works.
    assert httpx.get(dispatch.url + "/api/v1/alerts", cookies={COOKIE: stolen}).status_code == 401
    assert dispatch.app.state.sessions.count() == 0


@pytest.mark.parametrize(("trusted", "forwarded", "secure"), [
    ([], "https", False),  # anyone can send the header: ignored unless the proxy is trusted
    (["127.0.0.1"], "https", True),
    (["127.0.0.1"], "http", False),
])
def test_secure_behind_a_trusted_proxy_that_says_https(start_dispatch: Callable[..., ServerHandle], trusted: list[str],
                                                       forwarded: str, secure: bool) -> None:
    dispatch = start_dispatch(http={"trusted_proxies": trusted})
    with httpx.Client(base_url=dispatch.url) as browser:
        response = login(browser, **{"X-Forwarded-Proto": forwarded})
    assert ("secure" in response.headers["set-cookie"].lower().split("; ")) is secure


@pytest.mark.parametrize(("origin", "status"), [
    (None, 403),  # a cookie-authenticated POST without an Origin: not from a browser's page
    ("https://evil.example", 403),
    ("null", 403),
    ("SAME", 200),
    ("https://screens.example", 200),  # http.allowed_origins
])
def test_state_changing_calls_by_cookie_need_the_pages_origin(start_dispatch: Callable[..., ServerHandle],
                                                              origin: str | None, status: int) -> None:
    dispatch = start_dispatch(http={"allowed_origins": ["https://screens.example"]})
    alert = make_alert()
    assert post(dispatch, alert).status_code == 201
    with httpx.Client(base_url=dispatch.url) as browser:
        login(browser)
        headers = {} if origin is None else {"Origin": dispatch.url if origin == "SAME" else origin}
        response = browser.post(f"/api/v1/alerts/{alert.id}/accept", headers=headers)
        assert response.status_code == status, response.text
        assert browser.get("/api/v1/alerts").status_code == 200  # reads need no Origin
    # A bearer call needs none: another site cannot make a browser send the header.
    assert httpx.post(f"{dispatch.alerts_url}/{alert.id}/accept", headers=bearer(W1)).status_code == 200


def test_one_token_holds_a_bounded_number_of_streams(start_dispatch: Callable[..., ServerHandle]) -> None:
    dispatch = start_dispatch(http={"max_streams_per_caller": 3})
    with ExitStack() as stack:
        for _ in range(3):
            response = stack.enter_context(httpx.stream("GET", dispatch.url + "/api/v1/feed", headers=bearer(W1),
                                                        timeout=5))
            assert response.status_code == 200
        refused = httpx.get(dispatch.url + "/api/v1/feed", headers=bearer(W1), timeout=5)
        assert refused.status_code == 429 and refused.headers["retry-after"]
        # Another token has its own allowance; a session of the same token shares W1's.
        with httpx.stream("GET", dispatch.url + "/api/v1/feed", headers=bearer(OPERATOR), timeout=5) as other:
            assert other.status_code == 200
        with httpx.Client(base_url=dispatch.url) as browser:
            login(browser)
            assert browser.get("/api/v1/feed", timeout=5).status_code == 429
    # Closed streams give their place back.
    deadline = time.monotonic() + 5
    while dispatch.app.state.streams and time.monotonic() < deadline:
        time.sleep(0.05)
    with httpx.stream("GET", dispatch.url + "/api/v1/feed", headers=bearer(W1), timeout=5) as again:
        assert again.status_code == 200


def test_screens_stay_logged_in_across_the_upgrade_of_an_older_session_file(tmp_path: Path) -> None:
    """gridwatch before 0.3 kept a `sessions` table; its live sessions carry over, once."""
    import sqlite3

    from dispatch.sessions import SESSION_FILE, SessionStore, digest

    path = tmp_path / SESSION_FILE
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE sessions (id_sha256 BLOB PRIMARY KEY, token_sha256 BLOB NOT NULL, expires_at REAL"
                " NOT NULL)")
    old.execute("INSERT INTO sessions VALUES (?, ?, ?)", (digest("screen-1"), digest(OPERATOR), time.time() + 60))
    old.commit()
    old.close()
    for _ in range(2):  # the second start finds nothing left to carry over
        store = SessionStore.in_file(path, 3600)
        assert store.token_digest("screen-1") == digest(OPERATOR) and store.count() == 1
        store.close()

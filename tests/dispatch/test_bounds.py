"""What hostile or broken input does to dispatch: evidence bounded at the API, a stored feed event that
cannot be read back quarantined and skipped (the feed and the pusher go on), out-of-range numbers a 422."""

from __future__ import annotations

import json
import logging
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from dispatch.config import HttpConfig
from dispatch.push.base import Outgoing
from dispatch.push.config import PushConfig
from dispatch.push.pusher import Pusher
from dispatch.server import FD_RESERVE, ServerHandle, fit_file_limit
from dispatch.service import DispatchService
from dispatch.sla import SlaConfig
from dispatch.store import AlertStore, SqliteStore
from ingest.wire.alert import MAX_EVIDENCE_DEPTH, STORED, Alert
from tests.dispatch.test_api import EDGE, OPERATOR, REGISTRY, bearer, make_alert, post


@pytest.fixture
def dispatch(start_dispatch: Callable[..., ServerHandle]) -> ServerHandle:
    return start_dispatch()


def nested(depth: int) -> dict:
    value: dict = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"n": value}
    return value


def body_with(**fields: object) -> str:
    doc = json.loads(make_alert().to_json())
    doc.update(fields)
    return json.dumps(doc)


@pytest.mark.parametrize(
    ("fields", "mentions"),
    [
        ({"evidence": nested(198)}, "evidence"),  # accepted before: it broke every reader of the feed
        ({"evidence": nested(MAX_EVIDENCE_DEPTH + 1)}, f"deeper than {MAX_EVIDENCE_DEPTH}"),
        ({"evidence": {"blob": "x" * 200_000}}, "evidence"),
        ({"revision": 2**63}, "revision"),  # SQLite holds 64-bit integers: a 500 before
        ({"revision": 10**30}, "revision"),
        ({"started_at": "0001-01-01T00:00:00+01:00"}, "started_at"),  # OverflowError: a 500 before
        ({"raised_at": "9999-12-31T23:59:59-01:00"}, "raised_at"),
    ],
)
def test_out_of_bounds_fields_are_422_naming_the_field(dispatch: ServerHandle, fields: dict, mentions: str) -> None:
    response = post(dispatch, body_with(**fields))
    assert response.status_code == 422, response.text
    assert mentions in response.json()["detail"]
    assert dispatch.app.state.store.counts()["changes"] == 0


def test_evidence_at_the_bound_is_accepted(dispatch: ServerHandle) -> None:
    response = post(dispatch, body_with(evidence=nested(MAX_EVIDENCE_DEPTH)))
    assert response.status_code == 201, response.text


def _corrupt_event(path: Path, seq: int) -> None:
    """What an old store holds after a 198-deep evidence was accepted: a row no reader can parse."""
    with sqlite3.connect(path) as conn:
        (body,) = conn.execute("SELECT body FROM events WHERE seq = ?", (seq,)).fetchone()
        doc = json.loads(body)
        doc["alert"]["evidence"] = nested(199)
        conn.execute("UPDATE events SET body = ? WHERE seq = ?", (json.dumps(doc), seq))


def _feed_ids(url: str, want: int, timeout_s: float = 5.0) -> list[int]:
    ids: list[int] = []
    deadline = time.monotonic() + timeout_s
    with httpx.stream("GET", url + "/api/v1/feed", params={"after": 0}, headers=bearer(OPERATOR),
                      timeout=httpx.Timeout(timeout_s)) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("id:"):
                ids.append(int(line[3:]))
            if len(ids) >= want or time.monotonic() > deadline:
                break
    return ids


def test_an_unreadable_stored_event_is_quarantined_and_the_feed_goes_on(
        start_dispatch: Callable[..., ServerHandle]) -> None:
    before = start_dispatch()
    assert post(before, make_alert(0)).status_code == 201  # seq 1 change, seq 2 dispatch
    before.stop()
    _corrupt_event(before.app.state.store.path, 1)
    dispatch = start_dispatch()  # a restart: nothing of the old store is in memory
    store: AlertStore = dispatch.app.state.store
    assert post(dispatch, make_alert(1)).status_code == 201  # seq 3, 4
    assert _feed_ids(dispatch.url, 3) == [2, 3, 4]
    assert [seq for seq, _ in store.quarantined_events()] == [1]
    # Every reader skips it from then on, and a full page is still full.
    assert [e.seq for e in store.events_after(0, limit=2)] == [2, 3]


class RecordingChannel:
    """A real in-process channel that keeps what it was handed (the pusher's own interface)."""

    kind = "mqtt"

    def __init__(self) -> None:
        self.delivered: list[Outgoing] = []
        self.got = threading.Event()

    def ready(self) -> bool:
        return True

    def deliver(self, address: str, outgoing: Outgoing) -> None:
        self.delivered.append(outgoing)
        self.got.set()

    def close(self) -> None:
        pass


def test_an_unreadable_stored_event_does_not_stop_the_pusher_for_good(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "dispatch.sqlite")
    service = DispatchService(store, REGISTRY, SlaConfig(), "Asia/Shanghai")
    first, second = make_alert(0), make_alert(1)
    service.receive(first)  # seq 2: dispatched to w1, a push
    _corrupt_event(store.path, 2)
    service.receive(second)  # seq 4: the next push
    channel = RecordingChannel()
    pusher = Pusher(store, REGISTRY, PushConfig(), None, tmp_path, channels={"mqtt": channel}).start()
    try:
        assert channel.got.wait(5), "the pusher stopped at the unreadable event"
        assert [o.message.id for o in channel.delivered] == [second.id]
        assert pusher.ledger.cursor() == 4
    finally:
        pusher.stop()
        store.close()


# -- request bodies: bounded before parsing and before auth -------------------------------------------


def raw_request(handle: ServerHandle, head: str, body: bytes = b"", *, wait_s: float = 3.0) -> tuple[int, bytes]:
    """Send a request as an attacker would (a declared length need not come), read the answer."""
    with socket.create_connection((handle.host, handle.port), timeout=wait_s) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        answer = b""
        while chunk := sock.recv(65536):  # the server closes a refused connection
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest


def test_a_huge_declared_body_is_413_at_once_without_a_token_and_unread(dispatch: ServerHandle) -> None:
    started = time.monotonic()
    status, rest = raw_request(dispatch, "POST /api/v1/alerts/x/accept HTTP/1.1\nHost: t\n"
                               "Content-Type: application/json\nContent-Length: 300000000\n")
    assert status == 413 and b"limit" in rest
    assert time.monotonic() - started < 1.0


def test_a_chunked_body_is_cut_off_at_the_limit(dispatch: ServerHandle) -> None:
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        for _ in range(200):  # 12.8 MB if all were read
            sent += 65536
            yield b" " * 65536

    response = httpx.post(dispatch.url + "/api/v1/alerts/x/accept", content=chunks(), timeout=5,
                          headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert sent < 4 * 1024 * 1024  # the server hung up long before the end


@pytest.mark.parametrize(("path", "size", "status"), [
    ("/api/v1/alerts", 5 * 1024 * 1024, 413),  # over the alert limit
    ("/api/v1/alerts", 200 * 1024, 422),  # a snapshot-sized body is read (and judged)
    ("/api/v1/session", 200 * 1024, 413),  # other calls get the small limit
])
def test_each_route_has_its_limit(dispatch: ServerHandle, path: str, size: int, status: int) -> None:
    response = httpx.post(dispatch.url + path, content=b"{" + b" " * size + b"}", headers=bearer(EDGE), timeout=5)
    assert response.status_code == status, response.text


def test_a_body_that_trickles_in_is_408(start_dispatch: Callable[..., ServerHandle]) -> None:
    handle = start_dispatch(http={"body_timeout_s": 0.5})
    started = time.monotonic()
    status, _ = raw_request(handle, f"POST /api/v1/alerts HTTP/1.1\nHost: t\nAuthorization: Bearer {EDGE}\n"
                            "Content-Length: 1000\n", b"{")
    assert status == 408 and time.monotonic() - started < 2.5


# -- connections: none may be held for free ----------------------------------------------------------


def closed_by_server(sock: socket.socket, within_s: float) -> bool:
    """Whether the server hangs up within `within_s` (what it still sends before that is read and dropped)."""
    deadline = time.monotonic() + within_s
    try:
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            if sock.recv(65536) == b"":
                return True
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return False


def test_idle_and_over_cap_connections_are_closed_and_the_edge_gets_through(
        start_dispatch: Callable[..., ServerHandle], caplog: pytest.LogCaptureFixture) -> None:
    handle = start_dispatch(http={"max_connections": 20, "header_timeout_s": 0.5})
    idle = [socket.create_connection((handle.host, handle.port)) for _ in range(60)]
    try:
        over = idle[20:]
        assert all(closed_by_server(s, 1.0) for s in over), "connections over the cap stay open"
        assert all(closed_by_server(s, 2.0) for s in idle[:20]), "idle connections are never closed"
        response = post(handle, make_alert())
        assert response.status_code == 201
    finally:
        for sock in idle:
            sock.close()
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING and (r.exc_info or "connection" in r.message)]
    assert len(noisy) <= 2, [r.message for r in noisy]  # one line per burst, no tracebacks


def test_headers_sent_a_byte_at_a_time_are_cut_off(start_dispatch: Callable[..., ServerHandle]) -> None:
    handle = start_dispatch(http={"header_timeout_s": 0.5})
    with socket.create_connection((handle.host, handle.port)) as sock:
        started = time.monotonic()
        closed = False
        for byte in b"POST /api/v1/alerts HTTP/1.1\r\nHost: dispatch\r\nX-Slow: " + b"a" * 100:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            if closed_by_server(sock, 0.05):
                closed = True
                break
        assert closed and time.monotonic() - started < 2.0


def test_a_keep_alive_connection_left_idle_is_closed(start_dispatch: Callable[..., ServerHandle]) -> None:
    handle = start_dispatch(http={"keep_alive_s": 0.3})
    with socket.create_connection((handle.host, handle.port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        assert b"200" in sock.recv(65536)
        assert closed_by_server(sock, 1.5)


def test_the_connection_cap_is_kept_under_the_file_limit() -> None:
    assert fit_file_limit(HttpConfig(max_connections=1000), 300).max_connections == 300 - FD_RESERVE
    assert fit_file_limit(HttpConfig(max_connections=100), 300).max_connections == 100


def test_an_alert_stored_before_evidence_was_bounded_still_lists_shows_and_pushes(
        start_dispatch: Callable[..., ServerHandle], tmp_path: Path) -> None:
    """The bounds apply to what comes in: a store from before them must not turn into 500s or a stuck pusher."""
    old = Alert.model_validate({**json.loads(make_alert(0).to_json()), "evidence": nested(40)}, context=STORED)
    store = SqliteStore(tmp_path / "dispatch" / "dispatch.sqlite")
    DispatchService(store, REGISTRY, SlaConfig(), "Asia/Shanghai").receive(old)  # as the old endpoint took it
    store.close()
    dispatch = start_dispatch()
    assert post(dispatch, make_alert(1)).status_code == 201
    listed = httpx.get(dispatch.alerts_url, headers=bearer(OPERATOR), timeout=5)
    assert listed.status_code == 200 and {a["id"] for a in listed.json()["alerts"]} == {old.id, make_alert(1).id}
    assert httpx.get(f"{dispatch.alerts_url}/{old.id}", headers=bearer(OPERATOR), timeout=5).status_code == 200
    assert _feed_ids(dispatch.url, 4) == [1, 2, 3, 4]
    channel = RecordingChannel()
    pusher = Pusher(dispatch.app.state.store, REGISTRY, PushConfig(), None, tmp_path / "push",
                    channels={"mqtt": channel}).start()
    try:
        deadline = time.monotonic() + 5
        while len(channel.delivered) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert {o.message.id for o in channel.delivered} == {old.id, make_alert(1).id}
    finally:
        pusher.stop()

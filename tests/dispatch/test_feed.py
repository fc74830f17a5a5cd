"""The alert feed, `GET /api/v1/feed`: real dispatch servers on free ports, real SSE clients
(httpx streams, one thread each), the real SQLite store; and the hub alone on the store for
what a client cannot force (a slow screen, a resume from beyond the ring)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from dispatch.config import DispatchConfig
from dispatch.feed import FeedHub
from dispatch.server import ServerHandle, start_in_thread
from dispatch.store import AlertStore
from ingest.registry import Registry
from ingest.wire.alert import Alert, episode_id
from ingest.wire.dispatch import FeedEvent

EDGE, OPERATOR, W1, W3 = "edge-secret", "operator-secret", "worker-1-secret", "worker-3-secret"
HEARTBEAT_S = 0.2  # the screens' reader threads look at their stop flag at least this often


def sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


REGISTRY = Registry.model_validate(
    {
        "grids": [{"id": "g1", "workers": ["w1"]}, {"id": "g2", "workers": ["w2"], "leader": "w3"}],
        "workers": [{"id": "w1", "token_sha256": sha(W1)}, {"id": "w2"}, {"id": "w3", "token_sha256": sha(W3)}],
        "buildings": [{"id": "b1", "grid": "g1"}, {"id": "b2", "grid": "g2"}],
    }
)


def make_alert(n: int, grid: str | None = "g1", *, revision: int = 1, severity: str = "warning") -> Alert:
    started = datetime(2026, 3, 1, 8, tzinfo=UTC) + timedelta(minutes=n)
    return Alert(
        id=episode_id("water.no_usage", f"m{n}", started), type="water.no_usage", state="active",
        severity=severity, subject=f"m{n}", building={"g1": "b1", "g2": "b2"}.get(grid or ""), grid=grid,
        started_at=started, raised_at=started + timedelta(hours=12), summary=f"no water used for 12 h at m{n}",
        edge_id="edge-01", revision=revision,
    )


def wait_until(predicate: Callable[[], bool], what: str, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.01)


# -- an SSE client ------------------------------------------------------------------------------


@dataclass
class Event:
    id: int
    event: str
    data: dict


@dataclass
class Screen:
    """One EventSource-like client on its own thread; parses the stream as a browser would."""

    url: str
    token: str | None = OPERATOR
    params: dict = field(default_factory=dict)
    last_event_id: int | None = None
    events: list[Event] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    retry_ms: int | None = None
    status: int | None = None
    body: str = ""
    content_type: str = ""
    error: Exception | None = None

    def __post_init__(self) -> None:
        self.ready = threading.Event()  # the stream is open (its first comment came) or refused
        self.ended = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        if self.last_event_id is not None:
            headers["Last-Event-ID"] = str(self.last_event_id)
        try:
            with httpx.stream("GET", self.url + "/api/v1/feed", params=self.params, headers=headers,
                              timeout=httpx.Timeout(5.0)) as response:
                self.status, self.content_type = response.status_code, response.headers.get("content-type", "")
                if response.status_code != 200:
                    self.body = response.read().decode()
                    return
                fields: dict[str, str] = {}
                for line in response.iter_lines():
                    if self._stop.is_set():
                        return
                    if line.startswith(":"):
                        self.comments.append(line[1:].strip())
                        self.ready.set()
                    elif line.startswith("retry:"):
                        self.retry_ms = int(line[6:])
                    elif line:
                        name, _, value = line.partition(":")
                        fields[name] = fields.get(name, "") + value.removeprefix(" ")
                    elif "data" in fields:  # a blank line ends an event
                        self.events.append(Event(int(fields["id"]), fields["event"], json.loads(fields["data"])))
                        fields = {}
        except httpx.HTTPError as exc:  # the server went away mid-stream: the stream has ended
            self.error = exc
        finally:
            self.ready.set()
            self.ended.set()

    def wait_ready(self) -> Screen:
        assert self.ready.wait(5), "the feed did not answer"
        return self

    def ids(self) -> list[int]:
        return [e.id for e in list(self.events)]

    def wait_for(self, count: int, timeout_s: float = 5.0) -> list[int]:
        wait_until(lambda: len(self.events) >= count, f"{count} events (have {self.ids()})", timeout_s)
        return self.ids()

    def hang_up(self) -> None:
        self._stop.set()  # the thread leaves at the next line (a keepalive at the latest) and hangs up

    def close(self) -> None:
        self.hang_up()
        assert self.ended.wait(5)


# -- a real dispatch server ---------------------------------------------------------------------


@pytest.fixture
def start_dispatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], ServerHandle]]:
    monkeypatch.setenv("GRIDWATCH_TOKEN", EDGE)
    monkeypatch.setenv("GRIDWATCH_OPERATOR_TOKEN", OPERATOR)
    handles: list[ServerHandle] = []

    def start() -> ServerHandle:
        config = DispatchConfig(listen="127.0.0.1:0", state_dir=tmp_path / "dispatch")
        handle = start_in_thread(config, REGISTRY)
        handle.app.state.feed.heartbeat_s = HEARTBEAT_S
        handles.append(handle)
        return handle

    yield start
    for handle in handles:
        handle.stop()


@pytest.fixture
def dispatch(start_dispatch: Callable[[], ServerHandle]) -> ServerHandle:
    return start_dispatch()


@pytest.fixture
def screens(dispatch: ServerHandle) -> Iterator[Callable[..., Screen]]:
    opened: list[Screen] = []

    def open_screen(token: str | None = OPERATOR, **kwargs: object) -> Screen:
        opened.append(Screen(dispatch.url, token, **kwargs).wait_ready())  # type: ignore[arg-type]
        return opened[-1]

    yield open_screen
    for screen in opened:
        screen.hang_up()


def post(handle: ServerHandle, alert: Alert) -> httpx.Response:
    response = httpx.post(handle.alerts_url, content=alert.to_json(),
                          headers={"Authorization": f"Bearer {EDGE}"}, timeout=5)
    assert response.status_code in (200, 201), response.text
    return response


def logged(handle: ServerHandle, queues: set[str] | None = None) -> list[FeedEvent]:
    """The store's own event log: what the feed must show, exactly."""
    return handle.app.state.store.events_after(0, queues=queues, limit=100_000)


# -- the stream ---------------------------------------------------------------------------------


def test_one_event_per_change_in_order_exactly_as_the_store_logged_them(
    dispatch: ServerHandle, screens: Callable[..., Screen]
) -> None:
    screen = screens()
    assert screen.status == 200 and screen.content_type.startswith("text/event-stream")
    assert screen.retry_ms == 3000 and screen.comments[0] == "connected"

    first, other = make_alert(0), make_alert(1, grid="g2")
    worse = first.model_copy(update={"severity": "critical", "revision": 2})
    for change in (first, other, worse, first):  # the last is a repeat: stored once, no new event
        post(dispatch, change)

    log = logged(dispatch)
    ids = screen.wait_for(len(log))
    assert ids == [e.seq for e in log] and ids == sorted(set(ids))
    changes = [e for e in screen.events if e.event == "change"]
    assert [(e.data["alert"]["id"], e.data["alert"]["severity"]) for e in changes] == [
        (first.id, "warning"), (other.id, "warning"), (first.id, "critical")]
    assert all(e.data == json.loads(ev.model_dump_json()) for e, ev in zip(screen.events, log, strict=True))
    assert all(e.data["alert"]["snapshot_jpeg_b64"] is None for e in screen.events)
    time.sleep(3 * HEARTBEAT_S)
    assert len(screen.events) == len(log), "an event came twice or out of nowhere"


def test_a_quiet_stream_gets_keepalive_comments(screens: Callable[..., Screen]) -> None:
    screen = screens()
    wait_until(lambda: screen.comments.count("keepalive") >= 2, "two keepalives")
    assert screen.events == []


def test_a_worker_gets_only_the_events_of_its_grids(dispatch: ServerHandle, screens: Callable[..., Screen]) -> None:
    operator, w1, w3 = screens(), screens(W1), screens(W3)
    unassigned_only = screens(params={"grid": "unassigned"})
    for n, grid in enumerate(["g1", "g2", None, "g1", "g2"]):
        post(dispatch, make_alert(n, grid))

    everything = logged(dispatch)
    assert operator.wait_for(len(everything)) == [e.seq for e in everything]
    for screen, queues in ((w1, {"g1"}), (w3, {"g2"}), (unassigned_only, {"unassigned"})):
        expected = [e.seq for e in logged(dispatch, queues)]
        assert expected and screen.wait_for(len(expected)) == expected
        assert {e.data["alert"]["dispatch"]["queue"] for e in screen.events} == queues
    time.sleep(3 * HEARTBEAT_S)
    assert len(w1.events) == len(logged(dispatch, {"g1"})), "a worker saw another grid's event"


@pytest.mark.parametrize(
    ("token", "params", "headers", "status"),
    [
        (None, {}, {}, 401),
        ("not-a-token", {}, {}, 401),
        (EDGE, {}, {}, 403),
        (W1, {"grid": "g2"}, {}, 403),
        (W1, {"grid": "unassigned"}, {}, 403),
        (OPERATOR, {"after": "-1"}, {}, 422),
        (OPERATOR, {}, {"Last-Event-ID": "yesterday"}, 400),
    ],
)
def test_refusals(dispatch: ServerHandle, token: str | None, params: dict, headers: dict, status: int) -> None:
    if token:
        headers = {**headers, "Authorization": f"Bearer {token}"}
    response = httpx.get(dispatch.url + "/api/v1/feed", params=params, headers=headers, timeout=5)
    assert response.status_code == status
    assert dispatch.app.state.feed.subscribers == 0


def test_the_page_cookie_opens_the_feed(dispatch: ServerHandle) -> None:
    with httpx.Client(base_url=dispatch.url, timeout=5) as client:
        assert client.post("/api/v1/session", headers={"Authorization": f"Bearer {W1}"}).status_code in (200, 204)
        with client.stream("GET", "/api/v1/feed") as response:
            assert response.status_code == 200
            assert next(response.iter_lines()) == "retry: 3000"


# -- resuming -----------------------------------------------------------------------------------


def test_resume_with_last_event_id_gets_exactly_the_missed_events_then_live_ones(
    dispatch: ServerHandle, screens: Callable[..., Screen]
) -> None:
    screen = screens()
    post(dispatch, make_alert(0))
    post(dispatch, make_alert(1))
    seen = screen.wait_for(len(logged(dispatch)))
    screen.close()

    for n in range(2, 5):  # missed while away
        post(dispatch, make_alert(n))
    missed = [e.seq for e in logged(dispatch) if e.seq > seen[-1]]
    back = screens(last_event_id=seen[-1])
    assert back.wait_for(len(missed)) == missed
    post(dispatch, make_alert(5))
    assert back.wait_for(len(logged(dispatch)) - len(seen)) == [e.seq for e in logged(dispatch)][len(seen):]

    # The header wins over ?after=: an EventSource reconnects to its first URL with its last id.
    reloaded = screens(params={"after": "0"}, last_event_id=missed[0])
    assert reloaded.wait_for(len(logged(dispatch)) - len(seen) - 1)[0] == missed[1]


def test_after_0_replays_from_the_beginning_and_without_it_the_stream_starts_now(
    dispatch: ServerHandle, screens: Callable[..., Screen]
) -> None:
    for n in range(3):
        post(dispatch, make_alert(n, grid=["g1", "g2", None][n]))
    before = logged(dispatch)
    from_start, worker_from_start = screens(params={"after": "0"}), screens(W3, params={"after": "0"})
    from_now = screens()
    assert from_start.wait_for(len(before)) == [e.seq for e in before]
    assert worker_from_start.wait_for(1) == [e.seq for e in logged(dispatch, {"g2"})]
    post(dispatch, make_alert(9))
    new = [e.seq for e in logged(dispatch)][len(before):]
    assert from_now.wait_for(len(new)) == new


def test_resume_after_a_restart_of_the_server(start_dispatch: Callable[[], ServerHandle]) -> None:
    first = start_dispatch()
    screen = Screen(first.url).wait_ready()
    post(first, make_alert(0))
    seen = screen.wait_for(len(logged(first)))
    first.stop()
    assert screen.ended.wait(5), "the stream stayed open after the server stopped"

    second = start_dispatch()
    second.app.state.feed.heartbeat_s = HEARTBEAT_S
    post(second, make_alert(1))
    back = Screen(second.url, last_event_id=seen[-1]).wait_ready()
    expected = [e.seq for e in logged(second)][len(seen):]
    assert back.wait_for(len(expected)) == expected
    back.close()


# -- many screens, and screens that go away -----------------------------------------------------


def test_thirty_two_screens_all_get_every_event_and_leave_no_subscriber_behind(
    dispatch: ServerHandle, screens: Callable[..., Screen]
) -> None:
    many = [screens(params={"after": "0"} if i % 2 else {}) for i in range(32)]
    hub: FeedHub = dispatch.app.state.feed
    assert hub.subscribers == 32
    for n in range(10):
        post(dispatch, make_alert(n, grid=["g1", "g2", None][n % 3]))
    expected = [e.seq for e in logged(dispatch)]
    for screen in many:
        assert screen.wait_for(len(expected)) == expected

    for screen in many:
        screen.hang_up()
    assert all(screen.ended.wait(5) for screen in many)
    wait_until(lambda: hub.subscribers == 0, "every subscriber to leave", timeout_s=3)


def test_stopping_the_server_ends_open_streams_promptly(dispatch: ServerHandle, screens: Callable[..., Screen]) -> None:
    open_screens = [screens() for _ in range(3)]
    started = time.monotonic()
    dispatch.stop()
    took = time.monotonic() - started
    assert all(s.ended.wait(2) for s in open_screens)
    assert not dispatch.thread.is_alive()
    # uvicorn would wait timeout_graceful_shutdown (2 s) for these never-ending responses.
    assert took < 1.5, f"stopping took {took:.1f} s"


# -- the hub alone, on a real store -------------------------------------------------------------


def _put_all(store: AlertStore, count: int, start: int = 0) -> None:
    for n in range(start, start + count):
        store.put(make_alert(n, grid=["g1", "g2"][n % 2]))


async def _read(hub: FeedHub, sub: object, until_seq: int, timeout_s: float = 10.0) -> list[int]:
    """The ids one subscription yields until it reaches `until_seq`."""
    ids: list[int] = []

    async def read() -> None:
        async for chunk in hub.frames(sub):  # type: ignore[arg-type]
            ids.extend(int(line[4:]) for line in chunk.decode().splitlines() if line.startswith("id: "))
            if ids and ids[-1] >= until_seq:
                return

    await asyncio.wait_for(read(), timeout_s)
    return ids


def test_a_slow_screen_is_resynced_from_the_store_and_never_holds_up_the_others(
        open_store: Callable[[], AlertStore]) -> None:
    async def main() -> None:
        store = open_store()
        hub = FeedHub(store, queue_size=4, ring_size=8, heartbeat_s=HEARTBEAT_S)
        await hub.start()
        slow, fast = hub.subscribe(), hub.subscribe()
        fast_ids = asyncio.create_task(_read(hub, fast, 60))
        await asyncio.to_thread(_put_all, store, 60)
        assert await fast_ids == list(range(1, 61))
        assert slow.resync, "the slow screen's queue (4) should have overflowed"
        assert await _read(hub, slow, 60) == list(range(1, 61))  # nothing lost, nothing twice
        await hub.stop()
        store.close()

    asyncio.run(main())


def test_resume_from_the_ring_and_from_the_store_give_the_same_events(open_store: Callable[[], AlertStore]) -> None:
    async def main() -> None:
        store = open_store()
        _put_all(store, 5)  # before the hub: only the store has these
        hub = FeedHub(store, ring_size=10, heartbeat_s=HEARTBEAT_S)
        await hub.start()
        await asyncio.to_thread(_put_all, store, 25, 5)
        await asyncio.wait_for(_until(lambda: hub.last_seq == 30), 5)
        for after in (0, 3, 5, 19, 20, 25, 29):  # 20 and later: in the ring (the last 10)
            for queues in (None, {"g2"}):  # g2: the even seqs
                expected = [s for s in range(after + 1, 31) if queues is None or s % 2 == 0]
                sub = hub.subscribe(queues, after)
                assert bool(sub.backlog) == (after >= 20), after
                assert await _read(hub, sub, 30) == expected, (after, queues)
                hub.unsubscribe(sub)
        await hub.stop()
        store.close()

    asyncio.run(main())


def test_resuming_while_changes_pour_in_leaves_no_gap_and_no_duplicate(open_store: Callable[[], AlertStore]) -> None:
    total = 300

    async def main() -> None:
        store = open_store()
        hub = FeedHub(store, queue_size=16, ring_size=32, heartbeat_s=HEARTBEAT_S)
        await hub.start()
        writer = asyncio.create_task(asyncio.to_thread(_put_all, store, total))
        readers = []
        for after in range(0, total - 20, 23):  # joins at every stage: ring, store, live
            await asyncio.sleep(0.005)
            sub = hub.subscribe(None, after)
            readers.append((after, asyncio.create_task(_read(hub, sub, total))))
        await writer
        for after, reader in readers:
            assert await reader == list(range(after + 1, total + 1)), after
        await hub.stop()
        store.close()

    asyncio.run(main())


async def _until(predicate: Callable[[], bool]) -> None:
    while not predicate():
        await asyncio.sleep(0.01)

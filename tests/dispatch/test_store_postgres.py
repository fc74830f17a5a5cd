"""What only PostgreSQL does: migrations shared by replicas, the import of a SQLite store, changes
seen by every replica's feed, SLA timers fired once by racing replicas, one push leader, page sessions
that every replica knows."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psycopg
import pytest
import yaml

from dispatch.auth import COOKIE
from dispatch.config import DispatchConfig, StoreConfig
from dispatch.feed import FeedHub
from dispatch.push.config import PushConfig
from dispatch.server import start_in_thread
from dispatch.service import DispatchService
from dispatch.sessions import SESSION_FILE, SessionStore, digest
from dispatch.sla import SeverityDeadlines, SlaConfig
from dispatch.store import SqliteStore
from dispatch.store_pg import PostgresStore
from dispatch.store_schema import LATEST, SchemaError
from edge.broker import Mosquitto, free_port
from ingest.config import MqttConfig
from tests.dispatch.loop_helpers import EDGE, OPERATOR, bearer, loop_registry, make_alert
from tests.dispatch.test_push import Phone, wait_until
from tests.postgres import PostgresServer

T0 = 1_790_000_000.0
SLA = SlaConfig(critical=SeverityDeadlines(accept_min=5, resolve_min=60),
                warning=SeverityDeadlines(accept_min=15, resolve_min=240),
                info=SeverityDeadlines(accept_min=60, resolve_min=1440), station_factor=2.0)


def test_migrations_are_applied_once_and_a_newer_database_is_refused(postgres_dsn: str) -> None:
    first, second = PostgresStore(postgres_dsn), PostgresStore(postgres_dsn)  # two replicas starting
    assert first.schema_version() == second.schema_version() == LATEST
    with psycopg.connect(postgres_dsn) as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
        assert versions == list(range(1, LATEST + 1))  # each once
        conn.execute("INSERT INTO schema_migrations VALUES (99, 'from a later gridwatch', 0)")
    first.close()
    second.close()
    with pytest.raises(SchemaError, match="newer than this gridwatch"):
        PostgresStore(postgres_dsn)


def test_a_sqlite_store_from_before_versions_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:  # the shape of a store before the dispatch loop
        conn.execute("CREATE TABLE alerts (id TEXT PRIMARY KEY, type TEXT NOT NULL, subject TEXT NOT NULL,"
                     " building TEXT, queue TEXT NOT NULL, state TEXT NOT NULL, severity TEXT NOT NULL,"
                     " revision INTEGER, first_change_at REAL NOT NULL, last_change_at REAL NOT NULL,"
                     " last_change_id INTEGER NOT NULL, changes INTEGER NOT NULL,"
                     " dispatch_state TEXT NOT NULL DEFAULT 'new', payload TEXT NOT NULL)")
    store = SqliteStore(path)
    assert store.schema_version() == LATEST
    store.put(make_alert(1))
    assert store.get(make_alert(1).id).assignee is None  # a dispatch column that was not there
    store.close()


def _walk(store, clock: list[float]) -> DispatchService:
    service = DispatchService(store, loop_registry(), SLA, "Asia/Shanghai", lambda: clock[0])
    for n in range(5):
        service.receive(make_alert(n, severity="critical" if n % 2 else "warning"))
    service.receive(make_alert(0, state="cleared", revision=2))
    return service


def test_gridwatch_dispatch_migrate_imports_a_sqlite_store_with_its_ids(tmp_path: Path, postgres_dsn: str) -> None:
    clock = [T0]
    source = tmp_path / "dispatch.sqlite"
    sqlite_store = SqliteStore(source)
    _walk(sqlite_store, clock)
    before = {"alerts": sqlite_store.query(limit=100), "events": sqlite_store.events_after(0),
              "timers": {a.alert.id: sqlite_store.timers_of(a.alert.id) for a in sqlite_store.query(limit=100)}}
    sqlite_store.close()
    box_sessions = SessionStore.in_file(source.with_name(SESSION_FILE), 3600)
    screen = box_sessions.open(OPERATOR)
    box_sessions.close()
    config = tmp_path / "dispatch.yaml"
    config.write_text(yaml.safe_dump({"state_dir": str(tmp_path / "pg-state"),
                                      "store": {"kind": "postgresql", "dsn_env": "TEST_DSN"}}))
    gridwatch = [sys.executable, "-m", "edge.cli", "dispatch", "migrate", "--config", str(config)]
    env = {**os.environ, "TEST_DSN": postgres_dsn}
    done = subprocess.run([*gridwatch, "--from-sqlite", str(source)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert f"schema version {LATEST}" in done.stdout and "imported" in done.stdout

    store = PostgresStore(postgres_dsn)
    assert store.query(limit=100) == before["alerts"]
    assert store.events_after(0) == before["events"]
    assert {a.alert.id: store.timers_of(a.alert.id) for a in store.query(limit=100)} == before["timers"]
    moved = SessionStore(store.connect, 3600)  # the box's screen stays logged in through the move
    assert moved.token_digest(screen) == digest(OPERATOR)
    moved.close()
    # The sequences go on after the imported ids: a resuming screen's Last-Event-ID stays meaningful.
    last = store.last_seq()
    service = DispatchService(store, loop_registry(), SLA, "Asia/Shanghai", lambda: clock[0])
    service.receive(make_alert(9))
    assert store.events_after(last)[0].seq == last + 1
    store.close()

    again = subprocess.run([*gridwatch, "--from-sqlite", str(source)], env=env, capture_output=True, text=True)
    assert again.returncode == 1 and "already holds alerts" in again.stderr
    unset = subprocess.run(gridwatch, env={k: v for k, v in env.items() if k != "TEST_DSN"}, capture_output=True,
                           text=True)
    assert unset.returncode == 1 and "$TEST_DSN is not set" in unset.stderr


def test_every_replica_feed_sees_every_change_and_resumes_after_any_replicas_id(postgres_dsn: str) -> None:
    a, b = PostgresStore(postgres_dsn), PostgresStore(postgres_dsn)

    async def main() -> None:
        hub_b = FeedHub(b, heartbeat_s=0.5)
        await hub_b.start()
        live = hub_b.subscribe()
        for n in range(20):  # stored through replica A only
            await asyncio.to_thread(a.put, make_alert(n, grid=["g1", "g2"][n % 2]))
        seen: list[int] = []
        async for chunk in hub_b.frames(live):
            seen += [int(line[4:]) for line in chunk.decode().splitlines() if line.startswith("id: ")]
            if len(seen) >= 20:
                break
        assert seen == list(range(1, 21))
        # A screen that saw up to seq 7 on replica A reconnects to B with Last-Event-ID: 7, g2 only.
        resumed = hub_b.subscribe({"g2"}, after=7)
        got: list[int] = []
        async for chunk in hub_b.frames(resumed):
            got += [int(line[4:]) for line in chunk.decode().splitlines() if line.startswith("id: ")]
            if got and got[-1] >= 20:
                break
        assert got == [s for s in range(8, 21) if s % 2 == 0]
        await hub_b.stop()

    asyncio.run(asyncio.wait_for(main(), 20))
    a.close()
    b.close()


def test_racing_replicas_fire_each_timer_once(postgres_dsn: str) -> None:
    clock = [T0]
    replicas = [DispatchService(PostgresStore(postgres_dsn), loop_registry(), SLA, "Asia/Shanghai",
                                lambda: clock[0]) for _ in range(3)]
    for n in range(30):
        replicas[n % 3].receive(make_alert(n, severity="critical"))
    timers = replicas[0].store.counts()["timers"]
    assert timers == 30 * 4  # accept and resolve, leader and station level, per alert
    clock[0] = T0 + 10 * 3600  # every deadline has passed
    fired = [0, 0, 0]
    start = threading.Barrier(3)

    def fire(i: int) -> None:
        start.wait()
        fired[i] = replicas[i].fire_due()

    threads = [threading.Thread(target=fire, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(fired) == timers, fired
    escalations = [e for e in replicas[1].store.events_after(0, limit=10_000) if e.reason == "escalated"]
    assert len(escalations) == timers  # one feed event, one push, per timer
    assert replicas[2].store.counts()["timers"] == 0
    for replica in replicas:
        replica.store.close()


@pytest.mark.timeout(90)
def test_one_replica_pushes_and_another_takes_over_when_it_goes(postgres_dsn: str, mosquitto: Mosquitto,
                                                                 tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GRIDWATCH_DB_DSN", postgres_dsn)
    monkeypatch.setenv("GRIDWATCH_TOKEN", EDGE)
    monkeypatch.setenv("GRIDWATCH_OPERATOR_TOKEN", OPERATOR)
    phone = Phone(mosquitto, "w1").online()

    def replica(i: int):
        config = DispatchConfig(listen=f"127.0.0.1:{free_port()}", state_dir=tmp_path / f"r{i}",
                                mqtt=MqttConfig(url=mosquitto.url), store=StoreConfig(kind="postgresql"),
                                push=PushConfig(poll_s=0.2, client_id=f"gridwatch-dispatch-{i}"))
        return start_in_thread(config, loop_registry())

    handles = [replica(0), replica(1)]
    wait_until(lambda: sum(h.app.state.pusher is not None for h in handles) == 1, 10, "one push leader")
    leader = next(h for h in handles if h.app.state.pusher is not None)
    other = next(h for h in handles if h is not leader)

    def post(handle, n: int) -> None:
        alert = make_alert(n, grid="g1")
        httpx.post(handle.alerts_url, content=alert.to_json(), headers=bearer(EDGE), timeout=10).raise_for_status()

    # Alerts for w1 through both replicas: the leader pushes each once, whichever stored it.
    workers_of = {}
    for n in range(6):
        post(handles[n % 2], n)
    for n in range(6):
        got = httpx.get(f"{leader.url}/api/v1/alerts/{make_alert(n).id}", headers=bearer(OPERATOR), timeout=5).json()
        workers_of[n] = got["dispatch"]["assignee"]
    to_w1 = [n for n, w in workers_of.items() if w == "w1"]
    wait_until(lambda: len(phone.messages) >= len(to_w1), 10, "w1's pushes")
    leader.stop()  # the leader goes; the other takes the lock and the ledger's cursor
    wait_until(lambda: other.app.state.pusher is not None, 10, "the other replica to lead the pushes")
    for n in range(6, 10):
        post(other, n)
    more = [n for n in range(6, 10)
            if httpx.get(f"{other.url}/api/v1/alerts/{make_alert(n).id}", headers=bearer(OPERATOR),
                         timeout=5).json()["dispatch"]["assignee"] == "w1"]
    wait_until(lambda: len(phone.messages) >= len(to_w1) + len(more), 10, "the new leader's pushes")
    time.sleep(1.0)  # room for a push sent twice
    pushed = sorted(m.id for _at, m in phone.messages)
    assert pushed == sorted(make_alert(n).id for n in to_w1 + more)  # each once, none lost
    other.stop()
    phone.offline()


def test_a_screen_logged_in_on_one_replica_is_known_to_every_replica(postgres_dsn: str, tmp_path: Path,
                                                                    monkeypatch) -> None:
    """Behind a balancer without affinity, each request of a screen may reach another replica: the cookie
    opened on one works on the other, and a logout on either ends it on both."""
    monkeypatch.setenv("GRIDWATCH_DB_DSN", postgres_dsn)
    monkeypatch.setenv("GRIDWATCH_TOKEN", EDGE)
    monkeypatch.setenv("GRIDWATCH_OPERATOR_TOKEN", OPERATOR)
    configs = [DispatchConfig(listen="127.0.0.1:0", state_dir=tmp_path / f"r{i}", push=PushConfig(enabled=False),
                              store=StoreConfig(kind="postgresql")) for i in range(2)]
    a, b = (start_in_thread(config, loop_registry()) for config in configs)
    try:
        with httpx.Client(base_url=a.url, timeout=5) as browser:
            assert browser.post("/api/v1/session", headers=bearer(OPERATOR)).status_code == 204
            cookie = {COOKIE: browser.cookies[COOKIE]}
        assert httpx.get(f"{b.url}/api/v1/session", cookies=cookie, timeout=5).json()["role"] == "operator"
        assert httpx.get(f"{b.url}/api/v1/alerts", cookies=cookie, timeout=5).status_code == 200
        assert not (tmp_path / "r0" / SESSION_FILE).exists()  # nothing per replica
        out = httpx.delete(f"{b.url}/api/v1/session", cookies=cookie, headers={"Origin": b.url}, timeout=5)
        assert out.status_code == 204
        assert httpx.get(f"{a.url}/api/v1/alerts", cookies=cookie, timeout=5).status_code == 401
    finally:
        a.stop()
        b.stop()


def test_a_replica_outlives_a_database_restart(tmp_path: Path) -> None:
    """The change that met the restart fails (the edge's outbox retries it); the next one is stored, and
    the feed hears of other replicas' commits again."""
    server = PostgresServer().start()
    try:
        dsn = server.create_database("restart")
        store, other = PostgresStore(dsn), PostgresStore(dsn)
        sessions = SessionStore(store.connect, 3600)
        screen = sessions.open(OPERATOR)
        heard: list[int] = []
        store.add_listener(heard.append)
        store.put(make_alert(1))
        server.restart()
        failed = 0
        while failed < 20:  # what the edge's outbox does: try again
            try:
                store.put(make_alert(2))
                break
            except psycopg.OperationalError:
                failed += 1
                time.sleep(0.25)
        assert 1 <= failed < 20 and store.get(make_alert(2).id) is not None
        other_put = None
        for _ in range(20):
            try:
                other_put = other.put(make_alert(3))
                break
            except psycopg.OperationalError:
                time.sleep(0.25)
        assert other_put is not None and other_put.stored
        seq = other.last_seq()
        wait_until(lambda: seq in heard, 10, "the other replica's commit heard again after the restart")
        assert sessions.token_digest(screen) is not None  # the screen stays logged in: reconnected
        sessions.close()
        store.close()
        other.close()
    finally:
        server.stop()

"""The alert sender against the real dispatch app (uvicorn on a free port) and a real broker."""

from __future__ import annotations

import json
import logging
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from dispatch.app import create_app
from dispatch.config import DispatchConfig
from dispatch.server import ServerHandle, start_app_in_thread, start_in_thread
from edge.broker import Mosquitto, free_port
from edge.config import DispatchClientConfig
from edge.dispatch_client import AlertSender, backoff_delay, classify
from edge.outbox import Outbox
from ingest.registry import Registry
from ingest.topics import Topics
from ingest.wire.alert import Alert, episode_id

EDGE_TOKEN = "edge-secret"
OPERATOR_TOKEN = "operator-secret"


def make_alert(n: int, *, grid: str | None = "g1", revision: int = 1) -> Alert:
    started = datetime(2026, 3, 1, tzinfo=UTC) + timedelta(hours=n)
    return Alert(
        id=episode_id("water.no_usage", f"m{n}", started), type="water.no_usage", state="active",
        severity="warning", subject=f"m{n}", grid=grid, started_at=started, raised_at=started,
        summary="no water used", edge_id="edge-01", revision=revision,
    )


def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.fixture(autouse=True)
def tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRIDWATCH_TOKEN", EDGE_TOKEN)
    monkeypatch.setenv("GRIDWATCH_OPERATOR_TOKEN", OPERATOR_TOKEN)
    monkeypatch.setenv("GRIDWATCH_TEST_SENDER_TOKEN", EDGE_TOKEN)


@pytest.fixture
def cleanup() -> Iterator[list[Callable[[], object]]]:
    stops: list[Callable[[], object]] = []
    yield stops
    for stop in reversed(stops):
        stop()


def dispatch_config(tmp_path: Path, port: int = 0) -> DispatchConfig:
    return DispatchConfig(listen=f"127.0.0.1:{port}", state_dir=tmp_path / "dispatch")


def client_config(url: str, **overrides: object) -> DispatchClientConfig:
    values: dict[str, object] = {"url": url, "token_env": "GRIDWATCH_TEST_SENDER_TOKEN", "timeout_s": 2.0,
                                 "retry_initial_s": 0.02, "retry_max_s": 0.2}
    return DispatchClientConfig(**{**values, **overrides})  # type: ignore[arg-type]


def stored_changes(handle: ServerHandle) -> list[Alert]:
    """Every change the dispatch stored, in the order it received them."""
    with sqlite3.connect(handle.app.state.store.path) as conn:
        rows = conn.execute("SELECT payload FROM alert_changes ORDER BY id").fetchall()
    return [Alert.model_validate_json(row[0]) for row in rows]


def start_sender(outbox: Outbox, url: str, cleanup: list, publish=None, **overrides: object) -> AlertSender:
    sender = AlertSender(outbox, client_config(url, **overrides), publish, rng=random.Random(7), poll_s=30.0)
    sender.start()
    cleanup.append(lambda: sender.stop(0))
    return sender


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(200, "ok"), (201, "ok"), (204, "ok"), (400, "rejected"), (422, "rejected"), (413, "rejected"),
     (401, "auth"), (403, "auth"), (408, "retry"), (409, "retry"), (429, "retry"), (500, "retry"),
     (502, "retry"), (503, "retry"), (302, "retry")],
)
def test_classify(status: int, outcome: str) -> None:
    assert classify(status) == outcome


def test_backoff_is_full_jitter_under_the_cap() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(attempt, 0.5, 60.0, rng) for attempt in range(40) for _ in range(5)]
    assert all(0 <= d <= 60.0 for d in delays)
    assert max(backoff_delay(0, 0.5, 60.0, rng) for _ in range(100)) <= 0.5
    assert max(delays) > 30  # the cap is reached, not only approached


def test_an_endpoint_that_comes_up_late_gets_every_change_once_and_in_order(
    tmp_path: Path, cleanup: list, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="edge.dispatch_client")
    port = free_port()
    outbox = Outbox(tmp_path / "edge" / "outbox.sqlite")
    sender = start_sender(outbox, f"http://127.0.0.1:{port}/api/v1/alerts", cleanup)
    changes = [make_alert(n % 7, revision=1 + n // 7) for n in range(30)]
    outbox.append_now(changes[:10])
    wait_for(lambda: sender.stats.retries >= 3, what="failed attempts while the endpoint is down")
    outbox.append_now(changes[10:])

    handle = start_in_thread(dispatch_config(tmp_path, port), Registry())
    cleanup.append(handle.stop)
    wait_for(lambda: outbox.stats()["pending_http"] == 0, what="delivery")

    assert stored_changes(handle) == changes
    assert handle.app.state.counters["duplicates"] == 0 and handle.app.state.counters["received"] == 30
    assert sender.stats.sent == 30
    outage_logs = [r for r in caplog.records if "unavailable" in r.getMessage()]
    recovery_logs = [r for r in caplog.records if "reachable again" in r.getMessage()]
    assert len(outage_logs) == 1 and len(recovery_logs) == 1  # on the transitions, not per retry


class FailFirst:
    """Middleware in front of the real app: the first `n` POSTs get `status` (a struggling endpoint)."""

    def __init__(self, app: ASGIApp, n: int, status: int = 500) -> None:
        self.app, self.left, self.status = app, n, status

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and self.left > 0:
            self.left -= 1
            await send({"type": "http.response.start", "status": self.status,
                        "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"try later"})
            return
        await self.app(scope, receive, send)


@pytest.mark.parametrize("status", [500, 503, 429])
def test_server_errors_are_retried_until_accepted(tmp_path: Path, cleanup: list, status: int) -> None:
    app = create_app(dispatch_config(tmp_path), Registry())
    handle = start_app_in_thread(FailFirst(app, 4, status))  # type: ignore[arg-type]
    cleanup.append(handle.stop)
    outbox = Outbox(tmp_path / "outbox.sqlite")
    changes = [make_alert(n) for n in range(5)]
    outbox.append_now(changes)
    sender = start_sender(outbox, handle.alerts_url, cleanup)
    wait_for(lambda: outbox.stats()["pending_http"] == 0, what="delivery")
    assert sender.stats.retries == 4 and sender.stats.sent == 5
    assert f"HTTP {status}" in (sender.stats.last_error or "")
    with sqlite3.connect(app.state.store.path) as conn:
        assert [row[0] for row in conn.execute("SELECT alert_id FROM alert_changes ORDER BY id")] == [
            c.id for c in changes
        ]


def test_a_refused_payload_is_rejected_and_the_next_item_still_goes(tmp_path: Path, cleanup: list) -> None:
    handle = start_in_thread(dispatch_config(tmp_path), Registry())
    cleanup.append(handle.stop)
    outbox = Outbox(tmp_path / "outbox.sqlite")
    changes = [make_alert(n) for n in range(3)]
    outbox.append_now(changes)
    # An item an older edge version wrote in a shape dispatch no longer accepts.
    broken = json.loads(changes[1].to_json()) | {"severity": "apocalyptic"}
    with sqlite3.connect(outbox.path) as conn:
        conn.execute("UPDATE outbox SET payload = ? WHERE alert_id = ?", (json.dumps(broken), changes[1].id))
    sender = start_sender(outbox, handle.alerts_url, cleanup)
    wait_for(lambda: outbox.stats()["pending_http"] == 0, what="delivery")

    assert stored_changes(handle) == [changes[0], changes[2]]
    [(item, reason)] = outbox.rejected()
    assert item.alert_id == changes[1].id and "422" in reason and "severity" in reason
    assert (sender.stats.sent, sender.stats.rejected, sender.stats.retries) == (2, 1, 0)


def test_a_bad_token_is_retried_without_loss_until_it_is_fixed(
    tmp_path: Path, cleanup: list, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    handle = start_in_thread(dispatch_config(tmp_path), Registry())
    cleanup.append(handle.stop)
    monkeypatch.setenv("GRIDWATCH_TEST_SENDER_TOKEN", "a-wrong-token")
    outbox = Outbox(tmp_path / "outbox.sqlite")
    changes = [make_alert(n) for n in range(4)]
    outbox.append_now(changes)
    sender = start_sender(outbox, handle.alerts_url, cleanup)
    wait_for(lambda: sender.stats.retries >= 5, what="refused attempts")
    assert outbox.stats()["pending_http"] == 4 and outbox.stats()["rejected"] == 0
    assert "HTTP 401" in (sender.stats.last_error or "")

    monkeypatch.setenv("GRIDWATCH_TEST_SENDER_TOKEN", EDGE_TOKEN)  # the operator fixes the secret
    wait_for(lambda: outbox.stats()["pending_http"] == 0, what="delivery with the fixed token")
    assert stored_changes(handle) == changes
    token_logs = [r for r in caplog.records if "refused the edge token" in r.getMessage()]
    assert len(token_logs) == 1 and token_logs[0].levelno == logging.ERROR
    assert "a-wrong-token" not in caplog.text and EDGE_TOKEN not in caplog.text


def test_pending_items_survive_a_restart_of_the_edge(tmp_path: Path, cleanup: list) -> None:
    down = f"http://127.0.0.1:{free_port()}/api/v1/alerts"
    path = tmp_path / "outbox.sqlite"
    outbox = Outbox(path)
    changes = [make_alert(n) for n in range(5)]
    outbox.append_now(changes)
    sender = start_sender(outbox, down, [])
    wait_for(lambda: sender.stats.retries >= 1, what="a failed attempt")
    assert sender.stop(drain_timeout_s=0.2) is False  # could not drain: nothing may be lost
    outbox.close()

    handle = start_in_thread(dispatch_config(tmp_path), Registry())
    cleanup.append(handle.stop)
    reopened = Outbox(path)
    assert [i.alert() for i in reopened.pending("http")] == changes
    start_sender(reopened, handle.alerts_url, cleanup)
    wait_for(lambda: reopened.stats()["pending_http"] == 0, what="delivery after the restart")
    assert stored_changes(handle) == changes


def test_stop_drains_what_is_pending(tmp_path: Path, cleanup: list) -> None:
    handle = start_in_thread(dispatch_config(tmp_path), Registry())
    cleanup.append(handle.stop)
    outbox = Outbox(tmp_path / "outbox.sqlite")
    sender = start_sender(outbox, handle.alerts_url, [])
    outbox.append_now([make_alert(n) for n in range(20)])
    assert sender.stop(drain_timeout_s=10) is True
    assert len(stored_changes(handle)) == 20


def test_wake_delivers_at_once_not_at_the_next_poll(tmp_path: Path, cleanup: list) -> None:
    handle = start_in_thread(dispatch_config(tmp_path), Registry())
    cleanup.append(handle.stop)
    path = tmp_path / "outbox.sqlite"
    outbox = Outbox(path)
    sender = start_sender(outbox, handle.alerts_url, cleanup)  # poll_s=30: only wake() can be fast
    worker = Outbox.connect(path)
    latencies = []
    for n in range(20):
        started = time.perf_counter()
        Outbox.append(worker, [make_alert(n)])
        worker.commit()
        sender.wake()
        wait_for(lambda n=n: sender.stats.sent == n + 1, timeout_s=5, what="delivery after wake()")
        latencies.append(time.perf_counter() - started)
    assert max(latencies) < 2.0
    summary = sender.snapshot()
    assert summary["sent"] == 20 and summary["p50_ms"] is not None


def test_changes_are_published_on_the_grid_alert_topic_in_order(
    tmp_path: Path, cleanup: list, mosquitto: Mosquitto
) -> None:
    received: list[tuple[str, bytes]] = []
    subscriber = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    subscribed = threading.Event()
    subscriber.on_subscribe = lambda *args: subscribed.set()
    subscriber.on_message = lambda _c, _u, msg: received.append((msg.topic, msg.payload))
    subscriber.connect("127.0.0.1", mosquitto.port)
    subscriber.subscribe("grid/alerts/#", qos=1)
    subscriber.loop_start()
    cleanup.append(lambda: (subscriber.disconnect(), subscriber.loop_stop()))
    assert subscribed.wait(5)

    publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    publisher.connect("127.0.0.1", mosquitto.port)
    publisher.loop_start()
    cleanup.append(lambda: (publisher.disconnect(), publisher.loop_stop()))
    refuse = {"left": 3}  # the client is "not connected" for the first attempts

    def publish(topic: str, payload: bytes) -> bool:
        if refuse["left"] > 0:
            refuse["left"] -= 1
            return False
        return publisher.publish(topic, payload, qos=1).rc == mqtt.MQTT_ERR_SUCCESS

    outbox = Outbox(tmp_path / "outbox.sqlite")
    changes = [make_alert(0, grid="g1"), make_alert(1, grid=None), make_alert(2, grid="g2")]
    outbox.append_now(changes)
    sender = start_sender(outbox, f"http://127.0.0.1:{free_port()}/down", cleanup, publish=publish,
                          retry_max_s=0.05)
    wait_for(lambda: len(received) == 3, what="three publications")
    topics = Topics()
    assert [t for t, _ in received] == [topics.alerts("g1"), "grid/alerts/unassigned", topics.alerts("g2")]
    assert [Alert.model_validate_json(p) for _, p in received] == changes
    assert outbox.stats()["pending_mqtt"] == 0 and outbox.stats()["pending_http"] == 3  # dispatch is down
    assert sender.stats.publish_failures == 3 and sender.stats.published == 3


def test_without_a_broker_the_mqtt_sink_is_skipped(tmp_path: Path, cleanup: list) -> None:
    handle = start_in_thread(dispatch_config(tmp_path), Registry())
    cleanup.append(handle.stop)
    outbox = Outbox(tmp_path / "outbox.sqlite")
    start_sender(outbox, handle.alerts_url, cleanup)
    outbox.append_now([make_alert(0)])
    wait_for(lambda: outbox.stats()["skipped_mqtt"] == 1 and outbox.stats()["pending_http"] == 0)


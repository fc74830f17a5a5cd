"""Push to grid workers: pure parts as tables; then the pusher against a real dispatch server, a real
Mosquitto (a phone with a persistent session) and a real HTTP receiver behind apprise's json:// URL."""

from __future__ import annotations

import base64
import logging
import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from dispatch.config import DispatchConfig
from dispatch.push.apprise_channel import redact
from dispatch.push.config import PushConfig
from dispatch.push.ledger import Delivery
from dispatch.push.pusher import Pusher
from dispatch.push.schedule import Schedule, backoff_s
from dispatch.push.text import body, title
from dispatch.server import ServerHandle, start_in_thread
from dispatch.sla import SeverityDeadlines, SlaConfig
from edge.broker import Mosquitto
from ingest.config import MqttConfig
from ingest.mqtt_client import MqttConnection
from ingest.registry import Registry
from ingest.topics import Topics
from ingest.wire.alert import Alert, episode_id
from ingest.wire.dispatch import NotifyMessage
from tests.dispatch.push_receiver import Receiver

NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def notify(reason: str = "dispatched", *, severity: str = "critical", alert_type: str = "elevator.ebike",
           accept_in_s: float | None = 300, escalation: int = 0, accepted: bool = False) -> NotifyMessage:
    return NotifyMessage.model_validate({
        "id": "elevator.ebike:0a1b", "type": alert_type, "state": "active", "severity": severity,
        "subject": "elev-3", "building": "b3", "grid": "g1", "started_at": NOW, "raised_at": NOW,
        "summary": "e-bike in elevator elev-3", "edge_id": "edge-01", "to": "w1",
        "dispatch": {
            "state": "accepted" if accepted else "dispatched", "queue": "g1", "assignee": "w1", "dispatched_at": NOW,
            "accepted_at": NOW if accepted else None,
            "accept_due": NOW + timedelta(seconds=accept_in_s) if accept_in_s is not None else None,
            "resolve_due": NOW + timedelta(minutes=30), "escalation": escalation,
            "first_change_at": NOW, "last_change_at": NOW, "changes": 1, "reason": reason,
        },
    })


# --- pure parts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "now", "in_title", "in_body"),
    [
        (notify(), NOW, ["[严重]", "电动车进电梯", "elevator.ebike", "新派单"],
         ["3号楼 / elev-3: e-bike in elevator elev-3", "请5分钟内接单", "accept within 5 min", "elevator.ebike:0a1b"]),
        # Told when it is sent: a push that waited out an outage says how late it is.
        (notify(), NOW + timedelta(minutes=7, seconds=5), [], ["接单已超时2分钟", "accept overdue by 2 min"]),
        (notify(accepted=True), NOW, [], ["请30分钟内办结", "resolve within 30 min"]),
        (notify("escalated", escalation=1, severity="warning"), NOW + timedelta(minutes=6), ["[警告]", "超时升级"],
         ["w1 missed the deadline", "已报网格长", "grid leader told"]),
        (notify("escalated", escalation=2), NOW + timedelta(minutes=40), [], ["已报社区工作站", "community station"]),
        (notify("edge_cleared", alert_type="water.no_usage", severity="warning"), NOW, ["长时间未用水"],
         ["现场已恢复，仍请办结", "please still close it"]),
    ],
)
def test_the_text_a_worker_reads(message: NotifyMessage, now: datetime, in_title: list[str],
                                 in_body: list[str]) -> None:
    head, text = title(message), body(message, now, building_name="3号楼")
    for part in in_title:
        assert part in head
    for part in in_body:
        assert part in text
    # Chinese first, then English, on every line that has both.
    for line in text.splitlines():
        if " · " in line:
            zh, en = line.split(" · ", 1)
            assert any("\u4e00" <= ch <= "\u9fff" for ch in zh) and en.isascii(), line


def test_the_push_words_the_alert_from_its_reason_in_chinese_then_english() -> None:
    message = notify(alert_type="water.tap_open").model_copy(update={"evidence": {
        "minutes": 45.0, "litres": 419.2, "avg_lpm": 9.32, "since": "2026-03-01T07:15:00Z",
        "reason": {"key": "water.tap_open", "params": {"subject": "elev-3", "minutes": 45.0, "litres": 419.2,
                                                       "avg_lpm": 9.32, "since": "2026-03-01T07:15:00Z"}}}})
    first = body(message, NOW, building_name="3号楼").splitlines()[0]
    assert first == ("3号楼 / elev-3: 水龙头持续开启 45 分钟，每分钟 9.3 升（共 419.2 升），自 03-01 07:15 UTC 起 · "
                     "Tap open for 45 min at 9.3 L/min (419.2 L) since 03-01 07:15 UTC"), first
    # A cleared alert still says what it was, then why it ended.
    cleared = message.model_copy(update={"state": "cleared", "evidence": {
        **message.evidence, "cleared_reason": {"key": "water.tap_open.cleared.flow_dropped", "params": {}}}})
    assert "水龙头持续开启 45 分钟" in body(cleared, NOW) and "Flow back to normal" in body(cleared, NOW)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("json://127.0.0.1:8080/hook/SECRET?token=SECRET", "json://127.0.0.1:8080"),
        ("forms://user:SECRET@gateway.example.com/sms", "forms://gateway.example.com"),
        ("mailtos://user:SECRET@smtp.example.com?to=w1@example.com", "mailtos://smtp.example.com"),
        ("tgram://123456:SECRET/987", "tgram://#"),  # the "host" is the bot token
        ("wecombot://SECRET", "wecombot://#"),
        ("dingtalk://SECRET/13800000000", "dingtalk://#"),
        ("not a url SECRET", "?://#"),
    ],
)
def test_a_channel_url_is_logged_without_its_secrets(url: str, shown: str) -> None:
    assert redact(url).startswith(shown)
    assert "SECRET" not in redact(url) and "123456" not in redact(url)


@pytest.mark.parametrize("failures", [1, 2, 3, 5, 8, 30])
def test_backoff_doubles_to_its_cap_with_jitter(failures: int) -> None:
    rng = random.Random(failures)
    delays = [backoff_s(failures, 0.5, 20.0, rng) for _ in range(200)]
    cap = min(20.0, 0.5 * 2 ** (failures - 1))
    assert all(0.5 <= d <= cap for d in delays)
    if cap > 1:  # jittered: a fleet that failed together does not retry in step
        assert max(delays) - min(delays) > (cap - 0.5) / 2


def delivery(seq: int, recipient: str = "w1", channel: str = "mqtt", event_at: float = 1000.0) -> Delivery:
    return Delivery(Delivery.make_key(seq, recipient, channel), seq, f"a{seq}", recipient, channel, event_at, "{}")


def test_schedule_one_attempt_per_target_and_a_failing_target_holds_up_only_itself() -> None:
    schedule = Schedule(1.0, 8.0, random.Random(0))
    for seq in (1, 2):
        schedule.add("apprise:dead", delivery(seq, channel="apprise:dead"))
        schedule.add("mqtt/w1", delivery(seq))
    always = lambda _target: True  # noqa: E731

    first = schedule.due(0.0, always)
    assert sorted((t, d.seq) for t, d in first) == [("apprise:dead", 1), ("mqtt/w1", 1)]
    assert schedule.due(0.0, always) == []  # both under way: nothing more per target

    delay = schedule.finished("apprise:dead", 0.0, ok=False)
    assert delay is not None and 1.0 <= delay <= 1.0
    assert schedule.finished("mqtt/w1", 0.0, ok=True) is None
    assert [(t, d.seq) for t, d in schedule.due(0.5, always)] == [("mqtt/w1", 2)]  # the dead one waits
    assert schedule.next_wakeup() == pytest.approx(1.0)
    assert [(t, d.seq) for t, d in schedule.due(1.0, always)] == [("apprise:dead", 1)]  # same one, in order
    assert len(schedule) == 3

    schedule.finished("apprise:dead", 1.0, ok=False)  # second failure: a longer wait
    assert 2.0 <= schedule.next_wakeup() <= 3.0
    schedule.reset(lambda target: target.startswith("apprise:"))  # its channel came back
    assert [d.seq for _t, d in schedule.due(1.0, always)] == [1]
    schedule.drop("apprise:dead")  # can never succeed: the next goes
    assert [d.seq for _t, d in schedule.due(1.0, always)] == [2]


def test_schedule_skips_targets_whose_channel_is_down_and_expires_old_deliveries() -> None:
    schedule = Schedule(1.0, 8.0)
    schedule.add("mqtt/w1", delivery(1, event_at=100.0))
    schedule.add("mqtt/w1", delivery(2, event_at=200.0))
    schedule.add("apprise:x", delivery(3, channel="apprise:x", event_at=100.0))
    assert [t for t, _d in schedule.due(0.0, lambda target: not target.startswith("mqtt/"))] == ["apprise:x"]
    expired = schedule.expire(older_than=150.0)
    assert [d.seq for _t, d in expired] == [1]  # not 3: it is under way
    assert [d.seq for _t, d in schedule.items()] == [2, 3]


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"retry_min_s": 5, "retry_max_s": 1}, "retry_max_s"),
        ({"retry_min_s": 0}, "greater than 0"),
        ({"apprise_timeout_s": 600}, "less than or equal"),
        ({"mqtt_qos": 2}, "Extra inputs"),  # QoS 1 is not configurable
        ({"enable": True}, "Extra inputs"),
    ],
)
def test_push_config_rejects(fields: dict, error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        PushConfig.model_validate(fields)


# --- the pusher with real parts -------------------------------------------------------------
#
# A real dispatch server (its own Pusher, app.state.pusher), a real Mosquitto with a phone that
# keeps a persistent session, and a real HTTP receiver behind apprise's json:// URL.

EDGE, OPERATOR = "edge-secret", "operator-secret"
FAST = PushConfig(retry_min_s=0.05, retry_max_s=0.3, apprise_timeout_s=2, mqtt_ack_timeout_s=0.5, poll_s=0.2)
SNAPSHOT = base64.b64encode(b"\xff\xd8\xff\xe0 a JPEG frame \xff\xd9").decode()


def registry(worker_url: str, *, lead_url: str | None = None, station_url: str | None = None) -> Registry:
    return Registry.model_validate({
        "grids": [{"id": "g1", "name": "东区一网格", "workers": ["w1"], "leader": "lead", "station": "s1"}],
        "workers": [{"id": "w1", "name": "王芳", "channels": [worker_url]},
                    {"id": "lead", "channels": [lead_url] if lead_url else []}],
        "stations": [{"id": "s1", "name": "东区社区工作站", "channels": [station_url] if station_url else []}],
        "buildings": [{"id": "b3", "name": "3号楼", "grid": "g1"}],
    })


def ebike_alert(n: int = 0, severity: str = "critical") -> Alert:
    started = NOW + timedelta(minutes=n)
    return Alert(id=episode_id("elevator.ebike", "elev-3", started), type="elevator.ebike", state="active",
                 severity=severity, subject="elev-3", building="b3", grid="g1", started_at=started,
                 raised_at=started, summary=f"e-bike in elevator elev-3 (#{n})", snapshot_jpeg_b64=SNAPSHOT,
                 edge_id="edge-01", revision=1)


class Phone:
    """A grid worker's phone: a persistent MQTT session on its notify topic, online or not."""

    def __init__(self, broker: Mosquitto, worker: str = "w1") -> None:
        self.messages: list[tuple[float, NotifyMessage]] = []
        self.connection = MqttConnection(
            MqttConfig(url=broker.url, reconnect_min_s=0.1, reconnect_max_s=0.5), f"phone-{worker}",
            subscriptions=[Topics("grid").worker_notify(worker)],
            on_message=lambda m: self.messages.append((time.time(), NotifyMessage.model_validate_json(m.payload))),
        )

    def online(self) -> Phone:
        self.connection.start()
        assert self.connection.wait_subscribed(10)
        return self

    def offline(self) -> None:
        self.connection.stop()

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[NotifyMessage]:
        wait_until(lambda: len(self.messages) >= count, timeout_s, f"{count} notify messages on the phone")
        return [m for _at, m in self.messages]


def wait_until(condition: Callable[[], object], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout_s} s")
        time.sleep(0.01)


@pytest.fixture
def phone(mosquitto: Mosquitto) -> Iterator[Phone]:
    """w1's phone, not yet online."""
    handset = Phone(mosquitto)
    yield handset
    handset.offline()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rx = Receiver().start()
    yield rx
    rx.stop()


@pytest.fixture
def start_dispatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., ServerHandle]]:
    monkeypatch.setenv("GRIDWATCH_TOKEN", EDGE)
    monkeypatch.setenv("GRIDWATCH_OPERATOR_TOKEN", OPERATOR)
    handles: list[ServerHandle] = []

    def start(reg: Registry, broker: Mosquitto | None, **fields: object) -> ServerHandle:
        mqtt = MqttConfig(url=broker.url, reconnect_min_s=0.1, reconnect_max_s=0.5) if broker else None
        fields.setdefault("push", FAST)
        config = DispatchConfig(listen="127.0.0.1:0", state_dir=tmp_path / "dispatch", mqtt=mqtt, **fields)
        handles.append(start_in_thread(config, reg))
        return handles[-1]

    yield start
    for handle in handles:
        handle.stop()


def post(handle: ServerHandle, alert: Alert) -> float:
    """POST the change; returns when dispatch accepted it (where push latency is counted from)."""
    response = httpx.post(handle.alerts_url, content=alert.to_json(), headers={"Authorization": f"Bearer {EDGE}"},
                          timeout=5)
    assert response.status_code == 201, response.text
    return time.time()


def pusher_of(handle: ServerHandle) -> Pusher:
    pusher = handle.app.state.pusher
    assert isinstance(pusher, Pusher)
    return pusher


def test_a_dispatched_alert_reaches_the_offline_phone_and_the_webhook_with_what_the_worker_needs(
    start_dispatch: Callable[..., ServerHandle], mosquitto: Mosquitto, receiver: Receiver, phone: Phone
) -> None:
    phone.online()
    phone.offline()  # the phone is away when the push is made: its session keeps it
    dispatch = start_dispatch(registry(receiver.url()), mosquitto)
    alert = ebike_alert()
    post(dispatch, alert)

    [hook] = receiver.wait_for(1)
    assert hook.path == "/hook"
    assert hook.body["title"].startswith("[严重] 电动车进电梯 elevator.ebike")
    for part in ("3号楼 / elev-3: e-bike in elevator elev-3 (#0)", "分钟内接单", "accept within", alert.id):
        assert part in hook.body["message"]

    wait_until(lambda: pusher_of(dispatch).counters()["mqtt_latency_p50_ms"] > 0, 10, "PUBACK for the phone push")
    phone.online()
    [message] = phone.wait_for(1)
    assert (message.id, message.to, message.severity) == (alert.id, "w1", "critical")
    assert (message.dispatch.state, message.dispatch.assignee, message.dispatch.reason) == ("dispatched", "w1",
                                                                                             "dispatched")
    assert message.dispatch.accept_due is not None
    assert message.snapshot_jpeg_b64 == SNAPSHOT  # the phone shows the frame
    wait_until(lambda: pusher_of(dispatch).counters()["pending"] == 0, 5, "both deliveries recorded")
    counters = pusher_of(dispatch).counters()
    assert (counters["delivered"], counters["pending"], counters["failed_attempts"]) == (2, 0, 0)
    assert 0 < counters["latency_p50_ms"] <= counters["latency_p95_ms"] < 5000


def test_a_push_made_while_the_broker_is_down_goes_out_when_it_is_back(
    start_dispatch: Callable[..., ServerHandle], mosquitto: Mosquitto, receiver: Receiver, phone: Phone
) -> None:
    phone.online()
    dispatch = start_dispatch(registry(receiver.url()), mosquitto)
    wait_until(lambda: pusher_of(dispatch).counters()["mqtt_connected"], 10, "pusher connected")
    mosquitto.stop()
    alert = ebike_alert()
    post(dispatch, alert)
    receiver.wait_for(1)  # the webhook does not wait for the broker
    time.sleep(0.5)
    assert pusher_of(dispatch).counters()["pending"] == 1 and phone.messages == []

    mosquitto.start()  # same port, same persistence: the phone's session is still there
    [message] = phone.wait_for(1, timeout_s=15)
    assert message.id == alert.id and message.to == "w1"
    wait_until(lambda: pusher_of(dispatch).counters()["pending"] == 0, 10, "the delivery marked done")


def test_a_failing_gateway_is_retried_until_it_answers_and_does_not_delay_the_phone(
    start_dispatch: Callable[..., ServerHandle], mosquitto: Mosquitto, receiver: Receiver, phone: Phone,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    phone.online()
    dispatch = start_dispatch(registry(receiver.url("json", "hook/key-SECRET?token=SECRET")), mosquitto)
    receiver.status, receiver.delay_s = 500, 1.0  # a gateway that thinks a second, then fails
    posted = [post(dispatch, ebike_alert(n)) for n in range(3)]
    messages = phone.wait_for(3, timeout_s=5)
    assert max(at for at, _m in phone.messages) - posted[-1] < 0.8  # not held up behind the gateway
    wait_until(lambda: receiver.refused >= 2, 5, "a retry to the failing gateway")
    assert receiver.messages() == []

    receiver.status, receiver.delay_s = 200, 0.0
    hooks = receiver.wait_for(3)
    # Retried in order, each once it was taken.
    assert [h.body["message"].splitlines()[0][-3:-1] for h in hooks] == ["#0", "#1", "#2"]
    assert [m.id for m in messages] == [ebike_alert(n).id for n in range(3)]
    wait_until(lambda: pusher_of(dispatch).counters()["pending"] == 0, 5, "all deliveries recorded")
    counters = pusher_of(dispatch).counters()
    assert counters["failed_attempts"] >= 1 and counters["delivered"] == 6 and counters["pending"] == 0
    assert f"json://127.0.0.1:{receiver.port} for w1 failed" in caplog.text  # which gateway, once
    assert caplog.text.count("failed:") == 1 and "delivers again" in caplog.text
    assert "SECRET" not in caplog.text  # apprise URLs carry tokens: never logged


def test_a_restarted_pusher_resumes_without_pushing_anything_twice_or_losing_any(
    start_dispatch: Callable[..., ServerHandle], mosquitto: Mosquitto, receiver: Receiver, phone: Phone, tmp_path: Path
) -> None:
    phone.online()
    reg = registry(receiver.url())
    dispatch = start_dispatch(reg, mosquitto)
    alerts = [ebike_alert(n) for n in range(7)]
    for alert in alerts[:3]:
        post(dispatch, alert)
    receiver.wait_for(3)
    phone.wait_for(3)
    receiver.status = 500  # the next two reach the phone, not the gateway, before the stop
    for alert in alerts[3:5]:
        post(dispatch, alert)
    phone.wait_for(5)
    wait_until(lambda: receiver.refused >= 2, 5, "the gateway refusing")
    pusher_of(dispatch).stop()
    for alert in alerts[5:]:  # committed while no pusher runs
        post(dispatch, alert)
    receiver.status = 200

    mqtt = MqttConfig(url=mosquitto.url, reconnect_min_s=0.1, reconnect_max_s=0.5)
    with Pusher(dispatch.app.state.store, reg, FAST, mqtt, tmp_path / "dispatch", "grid") as again:
        hooks = receiver.wait_for(7)
        phone.wait_for(7)
        wait_until(lambda: again.counters()["pending"] == 0, 10, "nothing pending")
        time.sleep(0.3)  # room for a duplicate to show up
        assert again.counters()["delivered"] == 2 + 2 * 2  # 2 webhooks pending at the stop, 2 alerts x 2 channels
    ids = [alert.id for alert in alerts]
    assert sorted(h.body["message"].splitlines()[-1].removeprefix("编号 ID: ") for h in receiver.messages()) == \
        sorted(ids)
    assert sorted(m.id for _at, m in phone.messages) == sorted(ids)
    assert len(hooks) == 7


def test_a_missed_deadline_reaches_the_grid_leader_then_the_community_station(
    start_dispatch: Callable[..., ServerHandle], receiver: Receiver
) -> None:
    reg = registry(receiver.url("json", "w1"), lead_url=receiver.url("json", "lead"),
                   station_url=receiver.url("form", "station"))
    minutes = SeverityDeadlines(accept_min=0.01, resolve_min=10)  # 0.6 s to accept
    dispatch = start_dispatch(reg, None, sla=SlaConfig(critical=minutes))  # no broker: apprise only
    alert = ebike_alert()
    post(dispatch, alert)
    [to_leader] = receiver.wait_for(1, "lead", timeout_s=10)
    [to_station] = receiver.wait_for(1, "station", timeout_s=10)
    assert "超时升级" in to_leader.body["title"]
    assert "w1 missed the deadline" in to_leader.body["message"] and "已报网格长" in to_leader.body["message"]
    assert "已报社区工作站" in to_station.body["message"] and alert.id in to_station.body["message"]
    assert len(receiver.messages("w1")) == 1  # the assignee got the dispatch, once


def test_a_recipient_missing_from_the_registry_is_skipped_and_counted(
    start_dispatch: Callable[..., ServerHandle], receiver: Receiver, tmp_path: Path
) -> None:
    """The registry was edited between routing and pushing: w1 is gone, the lead stays."""
    dispatch = start_dispatch(registry(receiver.url()), None, push=PushConfig(enabled=False))
    newer = Registry.model_validate({"workers": [{"id": "lead", "channels": [receiver.url("json", "lead")]}]})
    with Pusher(dispatch.app.state.store, newer, FAST, None, tmp_path / "push") as pusher:
        post(dispatch, ebike_alert(0))
        post(dispatch, ebike_alert(1))
        wait_until(lambda: pusher.counters()["unknown_recipients"] == 2, 5, "both dispatches skipped")
        assert pusher.counters()["pending"] == 0 and receiver.messages() == []

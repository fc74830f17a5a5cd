"""Publishing through a real Mosquitto: everything arrives, time compression holds, live mode stops."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import UTC, datetime

import pytest

from ingest.wire.timestamps import parse_ts
from simulators.water.runner import run, run_live
from simulators.water.scenario import ScenarioSpec


def test_three_days_publish_in_well_under_a_minute_and_all_arrive(mosquitto, subscriber, tmp_path) -> None:
    started = time.monotonic()
    report = run(ScenarioSpec(), mosquitto.url, speed=100_000, out_dir=tmp_path)  # 3 days in 2.6 s
    wall = time.monotonic() - started
    total = len(report.scenario.messages)
    assert report.delivered and report.published == total
    assert subscriber.wait_for(total, 30) == total
    assert wall < 15, f"three days took {wall:.1f} s"
    topics = Counter(m.topic.split("/")[-1] for m in subscriber.messages)
    assert topics["away"] == len(report.scenario.away_notices()) >= 1
    assert {m.topic.split("/")[2] for m in subscriber.messages} == {m.id for m in report.scenario.meters}
    assert (tmp_path / "truth.jsonl").read_text().count("\n") == len(report.scenario.truth)
    print(f"3 days, {total} messages: {wall:.2f} s wall at speed 100000")


def test_speed_compresses_event_time(mosquitto, subscriber) -> None:
    spec = ScenarioSpec(meters=2, days=0.25, events=False, faults=False)
    speed = 6 * 3600 / 1.5  # six event hours in about 1.5 wall seconds
    report = run(spec, mosquitto.url, speed=speed)
    sent = [m.send_time for m in report.scenario.messages]
    expected = (max(sent) - min(sent)).total_seconds() / speed
    assert expected * 0.95 <= report.wall_s <= expected + 3.0
    assert subscriber.wait_for(len(sent), 10) == len(sent)


def test_live_mode_catches_up_then_never_runs_ahead_of_the_clock(mosquitto, subscriber) -> None:
    stop = threading.Event()
    spec = ScenarioSpec(meters=3, days=0.5, events=False, faults=False)
    result: dict = {}
    worker = threading.Thread(target=lambda: result.setdefault("r", run_live(spec, mosquitto.url, 100_000, stop)))
    worker.start()
    try:
        history = 3 * 0.5 * 24 * 4 - 3  # about half a day of 15-minute readings of three meters
        assert subscriber.wait_for(history, 15) >= history
        time.sleep(0.5)
    finally:
        stop.set()
        worker.join(10)
    assert not worker.is_alive()
    report = result["r"]
    assert report.stopped and report.published < len(report.scenario.messages)  # the future was not sent
    newest = max(parse_ts(json.loads(m.payload)["ts"]) for m in subscriber.messages)
    assert newest <= datetime.now(UTC)


def test_unreachable_broker_is_a_clear_error(tmp_path) -> None:
    from edge.broker import free_port

    with pytest.raises(ConnectionError, match="no MQTT broker"):
        run(ScenarioSpec(meters=1, days=0.1), f"mqtt://127.0.0.1:{free_port()}", connect_timeout=0.5)

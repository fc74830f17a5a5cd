"""DeadLetterSink: publishes the contract's JSON on the dead-letter topic, counts, logs once per kind, never raises."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest

from edge.broker import Mosquitto
from ingest.deadletter import DeadLetterSink
from ingest.mqtt_client import MqttConnection
from ingest.topics import Topics
from tests.ingest.mqtt_helpers import Inbox, fast_config

AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_dead_letters_reach_the_topic_and_are_counted(mosquitto: Mosquitto) -> None:
    inbox = Inbox()
    config = fast_config(mosquitto.url)
    watcher = MqttConnection(config, "operator", subscriptions=["grid/deadletter/#"], on_message=inbox)
    with watcher, MqttConnection(config, "edge") as edge:
        assert watcher.wait_connected(10) and edge.wait_connected(10)
        sink = DeadLetterSink(edge.publish, Topics(), "edge-01")
        big = b'{"ts": 1, "total_l": "' + b"x" * 500 + b'"}'
        # The subscription may not be active yet: repeat the first letter until one arrives.
        while not inbox.messages:
            sink.reject("grid/water/m-1/reading", "not JSON: Expecting value at line 1 column 1", b"{oops", AT)
            try:
                inbox.wait_count(1, timeout=0.2)
            except AssertionError:
                pass
        sink.reject("grid/water/m-1/reading", "total_l: must be a number", big, AT)
        messages = inbox.wait_for(lambda msgs: any(b"total_l" in m.payload for m in msgs))

    assert {m.topic for m in messages} == {"grid/deadletter/edge-01"}
    first = json.loads(messages[0].payload)
    assert first == {
        "topic": "grid/water/m-1/reading",
        "reason": "not JSON: Expecting value at line 1 column 1",
        "payload_excerpt": "{oops",
        "ts": "2024-05-01T12:00:00Z",
    }
    last = json.loads(messages[-1].payload)
    assert last["reason"] == "total_l: must be a number"
    assert last["payload_excerpt"].endswith("…") and len(last["payload_excerpt"]) == 201
    counts = sink.counts
    assert counts["total_l"] == 1 and counts["not JSON"] == len(messages) - 1
    assert sink.total == len(messages)


def test_first_of_each_kind_is_a_warning_later_ones_debug(caplog: pytest.LogCaptureFixture) -> None:
    sent: list[tuple[str, bytes]] = []
    sink = DeadLetterSink(lambda topic, payload: sent.append((topic, payload)), Topics("city"), "e1")
    with caplog.at_level(logging.DEBUG, logger="ingest.deadletter"):
        for _ in range(50):
            sink.reject("city/water/m/reading", "ts: 3.0 days ahead of the clock", b"{}", AT)
        sink.reject("city/water/m/reading", "seq: must be an integer", b"{}", AT)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage().split(": ", 1)[1].split(" (")[0] for r in warnings] == [
        "ts: 3.0 days ahead of the clock",
        "seq: must be an integer",
    ]
    assert sink.counts == {"ts": 50, "seq": 1}
    assert len(sent) == 51 and sent[0][0] == "city/deadletter/e1"


def test_a_failing_publish_never_raises_and_is_counted(caplog: pytest.LogCaptureFixture) -> None:
    def broken(topic: str, payload: bytes) -> None:
        raise ConnectionError("broker gone")

    sink = DeadLetterSink(broken, Topics(), "e1")
    refused = DeadLetterSink(lambda topic, payload: False, Topics(), "e1")
    with caplog.at_level(logging.WARNING, logger="ingest.deadletter"):
        for _ in range(3):
            sink.reject("grid/water/m/reading", "not JSON: x", b"x", AT)
            refused.reject("grid/water/m/reading", "not JSON: x", b"x", AT)
    assert sink.publish_failures == 3 and refused.publish_failures == 3
    assert sink.counts == {"not JSON": 3}
    # One warning for the kind, one for the first failed publish, per sink; no flood.
    assert len([r for r in caplog.records if "not published" in r.getMessage()]) == 2

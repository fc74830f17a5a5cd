"""The ceiling paho-mqtt sets: drain a persistent session with nothing but the manual ack.

    .venv/bin/python bench/paho_drain.py URL CLIENT_ID --subscribe      # create the session, exit
    .venv/bin/python bench/paho_drain.py URL CLIENT_ID --expect N       # drain N messages, print JSON

Same client settings as the edge worker (ingest.mqtt_client.MqttConnection: MQTT v5, QoS 1,
persistent session, manual ack, 1000 in flight); each message is acknowledged in the
callback. water_pipeline.py runs it in a process of its own, before the worker, on the same
published scenario, so the two rows compare the worker with the client it is built on.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingest.config import MqttConfig  # noqa: E402
from ingest.mqtt_client import InboundMessage, MqttConnection  # noqa: E402
from ingest.topics import Topics  # noqa: E402

PROBE_TOPIC = Topics().water_away("paho-drain-probe")


def subscribe(url: str, client_id: str, timeout_s: float = 20.0) -> None:
    """Create the persistent session with the worker's subscriptions; return once they work."""
    seen = threading.Event()
    conn = MqttConnection(MqttConfig(url=url), client_id, subscriptions=Topics().water_subscriptions(),
                          on_message=lambda m: seen.set() if m.topic == PROBE_TOPIC else None, persistent=True)
    conn.start()
    try:
        deadline = time.monotonic() + timeout_s
        conn.wait_connected(timeout_s)
        while not seen.wait(0.1):  # subscribed once our own probe comes back
            if time.monotonic() > deadline:
                raise TimeoutError("the probe never came back: not subscribed")
            conn.publish(PROBE_TOPIC, b"{}")
    finally:
        conn.stop()


def drain(url: str, client_id: str, expect: int, timeout_s: float = 300.0) -> dict[str, float]:
    """Receive and ack `expect` messages (probes not counted); wall and CPU seconds from the first."""
    done = threading.Event()
    marks: dict[str, float] = {}
    count = 0
    conn: MqttConnection

    def on_message(message: InboundMessage) -> None:
        nonlocal count
        conn.ack(message)
        if message.topic == PROBE_TOPIC:
            return
        if count == 0:
            marks["wall0"], marks["cpu0"] = time.monotonic(), time.process_time()
        count += 1
        if count == expect:
            marks["wall1"], marks["cpu1"] = time.monotonic(), time.process_time()
            done.set()

    conn = MqttConnection(MqttConfig(url=url), client_id, subscriptions=Topics().water_subscriptions(),
                          on_message=on_message, manual_ack=True, persistent=True)
    conn.start()
    try:
        if not done.wait(timeout_s):
            raise TimeoutError(f"received {count} of {expect} messages in {timeout_s} s")
    finally:
        conn.stop()
    return {"messages": expect, "wall_s": marks["wall1"] - marks["wall0"], "cpu_s": marks["cpu1"] - marks["cpu0"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("client_id")
    parser.add_argument("--subscribe", action="store_true", help="create the session and exit")
    parser.add_argument("--expect", type=int, help="drain this many messages and print JSON")
    args = parser.parse_args(argv)
    if args.subscribe:
        subscribe(args.url, args.client_id)
    elif args.expect:
        print(json.dumps(drain(args.url, args.client_id, args.expect)))
    else:
        parser.error("--subscribe or --expect N")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

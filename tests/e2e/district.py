"""Parts of a district on one machine: a TCP balancer in front of the dispatch replicas (what a
Kubernetes Service does), command-center screens that reconnect with Last-Event-ID to whichever
replica answers, and every grid worker's phone on one MQTT connection."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter

import httpx

from edge.broker import free_port
from ingest.config import MqttConfig
from ingest.mqtt_client import MqttConnection


class Balancer:
    """Round-robin TCP proxy on a free loopback port; an upstream that refuses is skipped."""

    def __init__(self, upstreams: list[int]) -> None:
        self.upstreams = upstreams
        self.port = free_port()
        self._next = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="balancer", daemon=True)
        self._thread.start()
        assert self._ready.wait(5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", self.port))
        self._ready.set()
        self._loop.run_forever()
        server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(len(self.upstreams)):
            port = self.upstreams[self._next % len(self.upstreams)]
            self._next += 1
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                continue
        else:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


class FeedScreen:
    """A command-center screen: reads /api/v1/feed from the first replica that answers (in its own order of
    preference), and on any break reconnects with Last-Event-ID, as an EventSource does."""

    def __init__(self, urls: list[str], token: str) -> None:
        self.urls, self.token = urls, token
        self.seqs: list[int] = []
        self.reconnects = 0
        self.served_by: Counter[str] = Counter()
        self._stop = threading.Event()
        self._open = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def wait_open(self, timeout_s: float = 10.0) -> FeedScreen:
        assert self._open.wait(timeout_s), "the screen never got its feed"
        return self

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            url = self.urls[attempt % len(self.urls)]
            headers = {"Authorization": f"Bearer {self.token}"}
            if self.seqs:
                headers["Last-Event-ID"] = str(self.seqs[-1])
            try:
                with httpx.stream("GET", f"{url}/api/v1/feed", headers=headers,
                                  timeout=httpx.Timeout(5.0, read=30.0)) as response:
                    if response.status_code != 200:
                        raise httpx.HTTPError(f"feed answered {response.status_code}")
                    self._open.set()
                    for line in response.iter_lines():
                        if self._stop.is_set():
                            return
                        if line.startswith("id: "):
                            self.seqs.append(int(line[4:]))
                            self.served_by[url] += 1
            except httpx.HTTPError:
                pass
            if self._stop.is_set():
                return
            attempt, self.reconnects = attempt + 1, self.reconnects + 1
            time.sleep(0.2)

    def close(self) -> None:
        self._stop.set()


class Phones:
    """Every grid worker's phone: one persistent MQTT session on grid/workers/+/notify."""

    def __init__(self, broker_url: str) -> None:
        self.messages: list[dict] = []
        self.connection = MqttConnection(MqttConfig(url=broker_url), f"district-phones-{free_port()}",
                                         subscriptions=["grid/workers/+/notify"],
                                         on_message=lambda m: self.messages.append(json.loads(m.payload)))
        self.connection.start()
        assert self.connection.wait_subscribed(10)

    def pushes(self) -> Counter[tuple[str, str, str]]:
        """(alert id, reason, recipient) of every push received, with how often."""
        return Counter((m["id"], m["dispatch"]["reason"], m["to"]) for m in list(self.messages))

    def close(self) -> None:
        self.connection.stop()

"""`/healthz` and `/metrics` of an edge worker, on a small stdlib HTTP server.

No framework on purpose: it must answer while the worker is busy, cost nothing, and run
on the smallest box. /metrics is JSON (counters, watermark, outbox backlog).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)


class HealthServer:
    def __init__(self, listen: str, snapshot: Callable[[], dict[str, Any]], healthy: Callable[[], bool]) -> None:
        host, port = listen.rsplit(":", 1)
        snapshot_fn, healthy_fn = snapshot, healthy

        class Handler(BaseHTTPRequestHandler):
            timeout = 10  # seconds per socket read: a client that sends nothing does not keep its thread
            def do_GET(self) -> None:  # noqa: N802 (stdlib name)
                if self.path == "/healthz":
                    ok = healthy_fn()
                    self._send(200 if ok else 503, {"ok": ok})
                elif self.path == "/metrics":
                    self._send(200, snapshot_fn())
                else:
                    self._send(404, {"error": "not found"})

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body, default=str).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args: object) -> None:  # probes every few seconds: keep logs quiet
                pass

        self.server = ThreadingHTTPServer((host, int(port)), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="edge-health", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HealthServer:
        self.thread.start()
        log.info("edge health on %s/healthz and /metrics", self.url)
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

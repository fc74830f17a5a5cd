"""`/healthz`, `/status` and `/metrics` of an edge worker, on a small stdlib HTTP server.

No framework on purpose: it must answer while the worker is busy, cost nothing, and run on the
smallest box. /status is JSON (counters, watermark, outbox backlog, cameras) for people and tests;
/metrics is the same in the Prometheus text format (edge.metrics) for Prometheus.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)


class HealthServer:
    def __init__(self, listen: str, snapshot: Callable[[], dict[str, Any]], healthy: Callable[[], bool],
                 metrics: CollectorRegistry | None = None) -> None:
        host, port = listen.rsplit(":", 1)
        snapshot_fn, healthy_fn = snapshot, healthy

        class Handler(BaseHTTPRequestHandler):
            timeout = 10  # seconds per socket read: a client that sends nothing does not keep its thread
            def do_GET(self) -> None:  # noqa: N802 (stdlib name)
                path = self.path.split("?", 1)[0]
                if path == "/healthz":
                    ok = healthy_fn()
                    self._send_json(200 if ok else 503, {"ok": ok})
                elif path == "/status":
                    self._send_json(200, snapshot_fn())
                elif path == "/metrics" and metrics is not None:
                    self._send(200, generate_latest(metrics), CONTENT_TYPE_PLAIN_0_0_4)
                else:
                    self._send_json(404, {"error": "not found"})

            def _send_json(self, status: int, body: dict[str, Any]) -> None:
                self._send(status, json.dumps(body, default=str).encode(), "application/json")

            def _send(self, status: int, data: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
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
        log.info("edge health on %s/healthz, /status and /metrics", self.url)
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

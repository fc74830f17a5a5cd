"""Run the dispatch app with uvicorn: blocking (`serve`) or in a thread (tests, demo, benchmarks)."""

from __future__ import annotations

import logging
import resource
import socket
import threading
import time
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from dispatch.app import create_app
from dispatch.config import DispatchConfig, HttpConfig
from dispatch.http_protocol import guarded_protocol
from ingest.registry import Registry

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """Ends the feed's streams first: they never finish on their own, and uvicorn waits for
    open responses (forever under uvicorn.run) before the lifespan shutdown."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        feed = getattr(getattr(self.config.app, "state", None), "feed", None)
        if feed is not None:
            await feed.stop()  # idempotent; the lifespan's call later does nothing
        await super().shutdown(sockets)


def uvicorn_config(app: FastAPI, http: HttpConfig, **kwargs: object) -> uvicorn.Config:
    """uvicorn with every connection bounded: header deadline, keep-alive, header size, connection cap."""
    return uvicorn.Config(
        app, http=guarded_protocol(http.header_timeout_s, http.max_connections),  # type: ignore[arg-type]
        # +1: uvicorn counts the asking connection itself; the protocol's cap is the one that binds.
        timeout_keep_alive=http.keep_alive_s, limit_concurrency=http.max_connections + 1,
        h11_max_incomplete_event_size=http.max_header_bytes,
        proxy_headers=False,  # X-Forwarded-* are read only from http.trusted_proxies (dispatch.auth_session)
        **kwargs,  # type: ignore[arg-type]
    )


FD_RESERVE = 64  # descriptors kept for the stores, logs and outgoing connections


def raise_file_limit() -> int:
    """Take the hard file limit as the soft one; returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


def fit_file_limit(http: HttpConfig, soft: int) -> HttpConfig:
    """Every connection is a file descriptor: keep the connection cap under the file limit, so that over-cap
    connections are closed by us, not refused by accept() with EMFILE over and over."""
    if soft == resource.RLIM_INFINITY or http.max_connections + FD_RESERVE <= soft:
        return http
    fitted = max(2, soft - FD_RESERVE)
    log.warning("http.max_connections %d does not fit the file limit %d: using %d (raise LimitNOFILE)",
                http.max_connections, soft, fitted)
    return http.model_copy(update={"max_connections": fitted})


def serve(config: DispatchConfig, registry: Registry, *, log_level: str = "info") -> None:
    """Run until interrupted (SIGINT/SIGTERM)."""
    app = create_app(config, registry)
    http = fit_file_limit(config.http, raise_file_limit())
    _Server(uvicorn_config(app, http, host=config.host, port=config.port, log_level=log_level)).run()


@dataclass
class ServerHandle:
    app: FastAPI
    server: uvicorn.Server
    thread: threading.Thread
    host: str
    port: int

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:8600 (the alerts endpoint is url + /api/v1/alerts)."""
        return f"http://{self.host}:{self.port}"

    @property
    def alerts_url(self) -> str:
        return f"{self.url}/api/v1/alerts"

    def stop(self, timeout_s: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout_s)
        if self.thread.is_alive():
            self.server.force_exit = True
            self.thread.join(timeout_s)


def start_app_in_thread(app: FastAPI, host: str = "127.0.0.1", port: int = 0, *, timeout_s: float = 10.0,
                        log_level: str = "warning", http: HttpConfig | None = None) -> ServerHandle:
    """Serve any ASGI app on host:port (0: a free port) in a daemon thread; returns once it listens."""
    # proto=IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted connections only when the
    # socket says it is TCP; without it uvicorn's separate header and body writes meet Nagle and
    # delayed ACK, 44 ms per response (measured) instead of 0.5 ms.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))  # bound here, so the port is known and no other process can take it
    sock.set_inheritable(True)
    server = _Server(uvicorn_config(app, http or HttpConfig(), log_level=log_level, lifespan="on",
                                    timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive():
            sock.close()
            raise RuntimeError(f"the server on {host}:{port} did not start (see the log)")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise TimeoutError(f"the server on {host}:{port} did not start within {timeout_s} s")
        time.sleep(0.01)
    return ServerHandle(app, server, thread, host, sock.getsockname()[1])


def start_in_thread(config: DispatchConfig, registry: Registry, **kwargs: object) -> ServerHandle:
    """The dispatch endpoint on config.listen (port 0: a free port), in a thread."""
    return start_app_in_thread(create_app(config, registry), config.host, config.port, http=config.http,
                               **kwargs)  # type: ignore[arg-type]

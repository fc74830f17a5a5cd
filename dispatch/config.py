"""Dispatch endpoint config (dispatch.yaml); keys other programs rely on are in ARCHITECTURE.md."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from dispatch.push.config import PushConfig
from dispatch.sla import SlaConfig
from ingest.config import MqttConfig, Section, check_listen, relative_to_config
from ingest.yamlconf import validate_file


class AuthConfig(Section):
    edge_token_env: str = "GRIDWATCH_TOKEN"
    operator_token_env: str = "GRIDWATCH_OPERATOR_TOKEN"
    allow_no_auth: bool = Field(
        False,
        description="development only: with no edge token configured, accept alerts without one "
        "(and, with no operator token, reads without one); otherwise dispatch refuses to start",
    )


class HttpConfig(Section):
    """Bounds on every connection and request (SECURITY.md): what one client, or many, may hold."""

    max_body_bytes: int = Field(64 * 1024, ge=1024, description="request bodies other than alert changes")
    max_alert_body_bytes: int = Field(4 * 1024 * 1024, ge=64 * 1024,
                                      description="POST /api/v1/alerts (an e-bike snapshot is tens of kB)")
    body_timeout_s: float = Field(30.0, gt=0, description="the whole body must arrive within this")
    header_timeout_s: float = Field(10.0, gt=0, description="a request's line and headers must arrive within this")
    keep_alive_s: float = Field(5.0, gt=0, description="an idle keep-alive connection is closed after this")
    max_connections: int = Field(1000, ge=2, description="open connections (and requests in flight) above it are "
                                 "closed at once; keep it under the process's file limit")
    max_header_bytes: int = Field(16 * 1024, ge=1024, description="request line and headers together")
    max_streams_per_caller: int = Field(64, ge=1, description="open GET /api/v1/feed streams of one token or session")
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="addresses of reverse proxies whose X-Forwarded-Proto is believed (session cookies are then "
        "Secure when the proxy says https); empty: the header is ignored",
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="origins besides dispatch's own that the page may call state-changing APIs from "
        "(scheme://host[:port])",
    )


class StoreConfig(Section):
    kind: Literal["sqlite", "postgresql"] = Field(
        "sqlite", description="sqlite: one file in state_dir, one dispatch process; postgresql: replicas on one "
        "database (dispatch/store_pg.py)")
    dsn_env: str = Field("GRIDWATCH_DB_DSN", description="the environment variable holding the PostgreSQL DSN, "
                         "e.g. postgresql://gridwatch:...@db:5432/gridwatch (never written in the file)")

    def dsn(self) -> str:
        value = os.environ.get(self.dsn_env, "").strip()
        if not value:
            raise StoreConfigError(f"store.kind is postgresql but ${self.dsn_env} is not set: put the database's "
                                   "DSN there (postgresql://user:password@host:5432/dbname)")
        return value


class StoreConfigError(ValueError):
    pass


class DispatchConfig(Section):
    listen: str = Field("127.0.0.1:8600", pattern=r"^[^:\s]+:\d{1,5}$")
    registry: Path | None = None
    state_dir: Path = Path("var/dispatch")
    mqtt: MqttConfig | None = None
    auth: AuthConfig = AuthConfig()
    timezone: str = Field("Asia/Shanghai", description="IANA zone of the duty rosters and of today's figures")
    sla: SlaConfig = SlaConfig()
    push: PushConfig = PushConfig()
    http: HttpConfig = HttpConfig()
    store: StoreConfig = StoreConfig()

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        return check_listen(value) or value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as Asia/Shanghai)") from exc
        return value

    @field_validator("registry", "state_dir")
    @classmethod
    def _relative_to_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return relative_to_config(value, info)

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0]

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])


def load_dispatch_config(path: str | Path | None) -> DispatchConfig:
    return DispatchConfig() if path is None else validate_file(DispatchConfig, path)

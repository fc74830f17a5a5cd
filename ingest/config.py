"""Config sections of what ingest owns: the MQTT connection and the time-series store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator


class Section(BaseModel):
    """Config sections reject unknown keys: a typo is an error, not a silent default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def check_listen(value: str | None) -> str | None:
    """`host:port` with a port a socket can bind (0: any free one)."""
    if value is None:
        return value
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"expected host:port (e.g. 127.0.0.1:8600), got {value!r}")
    if not 0 <= int(port) <= 65535:
        raise ValueError(f"port {port} is out of range: a port is 0-65535")
    return value


def relative_to_config(value: Path | None, info: ValidationInfo) -> Path | None:
    """A relative path in a config file is relative to that file (its folder comes as `base_dir` in the
    validation context), not to wherever the program was started."""
    base = (info.context or {}).get("base_dir")
    if value is not None and base is not None and not value.is_absolute():
        return Path(base) / value
    return value


def check_url(value: str | None, schemes: tuple[str, ...], example: str) -> str | None:
    """A URL with one of `schemes`, a host, and a port in range."""
    if value is None:
        return value
    parts = urlsplit(value)
    if "://" not in value or not parts.scheme:
        raise ValueError(f"{value!r} has no scheme: expected {example}")
    if parts.scheme not in schemes:
        raise ValueError(f"scheme {parts.scheme}:// is not one of {', '.join(s + '://' for s in schemes)} "
                         f"(expected {example})")
    if not parts.hostname:
        raise ValueError(f"{value!r} has no host: expected {example}")
    try:
        parts.port  # noqa: B018 - urlsplit checks the port only when asked
    except ValueError as exc:
        raise ValueError(f"{value!r}: the port is out of range (0-65535)") from exc
    return value


def secret(env_name: str | None) -> str | None:
    """A secret named by an environment variable, else a file of that name in systemd's
    $CREDENTIALS_DIRECTORY (LoadCredential=) or in /run/secrets (Docker, Kubernetes)."""
    if not env_name:
        return None
    value = os.environ.get(env_name)
    if value is None:
        folders = [os.environ.get("CREDENTIALS_DIRECTORY"), "/run/secrets"]
        for folder in filter(None, folders):
            path = Path(folder) / env_name
            if path.is_file():
                return path.read_text(encoding="utf-8").strip()
    return value


class MqttConfig(Section):
    url: str = Field("mqtt://127.0.0.1:1883", description="mqtt://host:port or mqtts://host:port")
    protocol: Literal["5", "3.1.1"] = Field(
        "5",
        description='MQTT version: "5" (default) or "3.1.1" for brokers that speak only 3.1.1 (the embedded demo '
        "broker): persistent session through clean_session=False, no session expiry, no receive maximum, "
        "user properties on publish dropped",
    )
    username: str | None = None
    password_env: str | None = Field(None, description="environment variable holding the password (else a file of "
                                     "that name in $CREDENTIALS_DIRECTORY or /run/secrets)")
    ca_file: Path | None = Field(None, description="mqtts: the CA that signed the broker's certificate (default: "
                                 "the system's CAs)")
    cert_file: Path | None = Field(None, description="mqtts: this client's certificate, for brokers that ask")
    key_file: Path | None = Field(None, description="mqtts: the key of cert_file")
    topic_prefix: str = Field("grid", pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
    client_id: str | None = Field(None, description="defaults to gridwatch-<edge_id>")
    keepalive_s: int = Field(30, ge=5, le=3600)
    session_expiry_s: int = Field(7 * 24 * 3600, ge=0, description="persistent session lifetime")
    max_inflight: int = Field(1000, ge=1, le=65535)
    reconnect_min_s: float = Field(0.5, gt=0, le=60)
    reconnect_max_s: float = Field(30.0, gt=0, le=3600)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("mqtt", "mqtts", "tcp") or not parts.hostname:
            raise ValueError("expected mqtt://host:port or mqtts://host:port")
        return check_url(value, ("mqtt", "mqtts", "tcp"), "mqtt://host:port or mqtts://host:port") or value

    @field_validator("protocol", mode="before")
    @classmethod
    def _protocol(cls, value: object) -> object:
        # YAML reads `protocol: 5` as the integer 5.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or (8883 if parts.scheme == "mqtts" else 1883)

    @property
    def tls(self) -> bool:
        return urlsplit(self.url).scheme == "mqtts"


class TimeSeriesConfig(Section):
    kind: Literal["sqlite", "influxdb", "none"] = Field(
        "sqlite", description="sqlite: embedded, no server; influxdb: v2 write API"
    )
    path: Path | None = Field(None, description="sqlite file; defaults to <state_dir>/timeseries.sqlite")
    url: str | None = Field(None, description="influxdb: http://host:8086")
    org: str = "gridwatch"
    bucket: str = "gridwatch"
    token_env: str | None = "INFLUXDB_TOKEN"
    batch_size: int = Field(5000, ge=1, le=100_000)
    flush_interval_ms: int = Field(1000, ge=10, le=60_000)
    retention_days: float | None = Field(400.0, gt=0, description="sqlite: older points are pruned")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return check_url(value, ("http", "https"), "http://influxdb:8086")

    @model_validator(mode="after")
    def _influxdb_needs_a_url(self) -> TimeSeriesConfig:
        if self.kind == "influxdb" and not self.url:
            raise ValueError("kind influxdb needs url (e.g. http://influxdb:8086)")
        return self

"""`push:` of dispatch.yaml: how dispatched alerts reach grid workers' phones and external channels."""

from __future__ import annotations

from pydantic import Field, model_validator

from ingest.config import Section

# Not configurable: the phone's persistent session only keeps what was sent at QoS >= 1, and QoS 2's
# extra round trip buys nothing here (a notify is idempotent on the phone: alert id + reason).
MQTT_QOS = 1


class PushConfig(Section):
    enabled: bool = Field(True, description="push dispatched alerts at all (the feed and page work without it)")
    client_id: str = Field(
        "gridwatch-dispatch-push",
        min_length=1,
        max_length=128,
        description="MQTT client id of the pusher; stable, so its session (and QoS 1 resends) survive restarts",
    )
    retry_min_s: float = Field(1.0, gt=0, le=60, description="first retry delay of a failed delivery")
    retry_max_s: float = Field(
        60.0, gt=0, le=3600, description="longest retry delay (exponential backoff with full jitter, per target)"
    )
    apprise_timeout_s: float = Field(
        10.0, gt=0, le=120, description="connect and read timeout of one apprise call (SMS gateway, webhook, mail)"
    )
    mqtt_ack_timeout_s: float = Field(
        10.0,
        gt=0,
        le=600,
        description="how long one attempt waits for the broker's PUBACK; the message stays queued and is "
        "resent on reconnect, the attempt only counts as failed",
    )
    include_snapshot: bool = Field(
        True, description="put the elevator snapshot (base64 JPEG) into the MQTT notify message; phones show it"
    )
    apprise_workers: int = Field(4, ge=1, le=64, description="threads making apprise calls (they block)")
    mqtt_workers: int = Field(4, ge=1, le=64, description="threads waiting for PUBACKs (one per worker at a time)")
    expire_after_s: float = Field(
        86400.0,
        ge=60,
        description="a push not delivered this long after dispatch made it is given up (counted as expired): "
        "a phone buzzing for yesterday's alert helps no one",
    )
    poll_s: float = Field(1.0, gt=0, le=60, description="how often the event log is read besides on commit")
    latency_window: int = Field(1000, ge=10, le=100_000, description="deliveries the latency percentiles cover")

    @model_validator(mode="after")
    def _retry_bounds(self) -> PushConfig:
        if self.retry_max_s < self.retry_min_s:
            raise ValueError("retry_max_s must be at least retry_min_s")
        return self

"""InfluxDB v2 write API (InfluxDB 2.x/3.x, VictoriaMetrics, anything that speaks it).

Measurements, millisecond precision:
- `water_reading`, tag `meter`; fields `total_l`, `flow_lpm`, `battery_v`, `seq` (those present)
- `alert_change`, tags `type`, `state`, `severity`, `subject`, `grid` (when known); fields
  `id`, `summary` (strings), `active` (1/0) and `severity_level` (0-2), the numeric two so
  that stores keeping numbers only (VictoriaMetrics) keep the change too.

Batching is ours (`BufferedWriter`), over the client's synchronous write: influxdb-client's
own batching WriteApi cannot be flushed on demand (`flush()` is a no-op in 1.50) and retries
for minutes inside its own thread. Here a failed batch stays buffered and is retried at the
next interval; the failure is logged once per transition and counted.
"""

from __future__ import annotations

import logging

from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS

from ingest.config import TimeSeriesConfig, secret
from ingest.timeseries import alert_time
from ingest.timeseries.buffer import BufferedWriter
from ingest.wire.alert import SEVERITY_RANK, Alert
from ingest.wire.timestamps import to_epoch_ms
from ingest.wire.water import Reading

log = logging.getLogger(__name__)

_TAG_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\\": "\\\\", "\n": " "})
_STRING_ESCAPES = str.maketrans({'"': r"\"", "\\": "\\\\", "\n": " "})


def _tag(value: str) -> str:
    return value.translate(_TAG_ESCAPES)


def _string(value: str) -> str:
    return '"' + value.translate(_STRING_ESCAPES) + '"'


def reading_line(reading: Reading) -> str:
    fields = [f"total_l={float(reading.total_l)!r}"]
    if reading.flow_lpm is not None:
        fields.append(f"flow_lpm={float(reading.flow_lpm)!r}")
    if reading.battery_v is not None:
        fields.append(f"battery_v={float(reading.battery_v)!r}")
    if reading.seq is not None:
        fields.append(f"seq={reading.seq}i")
    return f"water_reading,meter={_tag(reading.meter_id)} {','.join(fields)} {to_epoch_ms(reading.ts)}"


def alert_line(alert: Alert) -> str:
    tags = {"type": alert.type, "state": alert.state, "severity": alert.severity, "subject": alert.subject}
    if alert.grid:
        tags["grid"] = alert.grid
    tag_text = ",".join(f"{key}={_tag(value)}" for key, value in sorted(tags.items()) if value)
    fields = (
        f"id={_string(alert.id)},summary={_string(alert.summary)},"
        f"active={1 if alert.state == 'active' else 0}i,severity_level={SEVERITY_RANK[alert.severity]}i"
    )
    return f"alert_change,{tag_text} {fields} {to_epoch_ms(alert_time(alert))}"


class InfluxWriter(BufferedWriter):
    name = "influxdb time series"

    def __init__(self, config: TimeSeriesConfig, timeout_ms: int = 10_000) -> None:
        if not config.url:
            raise ValueError("timeseries.url is required for kind: influxdb")
        self.bucket = config.bucket
        self.org = config.org
        token = secret(config.token_env)
        self._client = InfluxDBClient(url=config.url, token=token, org=config.org, timeout=timeout_ms)
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)
        super().__init__(config.batch_size, config.flush_interval_ms / 1000)

    def _store(self, readings: list[Reading], alerts: list[Alert]) -> None:
        lines = [reading_line(r) for r in readings]
        lines.extend(alert_line(a) for a in alerts)
        self._write_api.write(bucket=self.bucket, org=self.org, record=lines, write_precision=WritePrecision.MS)

    def _close_store(self) -> None:
        self._write_api.close()
        self._client.close()

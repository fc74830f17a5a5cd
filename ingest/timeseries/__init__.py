"""Time-series writers: readings and alert changes for dashboards and later analysis.

`build_writer(config, state_dir)` picks one by `timeseries.kind`: "sqlite" (embedded, no
server, the default), "influxdb" (InfluxDB v2 write API, or anything that speaks it) or
"none". Writers buffer and never raise into the worker: the time series is a record, the
alerts travel through the edge's outbox, not through here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Protocol, runtime_checkable

from ingest.config import TimeSeriesConfig
from ingest.wire.alert import Alert
from ingest.wire.water import Reading


@runtime_checkable
class TimeSeriesWriter(Protocol):
    def write_readings(self, readings: Sequence[Reading]) -> None: ...

    def write_alert(self, alert: Alert) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


def alert_time(alert: Alert) -> datetime:
    """When a change happened in event time: its clearing, else its raising."""
    return alert.cleared_at or alert.raised_at


class NullWriter:
    """`kind: none`: keeps nothing."""

    def write_readings(self, readings: Sequence[Reading]) -> None:
        pass

    def write_alert(self, alert: Alert) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def build_writer(config: TimeSeriesConfig, state_dir: Path) -> TimeSeriesWriter:
    if config.kind == "sqlite":
        from ingest.timeseries.sqlite import SqliteWriter

        return SqliteWriter(config.path or Path(state_dir) / "timeseries.sqlite", config)
    if config.kind == "influxdb":
        from ingest.timeseries.influx import InfluxWriter

        return InfluxWriter(config)
    return NullWriter()

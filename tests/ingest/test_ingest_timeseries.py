"""Time-series writers: SQLite (idempotent, read back, retention) and InfluxDB v2 against a real VictoriaMetrics."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from edge.broker import free_port, wait_for_port
from ingest.config import TimeSeriesConfig
from ingest.timeseries import NullWriter, TimeSeriesWriter, build_writer
from ingest.timeseries.influx import InfluxWriter, alert_line, reading_line
from ingest.timeseries.sqlite import SqliteWriter
from ingest.wire.alert import Alert
from ingest.wire.water import Reading

T0 = datetime(2024, 5, 1, 0, 0, tzinfo=UTC)


def series(meter: str, count: int, start: datetime = T0) -> list[Reading]:
    return [
        Reading(meter, start + timedelta(minutes=15 * i), 1000.0 + i, 0.5 * (i % 3), 3.6, i) for i in range(count)
    ]


def alert(state: str = "active", severity: str = "warning", grid: str | None = "g-1") -> Alert:
    return Alert(
        id="water.no_usage:abc123", type="water.no_usage", state=state, severity=severity, subject="m-1",
        building="b-1", grid=grid, started_at=T0, raised_at=T0 + timedelta(hours=12),
        cleared_at=T0 + timedelta(hours=14) if state == "cleared" else None,
        summary='No water used for 12 h, "Zhang", 3/F', evidence={"silent_h": 12}, snapshot_jpeg_b64="aGVsbG8=",
        edge_id="edge-01",
    )


def test_build_writer_picks_the_kind(tmp_path: Path) -> None:
    writer = build_writer(TimeSeriesConfig(), tmp_path)
    try:
        assert isinstance(writer, SqliteWriter) and writer.path == tmp_path / "timeseries.sqlite"
        assert isinstance(writer, TimeSeriesWriter)
    finally:
        writer.close()
    assert isinstance(build_writer(TimeSeriesConfig(kind="none"), tmp_path), NullWriter)


def test_sqlite_stores_readings_once_and_reads_them_back(tmp_path: Path) -> None:
    writer = SqliteWriter(tmp_path / "ts.sqlite", TimeSeriesConfig(batch_size=100))
    readings = series("m-1", 250) + series("m-2", 10)
    writer.write_readings(readings)
    writer.write_readings(readings[:50])  # redelivered: must not be stored twice
    writer.write_alert(alert())
    writer.write_alert(alert())  # the same change again
    writer.write_alert(alert("cleared", "info"))
    writer.flush()
    try:
        assert writer.count() == 260
        assert writer.readings("m-1") == readings[:250]
        window = writer.readings("m-1", T0 + timedelta(hours=1), T0 + timedelta(hours=2))
        assert [r.seq for r in window] == [4, 5, 6, 7]
        changes = writer.alert_changes()
        assert [(a.state, a.severity) for a in changes] == [("active", "warning"), ("cleared", "info")]
        assert changes[0].summary == alert().summary and changes[0].snapshot_jpeg_b64 is None
    finally:
        writer.close()
    # Durable: a new writer on the same file sees the same data.
    again = SqliteWriter(tmp_path / "ts.sqlite")
    try:
        assert again.readings("m-2") == readings[250:]
    finally:
        again.close()


def test_sqlite_flushes_by_size_and_by_interval_without_flush_calls(tmp_path: Path) -> None:
    writer = SqliteWriter(tmp_path / "ts.sqlite", TimeSeriesConfig(batch_size=100, flush_interval_ms=50))
    try:
        writer.write_readings(series("m-1", 3))
        deadline = time.monotonic() + 5
        while writer.count() < 3:
            assert time.monotonic() < deadline, "the interval flush never came"
            time.sleep(0.01)
    finally:
        writer.close()


def test_sqlite_prunes_by_retention_behind_the_newest_reading(tmp_path: Path) -> None:
    writer = SqliteWriter(tmp_path / "ts.sqlite", TimeSeriesConfig(retention_days=1.0))
    try:
        writer.write_readings(series("m-1", 4 * 24 * 3))  # three days, every 15 min
        writer.flush()
        assert writer.prune() > 0
        kept = writer.readings("m-1")
        newest = T0 + timedelta(minutes=15 * (4 * 24 * 3 - 1))
        assert kept[-1].ts == newest and kept[0].ts >= newest - timedelta(days=1)
        assert len(kept) == 4 * 24 + 1
    finally:
        writer.close()


def test_line_protocol_escapes_tags_and_strings() -> None:
    line = alert_line(alert().model_copy(update={"subject": "m 1,x=y"}))
    tags = "grid=g-1,severity=warning,state=active,subject=m\\ 1\\,x\\=y,type=water.no_usage"
    assert line.startswith(f"alert_change,{tags} ")
    assert 'summary="No water used for 12 h, \\"Zhang\\", 3/F"' in line
    assert line.endswith(f" {int((T0 + timedelta(hours=12)).timestamp() * 1000)}")
    assert reading_line(Reading("m-1", T0, 12.0)) == f"water_reading,meter=m-1 total_l=12.0 {ms(T0)}"


def export(url: str, match: str) -> dict[tuple[str, str], list[tuple[int, float]]]:
    httpx.get(f"{url}/internal/force_flush", timeout=10).raise_for_status()
    response = httpx.get(f"{url}/api/v1/export", params={"match[]": match}, timeout=10)
    response.raise_for_status()
    out: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for line in response.text.splitlines():
        row = json.loads(line)
        key = (row["metric"]["__name__"], row["metric"].get("meter") or row["metric"].get("state", ""))
        out[key] = sorted(zip(row["timestamps"], row["values"], strict=True))
    return out


def recent() -> datetime:
    # VictoriaMetrics silently drops points older than its retention (one month by default).
    return datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def test_influx_writer_against_victoria_metrics(victoria_metrics) -> None:  # noqa: ANN001 - conftest fixture
    t0 = recent()
    config = TimeSeriesConfig(kind="influxdb", url=victoria_metrics.url, token_env=None, batch_size=50)
    writer = build_writer(config, Path("unused"))
    assert isinstance(writer, InfluxWriter)
    readings = series("m-1", 120, t0) + [Reading("m-2", t0 + timedelta(milliseconds=1500), 7.25)]
    writer.write_readings(readings)
    shift = {"started_at": t0, "raised_at": t0 + timedelta(hours=12)}
    writer.write_alert(alert().model_copy(update=shift))
    writer.write_alert(alert("cleared", "info").model_copy(update=shift | {"cleared_at": t0 + timedelta(hours=14)}))
    writer.close()  # flushes
    assert writer.failures == 0 and writer.written == 123

    got = export(victoria_metrics.url, '{__name__=~"water_reading.*"}')
    stamps = [ms(r.ts) for r in readings]
    pairs = list(zip(stamps, readings[:120], strict=False))
    assert got[("water_reading_total_l", "m-1")] == [(t, r.total_l) for t, r in pairs]
    assert got[("water_reading_seq", "m-1")] == [(t, float(r.seq)) for t, r in pairs]
    assert got[("water_reading_flow_lpm", "m-1")][:3] == [(stamps[0], 0.0), (stamps[1], 0.5), (stamps[2], 1.0)]
    assert got[("water_reading_total_l", "m-2")] == [(stamps[-1], 7.25)]  # millisecond precision kept
    assert ("water_reading_flow_lpm", "m-2") not in got  # absent fields are not invented

    alerts = export(victoria_metrics.url, '{__name__=~"alert_change.*"}')
    raised, cleared = ms(t0 + timedelta(hours=12)), ms(t0 + timedelta(hours=14))
    assert alerts[("alert_change_active", "active")] == [(raised, 1.0)]
    assert alerts[("alert_change_active", "cleared")] == [(cleared, 0.0)]
    assert alerts[("alert_change_severity_level", "active")] == [(raised, 1.0)]


def test_influx_writer_survives_a_dead_server_and_catches_up(tmp_path: Path) -> None:
    port = free_port()
    config = TimeSeriesConfig(kind="influxdb", url=f"http://127.0.0.1:{port}", token_env=None, flush_interval_ms=50)
    writer = InfluxWriter(config, timeout_ms=1000)
    server = None
    try:
        readings = series("m-9", 5, recent())
        writer.write_readings(readings)
        writer.flush()  # nothing listens: must not raise, must keep the readings
        assert writer.failures >= 1 and writer.buffered == 5
        server = subprocess.Popen(
            [shutil.which("victoria-metrics") or "victoria-metrics", f"-storageDataPath={tmp_path / 'vm'}",
             f"-httpListenAddr=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for_port("127.0.0.1", port)
        deadline = time.monotonic() + 10
        while writer.buffered:
            assert time.monotonic() < deadline, "the buffered readings were never retried"
            time.sleep(0.02)
        writer.close()
        got = export(config.url or "", '{__name__="water_reading_total_l"}')
        assert got[("water_reading_total_l", "m-9")] == [(ms(r.ts), r.total_l) for r in readings]
    finally:
        writer.close()
        if server is not None:
            server.terminate()
            server.wait(timeout=10)

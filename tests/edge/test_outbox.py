"""The durable outbox on a real SQLite file: one transaction with the worker's checkpoint,
idempotent appends, per-sink delivery state, rejection, stats, pruning, reopening."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge.outbox import Outbox
from ingest.wire.alert import Alert, episode_id


def make_alert(n: int, *, grid: str | None = "g1", revision: int = 1) -> Alert:
    started = datetime(2026, 3, 1, tzinfo=UTC) + timedelta(hours=n)
    return Alert(
        id=episode_id("water.no_usage", f"m{n}", started), type="water.no_usage", state="active",
        severity="warning", subject=f"m{n}", grid=grid, started_at=started, raised_at=started,
        summary="no water used", edge_id="edge-01", revision=revision,
    )


def worker_connection(path: Path) -> sqlite3.Connection:
    """What the edge worker does: its own connection, its own state table, the outbox schema."""
    conn = Outbox.connect(path)
    conn.execute("CREATE TABLE IF NOT EXISTS rule_state (k TEXT PRIMARY KEY, v TEXT)")
    Outbox.create_schema(conn)
    conn.commit()
    return conn


def test_append_commits_with_the_callers_checkpoint_or_not_at_all(tmp_path: Path) -> None:
    path = tmp_path / "edge.sqlite"
    outbox = Outbox(path)
    conn = worker_connection(path)

    conn.execute("INSERT OR REPLACE INTO rule_state VALUES ('watermark', '1')")
    assert Outbox.append(conn, [make_alert(0), make_alert(1)]) == 2
    assert outbox.pending("http") == []  # not committed yet: the sender sees nothing
    conn.rollback()
    assert outbox.pending("http") == [] and conn.execute("SELECT COUNT(*) FROM rule_state").fetchone()[0] == 0

    conn.execute("INSERT OR REPLACE INTO rule_state VALUES ('watermark', '2')")
    Outbox.append(conn, [make_alert(0), make_alert(1)])
    conn.commit()
    assert [i.alert() for i in outbox.pending("http")] == [make_alert(0), make_alert(1)]


def test_the_same_change_appended_again_inserts_nothing(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite")
    assert outbox.append_now([make_alert(0), make_alert(1)]) == 2
    assert outbox.append_now([make_alert(1), make_alert(0)]) == 0  # a replay after a crash
    assert outbox.append_now([make_alert(1, revision=2)]) == 1  # an update is a new change
    assert [(i.alert_id, i.alert().revision) for i in outbox.pending("http")] == [
        (make_alert(0).id, 1), (make_alert(1).id, 1), (make_alert(1).id, 2)
    ]


def test_sinks_are_independent_and_keep_seq_order(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite")
    outbox.append_now([make_alert(n) for n in range(5)])
    seqs = [i.seq for i in outbox.pending("http")]
    assert seqs == sorted(seqs)

    outbox.mark_done("http", seqs[:2])
    outbox.mark_done("mqtt", seqs[:4])
    assert [i.seq for i in outbox.pending("http")] == seqs[2:]
    assert [i.seq for i in outbox.pending("mqtt")] == seqs[4:]
    assert [i.seq for i in outbox.pending("http", limit=1)] == seqs[2:3]
    with pytest.raises(ValueError, match="unknown outbox sink"):
        outbox.pending("sms")  # type: ignore[arg-type]


def test_rejected_items_are_kept_for_operators_and_not_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = Outbox(tmp_path / "o.sqlite")
    outbox.append_now([make_alert(0), make_alert(1)])
    first, second = outbox.pending("http")
    outbox.note_attempt(first.seq, "HTTP 500")
    outbox.mark_rejected(first.seq, "HTTP 422: invalid alert: subject: too short")
    assert [i.seq for i in outbox.pending("http")] == [second.seq]
    [(item, reason)] = outbox.rejected()
    assert item.seq == first.seq and item.attempts == 1 and "422" in reason
    assert "rejected by the dispatch endpoint" in caplog.text
    assert outbox.stats()["rejected"] == 1


def test_stats(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite")
    empty = outbox.stats()
    assert empty["pending_http"] == 0 and empty["oldest_pending_http_s"] is None
    outbox.append_now([make_alert(n) for n in range(3)])
    seqs = [i.seq for i in outbox.pending("http")]
    outbox.mark_done("http", seqs[:1])
    outbox.mark_skipped(seqs)
    stats = outbox.stats()
    assert (stats["total"], stats["pending_http"], stats["delivered_http"], stats["pending_mqtt"]) == (3, 2, 1, 0)
    assert stats["skipped_mqtt"] == 3 and stats["last_seq"] == seqs[-1]
    assert 0 <= stats["oldest_pending_http_s"] < 60


def test_prune_deletes_only_rows_every_sink_finished_long_ago(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    outbox = Outbox(path)
    outbox.append_now([make_alert(n) for n in range(4)])
    s0, s1, s2, s3 = (i.seq for i in outbox.pending("http"))
    outbox.mark_done("http", [s0, s1])
    outbox.mark_done("mqtt", [s0])  # s1: mqtt still pending
    outbox.mark_rejected(s2, "HTTP 422")
    outbox.mark_done("mqtt", [s2])
    # Age the finished rows by ten days.
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE outbox SET http_done_at = http_done_at - 864000, mqtt_done_at = mqtt_done_at - 864000")
    assert outbox.prune(7) == 1  # s0 only
    assert outbox.prune(7, rejected_older_than_days=30) == 0
    assert outbox.prune(7, rejected_older_than_days=5) == 1  # s2
    assert [i.seq for i in outbox.pending("http")] == [s3]
    assert outbox.stats()["total"] == 2
    outbox.append_now([make_alert(9)])
    assert outbox.pending("http")[-1].seq > s3  # seq is never reused after pruning


def test_the_outbox_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    outbox = Outbox(path)
    outbox.append_now([make_alert(n) for n in range(3)])
    outbox.mark_done("http", [outbox.pending("http")[0].seq])
    outbox.close()

    reopened = Outbox(path)
    assert [i.alert() for i in reopened.pending("http")] == [make_alert(1), make_alert(2)]
    assert len(reopened.pending("mqtt")) == 3
    assert reopened.append_now([make_alert(0)]) == 0


def test_listeners_are_woken_by_append_now_and_notify(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "o.sqlite")
    calls: list[float] = []
    outbox.add_listener(lambda: calls.append(time.monotonic()))
    outbox.append_now([make_alert(0)])
    outbox.append_now([make_alert(0)])  # nothing new: no wake-up
    outbox.notify()
    assert len(calls) == 2


def test_worker_and_sender_write_concurrently_without_locking_errors(tmp_path: Path) -> None:
    import threading

    path = tmp_path / "o.sqlite"
    outbox = Outbox(path)
    conn = worker_connection(path)
    done = threading.Event()

    def sender() -> None:
        while not done.is_set() or outbox.pending("http"):
            items = outbox.pending("http", 10)
            outbox.mark_done("http", [i.seq for i in items])

    thread = threading.Thread(target=sender)
    thread.start()
    for n in range(200):
        conn.execute("INSERT OR REPLACE INTO rule_state VALUES ('n', ?)", (str(n),))
        Outbox.append(conn, [make_alert(n)])
        conn.commit()
    done.set()
    thread.join(10)
    assert outbox.stats()["delivered_http"] == 200

"""The DAIAD replay reads the real trial file and keeps its real faults."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from simulators.water.daiad import DaiadFormatError, iter_daiad, load_daiad, merged, publish_daiad


@pytest.fixture
def trial(shared_dir: Path) -> Path:
    return shared_dir / "data" / "water" / "daiad" / "swm_trialA.csv"


def test_the_whole_trial_reads_fast_with_its_documented_faults(trial: Path) -> None:
    started = time.monotonic()
    rows = Counter(r.meter_id for r in iter_daiad(trial))
    elapsed = time.monotonic() - started
    assert len(rows) == 92 and sum(rows.values()) == 674_019
    assert elapsed < 10, f"{elapsed:.1f} s for 674k rows"
    facts: Counter[str] = Counter()
    for series in load_daiad(trial).values():
        facts.update(series.facts())
    assert facts["rows"] == 674_019
    assert facts["duplicate_ts"] == 78
    assert facts["negative_steps"] == 203


@pytest.mark.parametrize(
    ("local", "utc"),
    [
        ("01/03/2016 00:28:55", datetime(2016, 2, 29, 23, 28, 55, tzinfo=UTC)),  # winter: UTC+1
        ("15/07/2016 12:00:00", datetime(2016, 7, 15, 10, 0, 0, tzinfo=UTC)),  # summer: UTC+2
    ],
)
def test_day_first_local_time_becomes_utc(tmp_path: Path, local: str, utc: datetime) -> None:
    path = tmp_path / "one.csv"
    path.write_text(f"user key;datetime;meter reading;diff\nabcdef0123;{local};68321;10\n")
    [reading] = list(iter_daiad(path))
    assert reading.ts == utc and reading.total_l == 68321.0 and reading.meter_id == "daiad-abcdef01"


def test_households_and_time_window_limit_the_replay(trial: Path) -> None:
    start, end = datetime(2016, 6, 1, tzinfo=UTC), datetime(2016, 6, 8, tzinfo=UTC)
    readings = list(iter_daiad(trial, households=3, start=start, end=end))
    assert len({r.meter_id for r in readings}) == 3
    assert all(start <= r.ts < end for r in readings)
    assert 3 * 7 * 20 < len(readings) < 3 * 7 * 30  # about hourly


def test_merged_replay_interleaves_homes_in_time(trial: Path) -> None:
    series = load_daiad(trial, households=4)
    out = list(merged(series))
    assert len(out) == sum(len(s.ts) for s in series.values())
    stamps = np.array([r.ts.timestamp() for r in out])
    assert np.mean(np.diff(stamps) >= 0) > 0.999  # in time order but for the file's own disorder


def test_a_broken_row_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("user key;datetime;meter reading;diff\nk;01/03/2016 00:28:55;12;0\nk;yesterday;13;1\n")
    with pytest.raises(DaiadFormatError, match=r"bad\.csv:3"):
        list(iter_daiad(path))


def test_replay_over_mqtt(mosquitto, subscriber, trial: Path) -> None:
    result = publish_daiad(mosquitto.url, trial, households=2, start=datetime(2016, 3, 1, tzinfo=UTC),
                           end=datetime(2016, 4, 1, tzinfo=UTC))
    assert result["delivered"] and result["households"] == 2
    assert subscriber.wait_for(result["published"], 20) == result["published"] > 1000

"""The corpus of hostile inputs in tests/hostile/ (one file per finding of the hardening review): each is refused
by the decoder of its kind with a clear error, never decoded, stored or crashed on."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from ingest.decode import Rejected, decode_readings
from ingest.wire.alert import Alert
from models.vision.frames import FrameError, decode_jpeg

CORPUS = Path(__file__).resolve().parent / "hostile"


def corpus(prefix: str, suffix: str) -> list[Path]:
    found = sorted(CORPUS.glob(f"{prefix}*{suffix}"))
    assert found, f"no {prefix}*{suffix} in {CORPUS}"
    return found


@pytest.mark.parametrize("path", corpus("", ".jpg"), ids=lambda p: p.name)
def test_hostile_jpegs_are_refused_before_decoding(path: Path) -> None:
    with pytest.raises(FrameError):
        decode_jpeg(path.read_bytes())


@pytest.mark.parametrize("path", corpus("alert-", ".json"), ids=lambda p: p.name)
def test_hostile_alert_changes_are_invalid(path: Path) -> None:
    with pytest.raises(ValidationError):
        Alert.model_validate_json(path.read_bytes())


@pytest.mark.parametrize("path", corpus("reading-", ".json"), ids=lambda p: p.name)
def test_hostile_readings_are_rejected_with_a_reason(path: Path) -> None:
    with pytest.raises(Rejected) as caught:
        decode_readings("m-1", path.read_bytes(), datetime(2026, 3, 1, tzinfo=UTC), max_future_skew_s=300,
                        earliest=datetime(2000, 1, 1, tzinfo=UTC))
    assert caught.value.reason.split(":")[0] in ("ts", "not JSON", "not an object")

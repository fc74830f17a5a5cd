"""The `elevator:` section of edge.yaml: model, rule, linkage, evidence, data flywheel."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationInfo, field_validator

from ingest.config import Section
from models.vision.empty_car import EmptyCarParams
from rules.elevator.ebike import EbikeParams


def _beside_config(value: Path | None, info: ValidationInfo) -> Path | None:
    """A relative path in edge.yaml is relative to that file (as `registry` and `state_dir` are)."""
    base = (info.context or {}).get("base_dir")
    if value is not None and base is not None and not value.is_absolute():
        return Path(base) / value
    return value


class EvidenceConfig(Section):
    snapshot_max_side: int = Field(960, ge=160, le=4096, description="the alert's snapshot is scaled down to this")
    snapshot_quality: int = Field(80, ge=30, le=100, description="JPEG quality of the snapshot")
    clip_before_s: float = Field(5.0, ge=0, le=120, description="seconds of video kept before the alert")
    clip_after_s: float = Field(10.0, ge=0, le=600, description="seconds of video kept after the alert")
    clip_fps: float = Field(5.0, gt=0, le=30, description="frames per second written to the clip")
    retention_days: float = Field(30.0, gt=0, le=3650, description="clips older than this are deleted")
    max_total_mb: float = Field(2000.0, gt=0, description="oldest clips go first when the folder grows past this")
    dir: Path | None = Field(None, description="default: <state_dir>/evidence")

    _dir = field_validator("dir")(_beside_config)


class FlywheelConfig(Section):
    enabled: bool = True
    low: float = Field(0.2, ge=0, le=1, description="an e-bike box scored in [low, high) makes a frame unsure")
    high: float = Field(0.6, ge=0, le=1)
    min_interval_s: float = Field(30.0, ge=0, description="at most one unsure frame per camera this often")
    max_images: int = Field(5000, ge=0, description="the folder stops growing here until someone labels it")
    dir: Path | None = Field(None, description="default: <state_dir>/unsure (YOLO format, for labelling)")

    _dir = field_validator("dir")(_beside_config)


class ElevatorConfig(Section):
    enabled: bool = Field(True, description="subscribe to the elevator topics and run the e-bike detector")
    model: Path | None = Field(None, description="ONNX exported by `gridwatch model export`; default: the bundled")
    backend: str = Field("onnx", description="detector backend (models.vision.registry)")
    conf: float = Field(0.2, ge=0, le=1, description="the detector's box threshold; the rule's median is stricter")
    threads: int = Field(1, ge=1, le=64, description="ONNX Runtime threads per detector")
    verify: bool = Field(True, description="confirm e-bike boxes with the model's crop verifier, when it has one")
    ebike: EbikeParams = EbikeParams()
    empty_car: EmptyCarParams = Field(EmptyCarParams(), description="per-camera empty-car reference")
    camera_silent_s: float = Field(60.0, gt=0, description="a camera with no frame for this long raises an alert")
    watchdog_s: float = Field(
        5.0, gt=0, le=600, description="a held door is released when its camera was not judged for this long"
    )
    max_hold_s: float = Field(
        300.0, gt=0, description="the door is released after this long even with the bike still in (the alert stays)"
    )
    max_unregistered: int = Field(
        32, ge=0, description="cameras not in the registry judged at once; frames of more are dead letters"
    )
    unregistered_expire_s: float = Field(
        600.0, gt=0, description="a camera not in the registry, silent this long, is forgotten (its state freed)"
    )
    source_fps: float = Field(5.0, gt=0, le=60, description="frames per second taken from RTSP, video and folders")
    evidence: EvidenceConfig = EvidenceConfig()
    flywheel: FlywheelConfig = FlywheelConfig()

    _model = field_validator("model")(_beside_config)

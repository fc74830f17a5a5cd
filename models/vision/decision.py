"""A model's decision card (`<model>.decision.json` beside the ONNX): how its scores become an e-bike decision.

- `calibration`: per class, the logistic map from the detector's score to a calibrated one (val side);
- `verifier`: the optional crop classifier (an ONNX beside the model) and the fusion of its score with the
  detector's into the calibrated e-bike score;
- `operating_points`: the rule's thresholds for each operating point, chosen on the val side's rides (never the
  test side), with what they gave there.
The edge reads it with the model; a model without one (a city's first retrain) runs uncalibrated with the
rule's defaults, and `gridwatch check` says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from models.vision.calibration import Logistic

OperatingPoint = Literal["strict", "balanced"]
OPERATING_POINTS: tuple[OperatingPoint, ...] = ("strict", "balanced")


class VerifierCard(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str = Field(description="the verifier's ONNX, relative to the decision card")
    fusion: Logistic = Field(description="sigmoid(bias + w_det*logit(detector) + w_ver*logit(verifier))")
    context: float = Field(0.15, ge=0, le=1, description="the crop is the box grown by this share on each side")


class PointCard(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    score_threshold: float = Field(gt=0, le=1)
    min_seen_frames: int = Field(ge=1, le=300)
    val: dict[str, float | int | None] = Field(default_factory=dict, description="what it gave on val rides")


class DecisionCard(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    calibration: dict[str, Logistic] = Field(default_factory=dict, description="class -> calibration")
    verifier: VerifierCard | None = None
    operating_points: dict[OperatingPoint, PointCard] = Field(default_factory=dict)
    default_point: OperatingPoint = "strict"
    chosen_on: str = Field("", description="where thresholds and calibration were fitted (the split's val side)")

    @staticmethod
    def path_for(model: Path) -> Path:
        return Path(model).with_suffix(".decision.json")

    @classmethod
    def for_model(cls, model: Path) -> DecisionCard | None:
        path = cls.path_for(model)
        return cls.model_validate_json(path.read_text()) if path.is_file() else None

    def verifier_path(self, model: Path) -> Path | None:
        return None if self.verifier is None else Path(model).parent / self.verifier.file

    def write(self, model: Path) -> Path:
        path = self.path_for(model)
        path.write_text(self.model_dump_json(indent=1) + "\n")
        return path

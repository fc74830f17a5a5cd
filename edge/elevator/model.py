"""The e-bike chain of an edge's config: the detector, the scorer and the rule's thresholds, from one model file.

The model's decision card (`<model>.decision.json`) says how its scores are calibrated, whether a crop
verifier confirms its e-bikes, and which thresholds each operating point uses; `elevator.ebike` may set its
own, which win.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edge.elevator.config import ElevatorConfig
from models.vision.decision import DecisionCard
from models.vision.detector import Detector
from models.vision.ebike_scorer import EbikeScorer
from models.vision.model_file import DEFAULT_EBIKE_MODEL, load_detector
from rules.elevator.ebike import EbikeParams


@dataclass(frozen=True)
class EbikeChain:
    model: Path
    detector: Detector
    scorer: EbikeScorer
    params: EbikeParams  # resolved: concrete thresholds
    card: DecisionCard | None


def load_chain(config: ElevatorConfig, detector: Detector | None = None) -> EbikeChain:
    """`detector` given (tests, benchmarks): used as it is, uncalibrated, with the rule's own thresholds."""
    model = config.model or DEFAULT_EBIKE_MODEL
    if detector is not None:
        return EbikeChain(model, detector, EbikeScorer(None, None), config.ebike.resolved(None), None)
    detector = load_detector(model, backend=config.backend, conf=config.conf, threads=config.threads)
    card = DecisionCard.for_model(model)
    scorer = EbikeScorer.for_model(model, config.ebike.ebike_classes, verify=config.verify, threads=config.threads)
    return EbikeChain(model, detector, scorer, config.ebike.resolved(card), card)

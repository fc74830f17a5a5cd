"""Detections -> the scores the e-bike rule sees: calibrated per class, e-bikes fused with the crop verifier.

Only the detector's own boxes are scored; no box is added or moved. A `person` box never changes an e-bike's
score (the rider must not make the bike stronger or weaker): each e-bike is scored from its own box and pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from models.vision.calibration import EPS, Logistic, logit
from models.vision.decision import DecisionCard
from models.vision.types import Detections
from models.vision.verifier import CropVerifier

MAX_VERIFIED = 2  # e-bike candidates a frame sends to the verifier (the strongest): ~2-3 ms each, the budget


class EbikeScorer:
    def __init__(self, card: DecisionCard | None, verifier: CropVerifier | None,
                 ebike_classes: Sequence[str] = ("ebike",), max_verified: int = MAX_VERIFIED) -> None:
        self.card = card
        self.verifier = verifier if card is not None and card.verifier is not None else None
        self.ebike_classes = frozenset(ebike_classes)
        self.max_verified = max_verified

    @classmethod
    def for_model(cls, model: Path, ebike_classes: Sequence[str] = ("ebike",), *, verify: bool = True,
                  threads: int = 1) -> EbikeScorer:
        card = DecisionCard.for_model(model)
        verifier = None
        if verify and card is not None and card.verifier is not None:
            path = card.verifier_path(model)
            assert path is not None
            verifier = CropVerifier(path, context=card.verifier.context, threads=threads)
        return cls(card, verifier, ebike_classes)

    @property
    def calibrated(self) -> bool:
        return self.card is not None and bool(self.card.calibration)

    def scores(self, image_bgr: np.ndarray, found: Detections) -> np.ndarray:
        """One score per box of `found`, in its order."""
        raw = found.scores.astype(np.float64)
        if self.card is None or raw.size == 0:
            return raw
        labels = found.labels()
        out = raw.copy()
        for name in set(labels):
            calibration = self.card.calibration.get(name)
            if calibration is not None:
                sel = np.array([lb == name for lb in labels])
                out[sel] = calibration(raw[sel])
        if self.verifier is None:
            return out
        ebikes = [i for i, lb in enumerate(labels) if lb in self.ebike_classes]
        if not ebikes:
            return out
        strongest = sorted(ebikes, key=lambda i: -raw[i])[:self.max_verified]
        verified = np.full(len(found.scores), 0.5)  # beyond the cap: the verifier abstains
        probs = self.verifier.probabilities(image_bgr, [tuple(map(float, found.xyxy[i])) for i in strongest])
        verified[strongest] = probs
        fusion = self.card.verifier.fusion  # type: ignore[union-attr]
        out[ebikes] = fusion(raw[ebikes], verified[ebikes])
        return out


def verifier_moot_below(fusion: Logistic, threshold: float) -> float:
    """The raw e-bike score under which no answer of the verifier can change the rule's decision at `threshold`.

    The rule compares a track's median score (statistics.median: the mean of the two middle ones for an even
    count) with T. Replacing a score below L = 2T - 1 by another below L changes neither `median >= T` nor the
    median of a track that passes: with an odd count the median is a score >= T; with an even count a track
    passes only when both middle scores are >= T, or one is >= T and the other >= 2T - 1 (scores are <= 1).
    The fused score is monotone in the verifier's logit, which calibration clips to +-logit(1 - EPS), so a box
    whose fused score stays below L at the verifier's most favourable answer could skip the verifier exactly.
    With the shipped card this bound (0.06 at T 0.85) is under the edge's box threshold (0.2): nothing to skip.
    """
    w_det, w_ver = fusion.weights
    floor = 2 * threshold - 1
    if floor <= 0 or w_det <= 0:
        return 0.0
    z = math.log(floor / (1 - floor)) - fusion.bias - abs(w_ver) * float(logit(1 - EPS))
    return 1 / (1 + math.exp(-z / w_det))

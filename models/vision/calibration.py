"""Scores that mean what they say: logistic (Platt) calibration of a detector's per-class scores, and the fusion
of the detector's e-bike score with the crop verifier's, both fitted on held-out (val) boxes.

A calibrated score is the chance, on the val side, that a box of that score is a true e-bike (IoU >= 0.5 with
a labelled one). Thresholds then read as probabilities, and a retrained model's thresholds stay comparable.
Fitting is a few Newton steps of L2-regularised logistic regression in numpy: no scikit-learn at the edge.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

EPS = 1e-4


def logit(p: np.ndarray | float) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=np.float64), EPS, 1 - EPS)
    return np.log(q / (1 - q))


def sigmoid(z: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


class Logistic(BaseModel):
    """p = sigmoid(bias + sum(w_i * logit(x_i))) over the inputs' logits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weights: tuple[float, ...] = Field((1.0,), min_length=1)
    bias: float = 0.0

    def __call__(self, *inputs: np.ndarray | float) -> np.ndarray:
        if len(inputs) != len(self.weights):
            raise ValueError(f"{len(self.weights)} inputs expected, got {len(inputs)}")
        z = self.bias + sum(w * logit(x) for w, x in zip(self.weights, inputs, strict=True))
        return sigmoid(z)

    @property
    def is_identity(self) -> bool:
        return self.weights == (1.0,) and self.bias == 0.0


def fit_logistic(features: Sequence[np.ndarray], truth: np.ndarray, *, l2: float = 1e-2,
                 steps: int = 50) -> Logistic:
    """Fit on the logits of `features` (each an array of probabilities, one per box) against 0/1 `truth`."""
    y = np.asarray(truth, dtype=np.float64)
    if y.size == 0 or y.min() == y.max():
        raise ValueError("calibration needs both true and false boxes")
    x = np.column_stack([np.ones_like(y)] + [logit(f) for f in features])
    beta = np.zeros(x.shape[1])
    beta[1:] = 1.0 / (x.shape[1] - 1)
    penalty = np.full(x.shape[1], l2)
    penalty[0] = 0.0  # the bias is not shrunk
    for _ in range(steps):
        p = sigmoid(x @ beta)
        grad = x.T @ (p - y) + penalty * beta
        hess = (x * (p * (1 - p))[:, None]).T @ x + np.diag(penalty) + 1e-9 * np.eye(x.shape[1])
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return Logistic(weights=tuple(float(b) for b in beta[1:]), bias=float(beta[0]))


def expected_calibration_error(p: np.ndarray, truth: np.ndarray, bins: int = 10) -> float:
    """Mean |confidence - accuracy| over equal-width bins, weighted by their boxes."""
    p, y = np.asarray(p, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    if p.size == 0:
        return 0.0
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        sel = which == b
        if sel.any():
            total += sel.sum() * abs(p[sel].mean() - y[sel].mean())
    return float(total / p.size)

"""Calibration: the logistic fit recovers a known map, lowers the calibration error, and refuses one-sided data."""

from __future__ import annotations

import numpy as np
import pytest

from models.vision.calibration import Logistic, expected_calibration_error, fit_logistic, logit, sigmoid


def _overconfident(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Scores whose true chance is sigmoid(0.5 * logit(score) - 1): a detector that says 0.9 when it is ~0.6."""
    rng = np.random.default_rng(seed)
    scores = rng.uniform(0.05, 0.99, n)
    truth = (rng.random(n) < sigmoid(0.5 * logit(scores) - 1.0)).astype(int)
    return scores, truth


def test_fit_recovers_the_map_and_lowers_the_error():
    scores, truth = _overconfident(20_000)
    fit = fit_logistic([scores], truth, l2=0.0)
    assert fit.weights[0] == pytest.approx(0.5, abs=0.05) and fit.bias == pytest.approx(-1.0, abs=0.08)
    before, after = expected_calibration_error(scores, truth), expected_calibration_error(fit(scores), truth)
    assert before > 0.15 and after < 0.03


def test_two_inputs_fuse_and_the_stronger_one_weighs_more():
    rng = np.random.default_rng(1)
    truth = rng.random(5000) < 0.4
    informative = np.where(truth, rng.uniform(0.5, 1.0, 5000), rng.uniform(0.0, 0.6, 5000))
    noise = rng.uniform(0.01, 0.99, 5000)
    fit = fit_logistic([noise, informative], truth.astype(int))
    assert fit.weights[1] > 3 * abs(fit.weights[0])


def test_identity_and_errors():
    identity = Logistic()
    assert identity.is_identity and identity(np.array([0.3]))[0] == pytest.approx(0.3)
    with pytest.raises(ValueError, match="both"):
        fit_logistic([np.array([0.2, 0.9])], np.array([1, 1]))
    with pytest.raises(ValueError, match="inputs"):
        identity(np.array([0.1]), np.array([0.2]))

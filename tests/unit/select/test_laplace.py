"""The context model's Laplace step against an exact optimiser, and its predictive mean."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize

from ltrr.select.laplace import laplace_update, sigmoid, success_probability


@pytest.mark.parametrize("weight", [1.0, 2.5])
def test_update_is_the_exact_laplace_mode(weight: float) -> None:
    """Against scipy: argmin 1/2 sum q (w - m)^2 - c log P(y | w . x), then
    q += c x^2 p (1 - p), for an observation counted c times."""
    rng = np.random.default_rng(0)
    n_features = 12
    x = rng.normal(size=n_features)
    mean = np.zeros((3, n_features))
    precision = np.ones((3, n_features))
    mean[0] = rng.normal(size=n_features) * 0.3
    precision[0] = rng.uniform(0.5, 3.0, size=n_features)
    for y in (1.0, 0.0):
        m, q = mean[0].copy(), precision[0].copy()

        def loss(w: np.ndarray, m: np.ndarray = m, q: np.ndarray = q, y: float = y) -> float:
            z = float(w @ x)
            nll = float(np.logaddexp(0, -z if y else z))
            return 0.5 * float((q * (w - m) ** 2).sum()) + weight * nll

        exact = optimize.minimize(loss, m, method="BFGS", options={"gtol": 1e-10}).x
        laplace_update(mean, precision, np.array([0]), np.array([y]), x, weight)
        assert np.allclose(mean[0], exact, atol=1e-5)
        p = 1 / (1 + np.exp(-exact @ x))
        assert np.allclose(precision[0], q + weight * x * x * p * (1 - p), atol=1e-5)
    assert (mean[1:] == 0).all() and (precision[1:] == 1).all()  # other arms untouched


def test_predictive_mean_is_the_probit_approximation() -> None:
    """MacKay (1992): sigmoid(z / sqrt(1 + pi v / 8)); a sample with a generator."""
    mean = np.array([[1.0, -2.0]])
    precision = np.array([[4.0, 2.0]])
    x = np.array([1.0, 0.5])
    z, v = 1.0 - 1.0, 1 / 4 + 0.25 / 2
    expected = 1 / (1 + math.exp(-z / math.sqrt(1 + math.pi * v / 8)))
    assert success_probability(mean, precision, x, None)[0] == pytest.approx(expected)
    sample = success_probability(mean, precision, x, np.random.default_rng(1))
    assert 0.0 < sample[0] < 1.0
    assert sigmoid(np.array([0.0]))[0] == 0.5


def test_arms_updated_together_move_as_each_would_alone() -> None:
    """One observation, several arms with their own outcomes: each row's step is its own."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=8)
    mean, precision = rng.normal(size=(5, 8)) * 0.2, rng.uniform(0.5, 2.0, size=(5, 8))
    together_m, together_q = mean.copy(), precision.copy()
    arms, y = np.array([0, 2, 4]), np.array([1.0, 0.0, 1.0])
    laplace_update(together_m, together_q, arms, y, x, 1.5)
    for arm, outcome in zip(arms, y, strict=True):
        m, q = mean.copy(), precision.copy()
        laplace_update(m, q, np.array([arm]), np.array([outcome]), x, 1.5)
        assert np.array_equal(together_m[arm], m[arm]) and np.array_equal(together_q[arm], q[arm])
    assert np.array_equal(together_m[[1, 3]], mean[[1, 3]])

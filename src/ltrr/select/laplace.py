"""The bandit's context model: one Bayesian logistic regression per arm, updated online.

A module of its own because it is the policy's one numerical method, with its paper: how one
observation moves a posterior. ``select.bandit`` decides which arms learn from which search;
this module does the arithmetic, for any number of arms at once.

Each arm has a diagonal Gaussian posterior N(m, diag(1 / q)) over the weights of a logistic
model, updated by the Laplace approximation of Chapelle & Li (2011, "An empirical evaluation of
Thompson sampling", Algorithm 3). After (x, y) counted c times the new mode minimises
``1/2 sum_i q_i (w_i - m_i)^2 - c log P(y | sigmoid(w . x))``; it lies on ``w = m + t x / q``,
so a safeguarded 1-D Newton solve of ``z = z0 + (y - sigmoid(z)) v`` (``z0 = m . x``,
``v = c sum_i x_i^2 / q_i``) finds it; then ``q_i += c x_i^2 p (1 - p)`` at the new mode.

Shapes: ``mean`` and ``precision`` are (A, F) for A arms and F features, ``x`` is (F,).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numpy.typing import NDArray

from ltrr.select.overlap import Array

_SOLVER_STEPS = 60


def sigmoid(z: Array) -> Array:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def success_probability(
    mean: Array, precision: Array, x: Array, rng: np.random.Generator | None
) -> Array:
    """P(y = 1 | x) per arm, shape (A,): the predictive mean, or a Thompson sample with ``rng``.

    The mean uses the probit approximation of the logistic-Gaussian integral (MacKay 1992).
    """
    z = mean @ x
    v = (x * x) @ (1.0 / precision).T
    if rng is None:
        return sigmoid(z / np.sqrt(1.0 + math.pi * v / 8.0))
    return sigmoid(z + np.sqrt(v) * rng.standard_normal(len(z)))


def laplace_update(
    mean: Array, precision: Array, arms: NDArray[np.int64], y: Array, x: Array, w: float
) -> None:
    """One Laplace step for rows ``arms`` of ``mean``/``precision`` (in place).

    ``y`` (len(arms),) holds each arm's 0/1 outcome of the one observation ``x``, counted ``w``
    times (Chapelle & Li 2011, Algorithm 3; see the module docstring). Compiled: the policy's
    update is most of what folding feedback costs, and as numpy each step of the solve was a
    dozen array calls over a few arms.
    """
    _laplace_rows(mean, precision, arms.astype(np.int64, copy=False), y.astype(np.float64), x, w)


@numba.njit(cache=True, nogil=True)
def _laplace_rows(
    mean: Array, precision: Array, arms: NDArray[np.int64], y: Array, x: Array, w: float
) -> None:  # pragma: no cover - compiled; tested through laplace_update
    n_features = x.shape[0]
    for k in range(arms.shape[0]):
        a = arms[k]
        z0 = 0.0
        v = 0.0
        for i in range(n_features):
            z0 += mean[a, i] * x[i]
            v += x[i] * x[i] / precision[a, i]
        v *= w
        far = z0 + (y[k] - 0.5 * (1.0 + math.tanh(0.5 * z0))) * v  # the mode lies in between
        lo, hi = min(z0, far), max(z0, far)
        z = z0
        for _ in range(_SOLVER_STEPS):  # Newton, bisecting when a step leaves the bracket
            s = 0.5 * (1.0 + math.tanh(0.5 * z))
            f = z - z0 - (y[k] - s) * v  # increasing in z: f' = 1 + v s (1 - s)
            if abs(f) < 1e-12:
                break
            if f < 0:
                lo = z
            elif f > 0:
                hi = z
            newton = z - f / (1.0 + v * s * (1.0 - s))
            z = newton if lo < newton < hi else 0.5 * (lo + hi)
        s = 0.5 * (1.0 + math.tanh(0.5 * z))
        step = w * (y[k] - s)
        curvature = w * s * (1.0 - s)
        for i in range(n_features):
            q = precision[a, i]
            mean[a, i] += step * x[i] / q
            precision[a, i] = q + x[i] * x[i] * curvature

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
    times (Chapelle & Li 2011, Algorithm 3; see the module docstring).
    """
    m, q = mean[arms], precision[arms]
    x2 = x * x
    z0 = m @ x
    v = w * (x2[None, :] / q).sum(axis=1)
    far = z0 + (y - sigmoid(z0)) * v  # the mode lies between z0 and far
    lo, hi = np.minimum(z0, far), np.maximum(z0, far)
    z = z0.copy()
    for _ in range(_SOLVER_STEPS):  # Newton, bisecting when a step leaves the bracket
        s = sigmoid(z)
        f = z - z0 - (y - s) * v  # increasing in z: f' = 1 + v s (1 - s)
        if np.abs(f).max() < 1e-12:
            break
        lo, hi = np.where(f < 0, z, lo), np.where(f > 0, z, hi)
        newton = z - f / (1.0 + v * s * (1.0 - s))
        z = np.where((newton > lo) & (newton < hi), newton, 0.5 * (lo + hi))
    s = sigmoid(z)
    mean[arms] = m + (w * (y - s))[:, None] * x[None, :] / q
    precision[arms] = q + x2[None, :] * (w * s * (1.0 - s))[:, None]

"""Relevance judged from logged clicks, for off-policy estimates of a plan's found-rate.

A target plan's found-rate is about relevance (EVALUATION.md: *found* = a relevant item among
the candidates), but a log holds clicks, and clicks are selective and noisy: a user acts on a
miss only by finding the item elsewhere, clicks some non-relevant results, and clicks the one
relevant result shown where the target may hold another. So ``ope_plans`` judges, per query,
which entities are relevant from every logged search of that query, with two standard pieces:

- **Examination by the cascade model** (Craswell et al., WSDM 2008): a user scans the page top
  down, so every result down to the first acted-on position was examined, and a page without
  an acted-on result was examined whole. Counting down to the *first* click, not the last,
  keeps each count unbiased: whether position ``j`` is reached with no click above it depends
  only on the results above ``j``, never on ``j``'s own relevance. (Down to the last click, a
  rarely shown result near the bottom is "examined" mostly when it is itself clicked.)
- **A two-class binomial mixture fitted by EM** (Dempster, Laird and Rubin 1977): each
  (query, entity) pair is relevant with prior ``prior``; an examined relevant entity is acted
  on with probability ``click_relevant``, any other with ``click_other`` (the click noise). A
  pair examined ``n`` times and acted on ``k`` times is relevant with posterior
  ``sigmoid(logit(prior) + k log(c1 / c0) + (n - k) log((1 - c1) / (1 - c0)))``. The noise
  rate is learned from the log itself: one click in one examination is strong evidence when
  users rarely click non-relevant results, weak when they often do.

An entity acted on without being shown (found elsewhere) is relevant with probability 1.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from ltrr.types import EntityId

FloatArray = npt.NDArray[np.float64]
#: Probabilities are kept inside (EPS, 1 - EPS) so that every log stays finite.
EPS = 1e-6


class ClickedSearch(Protocol):
    """What the click model reads from a logged search."""

    @property
    def shown(self) -> Sequence[EntityId]: ...

    @property
    def acted(self) -> Sequence[EntityId]: ...


@dataclass(frozen=True, slots=True)
class ClickFit:
    """The fitted mixture: relevant share of examined pairs and the two action rates."""

    prior: float
    click_relevant: float
    click_other: float
    n_pairs: int
    n_iterations: int


def examinations(
    searches: Sequence[ClickedSearch], groups: Sequence[int]
) -> tuple[list[tuple[int, EntityId]], FloatArray, FloatArray, list[set[EntityId]]]:
    """Per (group, entity) pair: examinations and actions; per group, entities found elsewhere.

    Returns ``(pairs, n_examined, n_acted, elsewhere)``, the arrays aligned with ``pairs``.
    """
    examined: Counter[tuple[int, EntityId]] = Counter()
    acted_on: Counter[tuple[int, EntityId]] = Counter()
    elsewhere: list[set[EntityId]] = [set() for _ in range(max(groups, default=-1) + 1)]
    for search, g in zip(searches, groups, strict=True):
        acted = set(search.acted)
        position = {e: j for j, e in enumerate(search.shown)}
        first = min((position[e] for e in acted if e in position), default=len(search.shown) - 1)
        for e in search.shown[: first + 1]:
            examined[g, e] += 1
            acted_on[g, e] += e in acted
        elsewhere[g].update(e for e in acted if e not in position)
    pairs = list(examined)
    n = np.array([examined[p] for p in pairs], dtype=np.float64)
    k = np.array([acted_on[p] for p in pairs], dtype=np.float64)
    return pairs, n, k, elsewhere


def posterior(n: FloatArray, k: FloatArray, prior: float, c1: float, c0: float) -> FloatArray:
    """P(relevant) of pairs examined ``n`` and acted on ``k`` times, under the mixture
    (``c1``, ``c0``: the action rates of relevant and other entities)."""
    logit = (
        np.log(prior / (1 - prior)) + k * np.log(c1 / c0) + (n - k) * np.log((1 - c1) / (1 - c0))
    )
    out: FloatArray = 1.0 / (1.0 + np.exp(-np.clip(logit, -500, 500)))
    return out


def _rate(weight: FloatArray, n_acted: FloatArray, n_examined: FloatArray) -> float:
    """The weighted action rate ``sum w k / sum w n``, kept inside (EPS, 1 - EPS)."""
    examined = max(float(weight @ n_examined), EPS)
    return min(max(float(weight @ n_acted) / examined, EPS), 1 - EPS)


def fit_mixture(
    n_examined: FloatArray, n_acted: FloatArray, max_iter: int = 500, tol: float = 1e-9
) -> tuple[FloatArray, ClickFit]:
    """EM for the two-class binomial mixture: (posterior per pair, fit).

    Starts from a relevant share of 0.1 with action rates 0.8 (relevant) and 0.1 (other), so
    the class with the higher rate stays the relevant one.
    """
    prior, c1, c0 = 0.1, 0.8, 0.1
    if len(n_examined) == 0:
        return np.zeros(0), ClickFit(prior, c1, c0, 0, 0)
    n_iterations = 0
    while n_iterations < max_iter:
        n_iterations += 1
        p = posterior(n_examined, n_acted, prior, c1, c0)
        new_prior = float(np.clip(p.mean(), EPS, 1 - EPS))
        new_c1 = _rate(p, n_acted, n_examined)
        new_c0 = _rate(1.0 - p, n_acted, n_examined)
        change = max(abs(new_prior - prior), abs(new_c1 - c1), abs(new_c0 - c0))
        prior, c1, c0 = new_prior, new_c1, new_c0
        if change < tol:
            break
    fitted = posterior(n_examined, n_acted, prior, c1, c0)
    return fitted, ClickFit(prior, c1, c0, len(n_examined), n_iterations)


def relevance(
    searches: Sequence[ClickedSearch], groups: Sequence[int], n_groups: int
) -> tuple[list[dict[EntityId, float]], ClickFit]:
    """Per group, ``{entity: P(relevant)}`` over the entities with evidence, and the fit."""
    pairs, n, k, elsewhere = examinations(searches, groups)
    fitted, fit = fit_mixture(n, k)
    out: list[dict[EntityId, float]] = [{} for _ in range(n_groups)]
    for (g, e), p in zip(pairs, fitted.tolist(), strict=True):
        out[g][e] = p
    for g, found in enumerate(elsewhere):
        out[g].update(dict.fromkeys(found, 1.0))
    return out, fit

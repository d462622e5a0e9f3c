"""Off-policy estimators (IPS, SNIPS, DR) and their use on ltrr's logged plans.

Written in the Open Bandit Pipeline's vocabulary (Saito et al., NeurIPS 2021 Datasets and
Benchmarks): ``n_rounds`` logged rounds, each with an ``action``, a ``position`` (slot), a
``reward`` and the logging policy's ``pscore`` = pi_b(a_i | x_i); the evaluation policy is an
``action_dist`` of shape (n_rounds, n_actions, len_list) holding pi_e(a | x_i, position).
With importance weights ``iw_i = pi_e(a_i | x_i) / pscore_i``:

- IPS (Horvitz and Thompson 1952): ``V = sum_i iw_i r_i / n``, unbiased when pscore > 0 wherever
  pi_e > 0;
- SNIPS (self-normalised; Swaminathan and Joachims 2015): ``V = sum_i iw_i r_i / sum_i iw_i``,
  slightly biased, far less variance when weights are large;
- DR (Dudik, Langford and Li 2011): ``V = sum_i [q_target_i + iw_i (r_i - q_logged_i)] / n``,
  where ``q_logged_i = q(x_i, a_i)`` and ``q_target_i = sum_a pi_e(a | x_i) q(x_i, a)`` come from
  a reward model ``q``; unbiased if either the model or the pscores are right.

Each estimate carries a percentile bootstrap interval (rounds resampled with replacement, or
whole clusters of rounds when ``groups`` are given; the reward model is held fixed, the usual
approximation, unless the caller replicates the whole fit per resample) and Kish's
effective sample size ``(sum iw)^2 / sum iw^2``: how many on-policy rounds the weighted log is
worth.

``ope.reward_model`` holds DR's cross-fitted reward model; ``ope.plans`` applies the
estimators to ltrr's logged plans (DESIGN.md, "Off-policy estimates for plans").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from ltrr.config import Config
from ltrr.errors import ConfigError, LtrrError

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ESTIMATORS = ("ips", "snips", "dr")
#: What a logged search's outcome is for a target plan (``ope.plans.plan_ope``).
OUTCOMES = ("relevant", "wanted")
#: What the bootstrap resamples in ``plan_ope``: single searches or whole queries (clusters).
BOOTSTRAP_UNITS = ("search", "query")
#: Resampled entries held in memory at once by the bootstrap (count matrices of 8 bytes each).
_BOOTSTRAP_CELLS = 2_000_000


class OpeError(LtrrError, ValueError):
    """Logged data that an off-policy estimator cannot use; the message names the bad value."""


@dataclass(frozen=True, slots=True)
class OpeParams:
    """``[ope]``: bootstrap size, interval level, seed, the DR reward model's settings, and
    what a logged search's outcome is for a target plan (``ope.plans``)."""

    n_bootstrap: int = 1000
    alpha: float = 0.05
    seed: int = 0
    n_folds: int = 2
    prior_weight: float = 10.0
    outcome: str = "relevant"
    relevance_threshold: float = 0.5
    bootstrap_unit: str = "search"

    def __post_init__(self) -> None:
        if self.n_bootstrap < 2:
            raise ConfigError(f"ope.n_bootstrap must be >= 2, got {self.n_bootstrap}")
        if not 0.0 < self.alpha < 1.0:
            raise ConfigError(f"ope.alpha must be in (0, 1), got {self.alpha}")
        if self.n_folds < 1:
            raise ConfigError(f"ope.n_folds must be >= 1, got {self.n_folds}")
        if self.prior_weight < 0:
            raise ConfigError(f"ope.prior_weight must be >= 0, got {self.prior_weight}")
        if self.outcome not in OUTCOMES:
            raise ConfigError(
                f"ope.outcome must be one of {', '.join(OUTCOMES)}, got {self.outcome!r}"
            )
        if not 0.0 <= self.relevance_threshold < 1.0:
            raise ConfigError(
                f"ope.relevance_threshold must be in [0, 1), got {self.relevance_threshold}"
            )
        if self.bootstrap_unit not in BOOTSTRAP_UNITS:
            raise ConfigError(
                f"ope.bootstrap_unit must be one of {', '.join(BOOTSTRAP_UNITS)}, "
                f"got {self.bootstrap_unit!r}"
            )


def ope_params(config: Config) -> OpeParams:
    """The ``[ope]`` section, or the defaults while the section is absent from the settings."""
    try:
        config.section("ope")
    except ConfigError:
        return OpeParams()
    return config.params("ope", OpeParams)


@dataclass(frozen=True, slots=True)
class Estimate:
    """One estimator's policy value with its ``1 - alpha`` bootstrap interval ``[low, high]``."""

    estimator: str
    value: float
    low: float
    high: float
    se: float
    ess: float
    n_rounds: int

    def to_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


def effective_sample_size(iw: npt.ArrayLike) -> float:
    """Kish's effective sample size of importance weights ``iw`` (n_rounds,); 0 if all are 0."""
    w = np.asarray(iw, dtype=np.float64)
    square = float(np.dot(w, w))
    return float(w.sum()) ** 2 / square if square > 0 else 0.0


def bootstrap_ratios(
    numerator: FloatArray, denominator: FloatArray, n_bootstrap: int, seed: int
) -> FloatArray:
    """``sum(numerator) / sum(denominator)`` over ``n_bootstrap`` resamples of the rows.

    Both arrays are (n_rounds, n_statistics); every statistic sees the same resamples, so
    differences between estimators are paired. Returns (n_bootstrap, n_statistics), NaN where
    a resample's denominator is 0. Resamples are drawn as index matrices and turned into count
    matrices, so each chunk costs one matrix product.
    """
    rng = np.random.default_rng(seed)
    n_rounds = numerator.shape[0]
    both = np.concatenate([numerator, denominator], axis=1)
    out = np.empty((n_bootstrap, numerator.shape[1]))
    chunk = max(1, _BOOTSTRAP_CELLS // n_rounds)
    for start in range(0, n_bootstrap, chunk):
        size = min(chunk, n_bootstrap - start)
        idx = rng.integers(0, n_rounds, size=(size, n_rounds))
        idx += np.arange(size)[:, None] * n_rounds
        counts = np.bincount(idx.ravel(), minlength=size * n_rounds).reshape(size, n_rounds)
        sums = counts.astype(np.float64) @ both
        k = numerator.shape[1]
        with np.errstate(divide="ignore", invalid="ignore"):
            out[start : start + size] = sums[:, :k] / sums[:, k:]
    return out


#: One bootstrap replicate of every estimate (IPS, SNIPS[, DR]), (k,), from a generator. For
#: estimates whose rewards are themselves fitted to the log (``ope.plans``: a click model's
#: relevance judgements), the caller resamples the log and refits everything in each replicate.
Replicate = Callable[[np.random.Generator], FloatArray]


class BootstrapRunner(Protocol):
    """Runs replicates ``0 .. n_bootstrap - 1`` of ``replicate`` and returns their rows in that
    order, (n_bootstrap, k): in this process (``run_replicates``) or spread over workers
    (``ope.on_ray``). Replicate ``j`` draws from ``replicate_rng(seed, j)`` wherever it runs,
    so every runner returns the same rows."""

    def __call__(self, replicate: Replicate, seed: int, n_bootstrap: int) -> FloatArray: ...


def replicate_rng(seed: int, j: int) -> np.random.Generator:
    """Replicate ``j``'s own generator: the ``j``-th child of ``seed``'s ``SeedSequence``
    (``SeedSequence.spawn`` gives the same children), independent of the others and of which
    process or chunk runs it, so the replicates can be split in any way."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(j,)))


def replicate_range(replicate: Replicate, seed: int, start: int, stop: int) -> FloatArray:
    """Rows ``start .. stop - 1`` of the bootstrap: one chunk of a runner's work, (n, k)."""
    return np.stack([replicate(replicate_rng(seed, j)) for j in range(start, stop)])


def run_replicates(replicate: Replicate, seed: int, n_bootstrap: int) -> FloatArray:
    """Every replicate, one after the other, in this process."""
    return replicate_range(replicate, seed, 0, n_bootstrap)


def resample_counts(rng: np.random.Generator, units: IntArray, n_units: int) -> FloatArray:
    """Per round, how often a bootstrap resample of the ``n_units`` units (rounds, or clusters
    of rounds) drew its unit ``units[i]``."""
    picks = np.bincount(rng.integers(0, n_units, n_units), minlength=n_units)
    out: FloatArray = picks[units].astype(np.float64)
    return out


def ratio_estimates(
    r: FloatArray,
    w: FloatArray,
    q: tuple[FloatArray, FloatArray] | None = None,
    counts: FloatArray | None = None,
) -> FloatArray:
    """IPS, SNIPS (and DR, given q) of rounds repeated ``counts`` times (``None``: once), (k,);
    NaN where a denominator is 0.

    The sums are ``einsum``'s, not BLAS's (``@``), whose order of addition depends on its
    thread count: a bootstrap replicate gives the same bits in a one-thread Ray worker as in
    the driver."""
    num, den = _ratio_columns(r, w, q)
    c = np.ones(len(r)) if counts is None else counts
    with np.errstate(divide="ignore", invalid="ignore"):
        out: FloatArray = np.einsum("i,ij->j", c, num) / np.einsum("i,ij->j", c, den)
    return out


def estimate_from_weights(
    reward: npt.ArrayLike,
    iw: npt.ArrayLike,
    q_logged: npt.ArrayLike | None = None,
    q_target: npt.ArrayLike | None = None,
    params: OpeParams | None = None,
    groups: npt.ArrayLike | None = None,
    replicate: Replicate | None = None,
    runner: BootstrapRunner = run_replicates,
) -> dict[str, Estimate]:
    """IPS, SNIPS and (given a reward model) DR from importance weights, sharing one bootstrap.

    Parameters
    ----------
    reward
        (n_rounds,) observed rewards r_i.
    iw
        (n_rounds,) importance weights pi_e(a_i | x_i) / pi_b(a_i | x_i), >= 0.
    q_logged, q_target
        (n_rounds,) reward-model predictions q(x_i, a_i) and E_{a ~ pi_e}[q(x_i, a)]; DR is
        returned only when both are given.
    groups
        (n_rounds,) cluster ids >= 0: the bootstrap resamples whole clusters, for inference
        about a population of clusters rather than about the logged ones; ``None`` resamples
        rounds.
    replicate
        When the rewards are themselves estimates fitted to the same log (a click model's
        posterior), one bootstrap replicate of the whole procedure: the interval then carries
        the fit's uncertainty as well as the rounds', and ``groups`` is not used (the
        replicate resamples itself).
    runner
        Where ``replicate``'s bootstrap runs: in this process by default, or on Ray; every
        runner gives the same replicates (``replicate_rng``).
    """
    params = params or OpeParams()
    r = as_rounds(reward, "reward")
    w = as_rounds(iw, "iw", len(r))
    if (w < 0).any():
        raise OpeError(f"iw must be >= 0, got {w[w < 0][0]} at round {int(np.argmax(w < 0))}")
    if (q_logged is None) != (q_target is None):
        raise OpeError("DR needs both q_logged and q_target, got only one")
    q = None
    if q_logged is not None and q_target is not None:
        q = (as_rounds(q_logged, "q_logged", len(r)), as_rounds(q_target, "q_target", len(r)))
    names = ["ips", "snips", "dr"] if q is not None else ["ips", "snips"]
    num, den = _ratio_columns(r, w, q)
    g = None if groups is None else as_indices(groups, "groups", len(r), np.iinfo(np.int64).max)
    ess = effective_sample_size(w)
    if replicate is not None:
        boot = runner(replicate, params.seed, params.n_bootstrap)
        return _summarise(names, num, den, ess, len(r), params, boot)
    if g is not None:
        num, den = _cluster_sums(num, g), _cluster_sums(den, g)
    return _summarise(names, num, den, ess, len(r), params)


def _ratio_columns(
    r: FloatArray, w: FloatArray, q: tuple[FloatArray, FloatArray] | None
) -> tuple[FloatArray, FloatArray]:
    """Per round, the numerator and denominator terms of IPS, SNIPS (and DR): (n_rounds, k)."""
    ones = np.ones_like(r)
    numerators, denominators = [w * r, w * r], [ones, w]
    if q is not None:
        ql, qt = q
        numerators.append(qt + w * (r - ql))
        denominators.append(ones)
    return np.stack(numerators, axis=1), np.stack(denominators, axis=1)


def _cluster_sums(rows: FloatArray, groups: IntArray) -> FloatArray:
    """Per cluster, the sum of its rows: (n_clusters_seen, n_columns), empty clusters dropped.

    Every estimate is a ratio of sums, so summing within clusters first changes no estimate,
    and resampling these rows is the cluster bootstrap.
    """
    _, codes = np.unique(groups, return_inverse=True)
    out = np.zeros((int(codes.max()) + 1 if len(codes) else 0, rows.shape[1]))
    np.add.at(out, codes, rows)
    return out


def _summarise(
    names: Sequence[str],
    num: FloatArray,
    den: FloatArray,
    ess: float,
    n_rounds: int,
    params: OpeParams,
    boot: FloatArray | None = None,
) -> dict[str, Estimate]:
    totals = den.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = num.sum(axis=0) / totals
    if boot is None:
        boot = bootstrap_ratios(num, den, params.n_bootstrap, params.seed)
    out: dict[str, Estimate] = {}
    for j, name in enumerate(names):
        column = boot[:, j][np.isfinite(boot[:, j])]
        if totals[j] == 0 or len(column) < 2:
            logger.warning("%s is undefined: no round has a positive weight", name)
            low = high = se = float("nan")
        else:
            low, high = np.quantile(column, [params.alpha / 2, 1 - params.alpha / 2]).tolist()
            se = float(column.std(ddof=1))
        out[name] = Estimate(name, float(values[j]), low, high, se, ess, n_rounds)
    return out


def as_rounds(values: npt.ArrayLike, name: str, n_rounds: int | None = None) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise OpeError(f"{name} must have shape (n_rounds,), got {array.shape}")
    if n_rounds is None and len(array) == 0:
        raise OpeError(f"{name} is empty: n_rounds must be >= 1")
    if n_rounds is not None and len(array) != n_rounds:
        raise OpeError(f"{name} has {len(array)} rounds, expected n_rounds = {n_rounds}")
    if not np.isfinite(array).all():
        bad = int(np.argmax(~np.isfinite(array)))
        raise OpeError(f"{name} must be finite, got {array[bad]} at round {bad}")
    return array


def _logged_columns(
    action: npt.ArrayLike,
    pscore: npt.ArrayLike,
    action_dist: npt.ArrayLike,
    position: npt.ArrayLike | None,
    n_rounds: int,
) -> tuple[IntArray, FloatArray, FloatArray, IntArray]:
    """Validated (action, pscore, action_dist, position) in the shapes the estimators use."""
    dist = np.asarray(action_dist, dtype=np.float64)
    if dist.ndim != 3 or dist.shape[0] != n_rounds:
        raise OpeError(
            f"action_dist must have shape (n_rounds={n_rounds}, n_actions, len_list), "
            f"got {dist.shape}"
        )
    n_actions, len_list = dist.shape[1:]
    a = as_indices(action, "action", n_rounds, n_actions)
    pos = (
        np.zeros(n_rounds, dtype=np.int64)
        if position is None
        else as_indices(position, "position", n_rounds, len_list)
    )
    p = as_rounds(pscore, "pscore", n_rounds)
    if ((p <= 0) | (p > 1)).any():
        bad = int(np.argmax((p <= 0) | (p > 1)))
        raise OpeError(f"pscore must be in (0, 1], got {p[bad]} at round {bad}")
    sums = dist[np.arange(n_rounds), :, pos].sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-6):
        bad = int(np.argmax(~np.isclose(sums, 1.0, atol=1e-6)))
        raise OpeError(
            f"action_dist must sum to 1 over actions, got {sums[bad]:.6g} at round {bad}"
        )
    return a, p, dist, pos


def as_indices(values: npt.ArrayLike, name: str, n_rounds: int, bound: int) -> IntArray:
    array = np.asarray(values)
    if array.shape != (n_rounds,) or not np.issubdtype(array.dtype, np.integer):
        raise OpeError(
            f"{name} must be integers of shape (n_rounds={n_rounds},), "
            f"got {array.dtype} {array.shape}"
        )
    if len(array) and (array.min() < 0 or array.max() >= bound):
        bad = int(np.argmax((array < 0) | (array >= bound)))
        raise OpeError(f"{name} must be in [0, {bound}), got {array[bad]} at round {bad}")
    return array.astype(np.int64)


def estimate_policy_value(
    reward: npt.ArrayLike,
    action: npt.ArrayLike,
    pscore: npt.ArrayLike,
    action_dist: npt.ArrayLike,
    estimated_rewards_by_reg_model: npt.ArrayLike | None = None,
    position: npt.ArrayLike | None = None,
    params: OpeParams | None = None,
) -> dict[str, Estimate]:
    """IPS, SNIPS and DR of the evaluation policy ``action_dist``, as in OBP.

    Parameters
    ----------
    reward, action, pscore
        (n_rounds,) logged rewards, actions in ``[0, n_actions)`` and logging propensities.
    action_dist
        (n_rounds, n_actions, len_list) pi_e(a | x_i, position); may be a broadcast view.
    estimated_rewards_by_reg_model
        (n_rounds, n_actions, len_list) q(x_i, a, position); without it DR is left out.
    position
        (n_rounds,) slots in ``[0, len_list)``; ``None`` means every round is slot 0.
    """
    r = as_rounds(reward, "reward")
    a, p, dist, pos = _logged_columns(action, pscore, action_dist, position, len(r))
    rows = np.arange(len(r))
    iw = dist[rows, a, pos] / p
    if estimated_rewards_by_reg_model is None:
        return estimate_from_weights(r, iw, params=params)
    q = np.asarray(estimated_rewards_by_reg_model, dtype=np.float64)
    if q.shape != dist.shape:
        raise OpeError(
            f"estimated_rewards_by_reg_model must have the shape of action_dist {dist.shape}, "
            f"got {q.shape}"
        )
    q_at_position = q[rows, :, pos]
    q_target = (dist[rows, :, pos] * q_at_position).sum(axis=1)
    return estimate_from_weights(r, iw, q_at_position[rows, a], q_target, params)

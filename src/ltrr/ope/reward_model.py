"""DR's reward model: per-cell mean rewards, shrunk toward a prior and cross-fitted.

Doubly robust estimation is unbiased if either the pscores or the reward model is right; a
model fitted on the very rounds it corrects overfits their noise and leaks it into the
estimate. Cross-fitting (Chernozhukov et al. 2018) fits the model of each round on the other
folds, and shrinkage keeps thin cells near their prior instead of at 0/0.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ltrr.ope.estimators import FloatArray, IntArray, OpeParams, as_indices, as_rounds


def fold_ids(n_rounds: int, n_folds: int, seed: int) -> IntArray:
    """A seeded assignment of rounds to ``n_folds`` cross-fitting folds of near-equal size."""
    rng = np.random.default_rng(seed)
    return (rng.permutation(n_rounds) % n_folds).astype(np.int64)


def shrunk_means(
    keys: IntArray, reward: FloatArray, n_keys: int, prior: FloatArray | float, weight: float
) -> FloatArray:
    """Per-key mean reward, shrunk toward ``prior`` by ``weight`` pseudo-rounds: (n_keys,).

    ``(sum_{i: key_i = k} r_i + weight * prior_k) / (n_k + weight)``; a key never seen gets
    its prior. This is the reward model of DR: simple, and honest with cross-fitting.
    """
    sums = np.bincount(keys, weights=reward, minlength=n_keys)
    counts = np.bincount(keys, minlength=n_keys).astype(np.float64)
    prior_k = np.broadcast_to(np.asarray(prior, dtype=np.float64), (n_keys,))
    with np.errstate(divide="ignore", invalid="ignore"):
        means = (sums + weight * prior_k) / (counts + weight)
    return np.where(counts + weight > 0, means, prior_k)


def cross_fit_action_means(
    action: npt.ArrayLike,
    position: npt.ArrayLike,
    reward: npt.ArrayLike,
    n_actions: int,
    len_list: int,
    params: OpeParams | None = None,
) -> FloatArray:
    """``estimated_rewards_by_reg_model`` (n_rounds, n_actions, len_list) from per-cell means.

    The model of round i is fit on the other folds: per (action, position) mean reward shrunk
    toward that position's mean by ``prior_weight`` pseudo-rounds. With ``n_folds = 1`` it is
    fit and used on all rounds.
    """
    params = params or OpeParams()
    r = as_rounds(reward, "reward")
    a = as_indices(action, "action", len(r), n_actions)
    pos = as_indices(position, "position", len(r), len_list)
    folds = fold_ids(len(r), params.n_folds, params.seed)
    tables = np.empty((params.n_folds, n_actions, len_list))
    for k in range(params.n_folds):
        train = folds != k
        if not train.any():  # one fold, or fewer rounds than folds: fit in-sample
            train = np.ones(len(r), dtype=bool)
        # each slot's rate, kept off 0/0 by one pseudo-round at the overall rate
        prior = shrunk_means(pos[train], r[train], len_list, float(r[train].mean()), 1.0)
        cells = shrunk_means(
            a[train] * len_list + pos[train],
            r[train],
            n_actions * len_list,
            np.tile(prior, n_actions),
            params.prior_weight,
        )
        tables[k] = cells.reshape(n_actions, len_list)
    return tables[folds]

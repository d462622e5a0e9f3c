"""The compiled refit loop against the plain numpy statement of the same objective: the mean
DCG gain of the wanted item, ties counted against it, 0 beyond the cut-off or when unshown."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ltrr.rank.fusion_kernel import grid_gains


def _numpy_gain(
    contrib: np.ndarray, starts: np.ndarray, wanted: np.ndarray, w: np.ndarray, j: int, cutoff: int
) -> float:
    """The objective in numpy, summing each row's votes in the kernel's order (``w[j]`` last)
    so that float ties are the same ties."""
    example = np.repeat(np.arange(len(wanted)), np.diff(starts))
    score = np.zeros(len(contrib))
    for s in range(contrib.shape[1]):
        if s != j:
            score += contrib[:, s] * w[s]
    score = score + contrib[:, j] * w[j]
    found = wanted >= 0
    target = np.where(found, score[np.maximum(wanted, 0)], np.inf)
    rank = np.bincount(example, weights=score >= target[example], minlength=len(wanted))
    rank = np.where(found & (target > 0), rank, np.inf)
    return float(np.where(rank <= cutoff, 1.0 / np.log2(1.0 + rank), 0.0).mean())


def _table(rng: np.random.Generator, n_examples: int, n_strategies: int):  # type: ignore[no-untyped-def]
    sizes = rng.integers(1, 40, n_examples)
    starts = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
    # votes 1 / (60 + r) for small ranks, many zeros and many exact ties, as real lists give
    ranks = rng.integers(1, 12, (int(starts[-1]), n_strategies))
    contrib = np.where(rng.random(ranks.shape) < 0.5, 1.0 / (60.0 + ranks), 0.0)
    wanted = np.array(
        [
            rng.integers(lo, hi) - lo if rng.random() < 0.8 else -1
            for lo, hi in itertools.pairwise(starts)
        ],
        dtype=np.int64,
    )
    return contrib, starts, np.where(wanted >= 0, starts[:-1] + wanted, -1)


@pytest.mark.parametrize("seed", range(5))
def test_every_grid_value_scores_as_the_numpy_objective(seed: int) -> None:
    rng = np.random.default_rng(seed)
    contrib, starts, wanted = _table(rng, 300, 4)
    grid = np.array([0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0])
    w = rng.choice(grid, 4)
    for j in range(4):
        got = grid_gains(contrib, starts, wanted, w, j, grid, 10)
        for g, value in enumerate(grid):
            trial = w.copy()
            trial[j] = value
            assert got[g] == pytest.approx(
                _numpy_gain(contrib, starts, wanted, trial, j, 10), abs=1e-12
            )


def test_ties_count_against_the_wanted_item_and_unshown_items_gain_nothing() -> None:
    contrib = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    starts = np.array([0, 2, 4], dtype=np.int64)
    wanted = np.array([1, 3], dtype=np.int64)  # each tied with the row above it
    gains = grid_gains(contrib, starts, wanted, np.array([1.0, 1.0]), 1, np.array([0.0, 1.0]), 10)
    # w[1] = 0: the second example's wanted item scores 0 (not shown): gain 0; first: rank 2
    assert gains[0] == pytest.approx((1.0 / np.log2(3.0)) / 2)
    assert gains[1] == pytest.approx(1.0 / np.log2(3.0))

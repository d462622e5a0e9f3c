"""The union model and the greedy plan: hand-computed values and known best allocations."""

from __future__ import annotations

import numpy as np
import pytest

from ltrr.select.overlap import Overlap, OverlapState, allocate, union_miss

GRID = np.array([10, 25, 50, 100, 200])


def _levels(*rows: list[int]) -> np.ndarray:
    return np.array(rows, dtype=np.int64)


def test_union_miss_by_hand() -> None:
    p = np.array([[0.5], [0.5], [0.8]])  # three strategies, one depth
    plans = _levels([0, 0, -1], [-1, -1, 0], [-1, -1, -1])
    assert union_miss(p, plans, Overlap.independent(3)).tolist() == pytest.approx([0.25, 0.2, 1])
    redundant = Overlap.independent(3, np.zeros((3, 3)))  # finds nothing another one missed
    assert union_miss(p, plans, redundant).tolist() == pytest.approx([0.5, 0.2, 1.0])
    half = Overlap.independent(3, np.full((3, 3), 0.5))  # P(finds | other missed) = 0.5 * 0.5
    assert union_miss(p, plans, half)[0] == pytest.approx(0.5 * (1 - 0.25))
    # three strategies: the third's lift is the product of its lifts with the first two
    assert union_miss(p, _levels([0, 0, 0]), half)[0] == pytest.approx(0.2 * 0.75 * 0.875)


def test_window_sees_what_pairs_cannot() -> None:
    """C finds half of what A alone or B alone misses, but nothing that both miss."""
    state = OverlapState.empty(3, 1, window=256)
    rows = [(False, True, True), (True, False, True), (False, False, False), (True, True, True)]
    for i in range(200):
        a, b, c = rows[i % 4]
        state.add(i, np.ones(3, dtype=bool), np.array([a, b, c]))
    view = state.view(strength=1.0)
    pair_c_after_a = view.lift(_levels([0]), np.array([2]))[0]
    both = view.lift(_levels([0, 1]), np.array([2]))[0]
    p_c = 151 / 202  # C's find rate in the window, (150 + 1) / (200 + 2)
    pooled = (50 + 1) / (100 * p_c + 1)  # O/E after A missed, pseudo-count 1, one depth
    pair = (50 + pooled) / (100 * p_c + 1)
    assert view.pair[0, 2] == pytest.approx(pair)
    assert pair_c_after_a == pytest.approx((50 + pair) / (100 * p_c + 1))
    assert both == pytest.approx((0 + pair * pair) / (50 * p_c + 1))  # about 0.01


def test_window_is_a_ring() -> None:
    state = OverlapState.empty(2, 1, window=64)
    for i in range(64):
        state.add(i, np.ones(2, dtype=bool), np.array([False, True]))
    for i in range(64, 128):  # overwrites every row
        state.add(i, np.ones(2, dtype=bool), np.array([False, False]))
    view = state.view(strength=1.0)
    assert np.bitwise_count(view.found).sum() == 0
    assert np.bitwise_count(view.seen).sum() == 128
    assert state.co_seen[0, 1] == 128  # pair counts keep the whole history


def test_allocate_takes_a_deep_arm_whose_gain_comes_late() -> None:
    p = np.array([[0.30, 0.31, 0.32, 0.33, 0.34], [0.01, 0.02, 0.95, 0.96, 0.97]])
    free = Overlap.independent(10)
    levels = allocate(p, free, GRID, 50, 0.0, np.zeros(2))
    assert levels.tolist() == [-1, 2]  # B@50, though A@10 has the best gain per candidate
    assert allocate(p, free, GRID, 60, 0.0, np.zeros(2)).tolist() == [0, 2]


def test_allocate_respects_budget_gain_and_latency() -> None:
    p = np.tile(np.array([0.2, 0.4, 0.6, 0.8, 0.9]), (3, 1))
    free = Overlap.independent(15)
    for budget in (10, 35, 100, 200, 600):
        levels = allocate(p, free, GRID, budget, 0.0, np.zeros(3))
        assert GRID[levels[levels >= 0]].sum() <= budget
    tiny = allocate(p, free, GRID, 3, 0.0, np.zeros(3))  # below the smallest depth: one arm
    assert sorted(tiny.tolist()) == [-1, -1, 0]
    stingy = allocate(p, free, GRID, 600, 0.05, np.zeros(3))
    assert (stingy >= 0).sum() == 1  # further candidates are not worth 0.05 each
    slow = allocate(p, free, GRID, 600, 0.0, np.array([0.0, 1.0, 1.0]))
    assert slow.tolist()[1:] == [-1, -1]  # switching on a slow strategy costs more than it adds


def test_allocate_skips_a_redundant_strategy() -> None:
    """B is as good as A alone but finds nothing A misses; C is weaker but independent."""
    p = np.array([[0.8] * 5, [0.8] * 5, [0.5] * 5])
    pair = np.ones((15, 15))
    pair[0:5, 5:10] = pair[5:10, 0:5] = 0.0
    levels = allocate(p, Overlap.independent(15, pair), GRID, 20, 0.0, np.zeros(3))
    assert levels.tolist() == [0, -1, 0]

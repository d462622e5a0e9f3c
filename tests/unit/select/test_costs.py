"""Plans priced in milliseconds: the cost table, the allocation under a price and a time
budget, and the policy learning each arm's cost from the costs its feedback carries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ltrr.select import SelectParams
from ltrr.select.bandit import BanditParams, BanditPolicy
from ltrr.select.base import PlanFeedback, PlanRequest
from ltrr.select.costs import CostTable
from ltrr.select.overlap import Overlap, allocate
from ltrr.types import Context
from ltrr.understand.base import plain_query

GRID = np.array([10, 25, 50, 100, 200])


def test_the_table_is_a_moving_mean_filled_from_the_nearest_measured_depth() -> None:
    table = CostTable(("lexical", "dense", "fuzzy"), GRID, np.array([0.0, 2.0, 0.0]), window=4)
    assert table.estimate()[1].tolist() == [2.0] * 5  # the prior until measured
    for ms in (1.0, 3.0):
        table.observe({"lexical": 25, "dense": 0}, {"lexical": ms, "dense": 9.0})
    assert table.estimate()[0].tolist() == [2.0] * 5  # plain mean, every depth from 25's
    assert table.estimate()[1].tolist() == [2.0] * 5  # dense did not run (depth 0)
    table.observe({"lexical": 150}, {"lexical": 6.0})  # off the grid: counts for 200
    assert table.estimate()[0].tolist() == [2.0, 2.0, 2.0, 6.0, 6.0]  # nearest depth
    for _ in range(40):  # the machine got slower: the window forgets the old cost
        table.observe({"lexical": 25}, {"lexical": 5.0})
    assert table.estimate()[0, 1] == pytest.approx(5.0, abs=0.01)
    table.observe({"lexical": 25, "nope": 10}, {"lexical": float("nan"), "nope": 1.0})
    assert table.estimate()[0, 1] == pytest.approx(5.0, abs=0.01)  # NaN, unknown: ignored
    again = CostTable(("lexical", "dense", "fuzzy"), GRID, np.array([0.0, 2.0, 0.0]), window=4)
    again.restore(table.arrays())
    np.testing.assert_array_equal(again.estimate(), table.estimate())
    assert again.to_dict()["lexical"]["200"] == 6.0


def test_a_priced_arm_runs_only_when_its_gain_is_worth_its_time() -> None:
    p = np.array([[0.9] * 5, [0.9] * 5])  # two strategies, each finds 0.9, independently
    free = Overlap.independent(10)
    ms = np.array([[0.2] * 5, [20.0] * 5])
    assert allocate(p, free, GRID, 50, 0.0, ms * 0.0, ms=ms).tolist() == [0, 0]
    priced = allocate(p, free, GRID, 50, 0.0, ms * 0.01, ms=ms)  # dense adds 0.09 < 0.2
    assert priced.tolist() == [0, -1]
    slow = allocate(p, free, GRID, 50, 0.0, ms[::-1] * 0.01, ms=ms[::-1])
    assert slow.tolist() == [-1, 0]  # the other way round when the other is the slow one
    capped = allocate(p, free, GRID, 50, 0.0, ms * 0.0, ms=ms, budget_ms=5.0)
    assert capped.tolist() == [0, -1]  # a time budget excludes the slow arm, free or not


def _request(i: int) -> PlanRequest:
    return PlanRequest(f"r{i}", plain_query(f"query {i}"), Context(), 50)


def _train(weight: float, dense_ms: float, n: int = 600) -> BanditPolicy:
    """Lexical and dense each find the wanted item in their top 10 with 0.9, independently;
    lexical takes 0.2 ms, dense ``dense_ms``: the costs come with the feedback."""
    policy = BanditPolicy(
        SelectParams(strategies=("lexical", "dense"), depths=tuple(GRID.tolist()), budget=50),
        BanditParams(greedy="mean", anchors=(), latency_weight=weight, cost_window=100),
    )
    rng = np.random.default_rng(3)
    for i in range(n):
        request = _request(i)
        plan = policy.plan(request)
        found = rng.random(2) < 0.9
        ranks = {s: (3 if f and plan.depths.get(s, 0) >= 10 else None)
                 for s, f in zip(("lexical", "dense"), found, strict=True)}  # fmt: skip
        cost = {"lexical": 0.2, "dense": dense_ms}
        cost = {s: ms for s, ms in cost.items() if plan.depths.get(s, 0) > 0}
        policy.update(PlanFeedback(request, plan, ranks, cost_ms=cost))
    return policy


def test_the_policy_stops_paying_for_a_slow_strategy_that_adds_too_little() -> None:
    priced = _train(0.01, dense_ms=20.0)
    assert priced.cost_ms()["dense"]["10"] == pytest.approx(20.0)
    plans = [priced.plan(_request(10_000 + i)).greedy for i in range(20)]
    assert all(p["dense"] == 0 and p["lexical"] > 0 for p in plans), plans
    free = _train(0.0, dense_ms=20.0)
    plans = [free.plan(_request(10_000 + i)).greedy for i in range(20)]
    assert all(p["dense"] > 0 and p["lexical"] > 0 for p in plans), plans
    cheap = _train(0.01, dense_ms=0.5)  # the same gain, worth half a millisecond
    plans = [cheap.plan(_request(10_000 + i)).greedy for i in range(20)]
    assert all(p["dense"] > 0 for p in plans), plans


def test_learned_costs_are_saved_and_loaded(tmp_path: Path) -> None:
    policy = _train(0.01, dense_ms=20.0, n=50)
    policy.save(tmp_path / "policy")
    loaded = BanditPolicy.load(tmp_path / "policy")
    assert loaded.cost_ms() == policy.cost_ms()

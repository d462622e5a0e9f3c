"""Candidates priced by what each arm returns: the length table, the allocation charging
measured lengths, and the policy learning them from the lists its feedback carries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ltrr.config import load_config
from ltrr.learn.learner import Served, lesson_of
from ltrr.log.events import Action
from ltrr.select import SelectParams, load_policy, make_policy
from ltrr.select.bandit import BanditParams, BanditPolicy
from ltrr.select.base import Plan, PlanFeedback, PlanRequest
from ltrr.select.lengths import LengthTable
from ltrr.select.overlap import Overlap, allocate
from ltrr.select.release import candidates
from ltrr.types import Context, EntityId
from ltrr.understand.base import plain_query

GRID = np.array([10, 25, 50, 100, 200])
STRATEGIES = ("lexical", "memory")


def test_unmeasured_arms_cost_their_depth_and_measured_ones_bound_the_rest() -> None:
    table = LengthTable(STRATEGIES, GRID, window=100)
    assert table.estimate().tolist() == [[10.0, 25.0, 50.0, 100.0, 200.0]] * 2  # the prior
    for n in (1, 3):  # memory@10 returned 1 id, then 3: mean 2
        table.observe({"lexical": 10, "memory": 10}, {"lexical": 10, "memory": n})
    assert table.estimate()[0].tolist() == [10.0, 25.0, 50.0, 100.0, 200.0]  # full lists
    # memory: 2 at 10; deeper at most 2 more per extra rank: 2 + 15, 2 + 40, ...
    assert table.estimate()[1].tolist() == [2.0, 17.0, 42.0, 92.0, 192.0]
    table.observe({"memory": 100}, {"memory": 4})  # at 100 it returned 4: bounds 25 and 50
    assert table.estimate()[1].tolist() == [2.0, 4.0, 4.0, 4.0, 104.0]
    table.observe({"memory": 25, "nope": 10}, {"memory": 1, "nope": 3})  # fewer than at 10
    assert table.estimate()[1].tolist() == [2.0, 2.0, 4.0, 4.0, 104.0]  # never decreasing
    table.observe({"lexical": 0}, {"lexical": 0})  # did not run: nothing learned
    assert table.count()[0].tolist() == [2.0, 0.0, 0.0, 0.0, 0.0]
    assert table.estimate(seen=True)[1].tolist() == [10.0, 25.0, 50.0, 100.0, 200.0]


def test_queries_seen_before_and_new_queries_have_their_own_lengths() -> None:
    """The memory index returns the few entities it learned for a repeated query and a long
    list of cold-start guesses for a new one."""
    table = LengthTable(STRATEGIES, GRID, window=100)
    for _ in range(9):  # mostly repeated traffic
        table.observe({"memory": 200}, {"memory": 2}, seen=True)
    table.observe({"memory": 200}, {"memory": 180}, seen=False)
    assert table.estimate(seen=True)[1, 4] == 2.0
    assert table.estimate(seen=False)[1, 4] == 180.0
    again = LengthTable(STRATEGIES, GRID, window=100)
    again.restore(table.arrays())
    assert again.to_dict(seen=True) == table.to_dict(seen=True)
    assert again.to_dict(seen=False) == table.to_dict(seen=False) != table.to_dict(seen=True)


def test_the_allocation_charges_measured_lengths_in_the_budget_and_the_price() -> None:
    p = np.array([[0.6] * 5, [0.5] * 5])  # lexical finds 0.6 at every depth, memory 0.5
    free = Overlap.independent(10)
    start = np.array([0, -1])  # lexical forced at 10
    by_depth = allocate(p, free, GRID, 15, 0.0, np.zeros(2), start=start)
    assert by_depth.tolist() == [0, -1]  # memory@10 would make 20 > 15 candidates
    size = np.array([GRID * 1.0, [2.0, 2.0, 2.0, 2.0, 2.0]])
    by_length = allocate(p, free, GRID, 15, 0.0, np.zeros(2), start=start, size=size)
    assert by_length.tolist()[0] == 0 and by_length[1] >= 0  # 12 candidates: it fits
    stingy = 0.5 * 0.4 / 10 + 1e-6  # memory's gain per candidate, priced at its depth
    assert allocate(p, free, GRID, 200, stingy, np.zeros(2), start=start).tolist() == [0, -1]
    cheap = allocate(p, free, GRID, 200, stingy, np.zeros(2), start=start, size=size)
    assert cheap[1] >= 0  # the same gain over 2 candidates is worth the price
    rows = np.array([[0, 0], [1, -1]])
    assert candidates(rows, size).tolist() == [12.0, 25.0]
    assert candidates(rows, GRID).tolist() == [20.0, 25.0]  # the grid: depths


def _request(i: int) -> PlanRequest:
    return PlanRequest(f"r{i}", plain_query(f"query {i}"), Context(), 200)


def _train(price_lengths: bool, n: int = 400) -> BanditPolicy:
    """lexical finds the item in its top 10 with 0.6, memory with 0.5 (independently), and
    memory returns 2 ids whatever its depth: the lists' lengths come with the feedback."""
    policy = BanditPolicy(
        SelectParams(strategies=STRATEGIES, depths=tuple(GRID.tolist()), budget=200),
        BanditParams(
            greedy="mean", anchors=("lexical",), latency_weight=0.0, cost_window=100,
            min_gain_per_candidate=0.03, price_lengths=price_lengths,
        ),
        seed=1,
    )  # fmt: skip
    rng = np.random.default_rng(5)
    for i in range(n):
        request = _request(i)
        plan = policy.plan(request)
        hit = rng.random(2) < (0.6, 0.5)
        ranks = {s: (1 if h and plan.depths.get(s, 0) > 0 else None)
                 for s, h in zip(STRATEGIES, hit, strict=True)}  # fmt: skip
        lengths = {"lexical": plan.depths["lexical"], "memory": 2}
        lengths = {s: k for s, k in lengths.items() if plan.depths.get(s, 0) > 0}
        policy.update(PlanFeedback(request, plan, ranks, n_returned=lengths))
    return policy


def test_the_policy_prices_a_short_list_at_its_length_and_then_runs_it() -> None:
    # memory adds about 0.4 * 0.5 = 0.2 to P(found): 0.02 per candidate at its depth (below
    # the price, 0.03), 0.1 per candidate at its length
    by_length = _train(price_lengths=True)
    assert by_length.lengths()["memory"]["10"] == pytest.approx(2.0)
    assert by_length.lengths()["lexical"]["10"] == pytest.approx(10.0)
    plans = [by_length.plan(_request(10_000 + i)).greedy for i in range(20)]
    assert all(p["memory"] > 0 for p in plans), plans
    by_depth = _train(price_lengths=False)  # learns the table too, and prices depths
    assert by_depth.lengths()["memory"]["10"] == pytest.approx(2.0)
    plans = [by_depth.plan(_request(10_000 + i)).greedy for i in range(20)]
    assert all(p["memory"] == 0 for p in plans), plans


def test_learned_lengths_are_saved_and_loaded_and_an_older_policy_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = _train(price_lengths=True, n=50)
    policy.save(tmp_path / "policy")
    loaded = BanditPolicy.load(tmp_path / "policy")
    assert loaded.lengths() == policy.lengths()
    assert loaded.lengths()["memory"]["10"] == pytest.approx(2.0)
    plans = [policy.plan(_request(i)).to_dict() for i in range(5)]
    assert [loaded.plan(_request(i)).to_dict() for i in range(5)] == plans
    with monkeypatch.context() as m:  # a policy saved before the table existed
        m.setattr(LengthTable, "arrays", lambda self: {})
        policy.save(tmp_path / "older")
    older = BanditPolicy.load(tmp_path / "older")
    assert older.lengths()["memory"] == {"10": 10.0, "25": 25.0, "50": 50.0, "100": 100.0,
                                         "200": 200.0}  # fmt: skip
    assert older.cost_ms() == policy.cost_ms()


def test_a_lesson_carries_each_strategys_list_length() -> None:
    request = _request(0)
    plan = Plan({"lexical": 10, "memory": 10}, {"lexical": 10, "memory": 10})
    lists = {"lexical": [EntityId(f"e{i}") for i in range(10)], "memory": [EntityId("e3")]}
    served = Served(request, plan, lists, tuple(lists["lexical"]), {})
    action = Action(action_id="a", request_id="r0", user_id=None, entity_id=EntityId("e3"),
                    kind="click", event_time_s=1.0)  # fmt: skip
    feedback, _ = lesson_of(served, action, 1.0)
    assert dict(feedback.n_returned) == {"lexical": 10, "memory": 1}
    assert dict(feedback.found_rank) == {"lexical": 4, "memory": 1}


@pytest.mark.parametrize("ladder", [False, True])
def test_priced_by_length_the_policy_keeps_the_contract(tmp_path: Path, ladder: bool) -> None:
    """The policy contract (tests/contracts) with lengths learned and priced, alone and with
    the cheap-plan ladder releasing anchors: exact distributions, reads leave the state
    alone, a save/load round trip plans the same."""
    config = load_config().replaced("select.ltrr", price_lengths=True)
    if ladder:
        config = config.replaced(
            "select.ltrr", cheap_prices=[0.003, 0.0003], found_tolerance=0.05, cheap_release=True
        )
    policy = make_policy("ltrr", config, seed=5)
    rng = np.random.default_rng(2)
    for i in range(80):
        request = _request(i % 9)
        plan = policy.plan(request)
        found = {s: (3 if rng.random() < 0.5 else None) for s in plan.strategies}
        n = {s: min(d, int(rng.integers(0, 12))) for s, d in plan.depths.items() if d > 0}
        policy.update(PlanFeedback(request, plan, found, n_returned=n))
    assert policy.lengths()["lexical"]["10"] < 10  # type: ignore[attr-defined]
    policy.save(tmp_path / "before")
    plans = [policy.plan(_request(100 + i)) for i in range(30)]
    for plan in plans:
        assert 0.0 < plan.probability <= 1.0
        for strategy in set(plan.depths) | set(plan.explore):
            assert sum(plan.marginal(strategy).values()) == pytest.approx(1.0)
        assert plan.coverage_probability(plan.greedy) >= 1.0 - plan.epsilon - 1e-12
    policy.save(tmp_path / "after")
    before, after = tmp_path / "before", tmp_path / "after"
    assert {p.name: p.read_bytes() for p in before.iterdir() if p.suffix == ".npy"} == {
        p.name: p.read_bytes() for p in after.iterdir() if p.suffix == ".npy"
    }
    loaded = load_policy(after, config)
    assert [loaded.plan(_request(100 + i)).to_dict() for i in range(30)] == [
        p.to_dict() for p in plans
    ]

"""Every registered policy passes the same checks (the Policy contract of DESIGN.md).

Each policy -- the learned ``ltrr``, the peer ``vw`` and the fixed plans -- is first fed the
same feedback, then must: give every strategy a depth distribution over {off} + depths that
sums to 1 and holds the drawn depth, a plan probability in (0, 1], plans that reading does not
change (``plan`` leaves the saved state byte-identical), the same plans under the same seed
and after a save/load round trip, ``update`` returning None with its input unchanged, and no
crash on hostile queries.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

from ltrr.config import load_config
from ltrr.select import POLICIES, load_policy, make_policy
from ltrr.select.base import Plan, PlanFeedback, PlanRequest, Policy
from ltrr.types import Context
from ltrr.understand.base import UnderstoodQuery, plain_query
from ltrr.understand.features import FEATURE_NAMES

NAMES = [*POLICIES, "lexical@50", "lexical@50+dense@25", "hybrid@25"]
HOSTILE = ["", "   ", "x" * 10_000, "a\x00b\x07", "🎵🎶", "Ünïcödé 東京 ταυ", "\ud800"]


def _request(i: int, budget: int = 200) -> PlanRequest:
    rng = np.random.default_rng(i)
    text = f"query {i % 7}"
    tokens = tuple(text.split())
    query = UnderstoodQuery(
        raw=text,
        tokens=tokens,
        corrected_tokens=tokens,
        features=tuple(rng.random(len(FEATURE_NAMES)).tolist()),
        feature_names=FEATURE_NAMES,
    )
    context = Context(user_id=f"u{i % 3}", segment="ab"[i % 2], hour=i % 24, taste={"jazz": 0.5})
    return PlanRequest(f"req-{i}", query, context, budget)


def _feed(policy: Policy, n: int = 60) -> None:
    for i in range(n):
        request = _request(i)
        plan = policy.plan(request)
        found = {s: (3 if (i + k) % 3 == 0 else None) for k, s in enumerate(plan.strategies)}
        policy.update(PlanFeedback(request, plan, found, event_time_s=float(i)))


def _policy(name: str, seed: int = 5) -> Policy:
    policy = make_policy(name, load_config(), seed=seed)
    _feed(policy)
    return policy


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def _grid(plan: Plan) -> set[int]:
    """Off and every depth the plan's distribution names (exploration, greedy, or the whole
    plans a peer such as ``vw`` draws from)."""
    drawn = {d for depths, _ in plan.distribution for d in depths.values()}
    explored = {d for dist in plan.explore.values() for d in dist}
    return {0} | explored | set(plan.greedy.values()) | drawn


@pytest.fixture(params=NAMES)
def name(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


def test_is_a_policy(name: str) -> None:
    policy = make_policy(name, load_config())
    assert isinstance(policy, Policy)
    assert policy.name == name
    assert policy.plan(_request(0)).policy == name


def test_distributions_sum_to_one_and_plans_are_probable(name: str) -> None:
    policy = _policy(name)
    for i in range(100, 160):
        plan = policy.plan(_request(i))
        assert 0.0 < plan.probability <= 1.0
        assert all(d >= 0 for d in plan.depths.values())
        for strategy in set(plan.depths) | set(plan.greedy) | set(plan.explore):
            marginal = plan.marginal(strategy)
            assert sum(marginal.values()) == pytest.approx(1.0)
            assert marginal.get(plan.depths.get(strategy, 0), 0.0) > 0.0
            assert set(marginal) <= _grid(plan)
        assert plan.coverage_probability(plan.greedy) >= 1.0 - plan.epsilon - 1e-12


def test_plan_reads_without_changing_state(name: str, tmp_path: Path) -> None:
    policy = _policy(name)
    policy.save(tmp_path / "before")
    first = [policy.plan(_request(i)) for i in range(100, 130)]
    policy.save(tmp_path / "after")
    assert _files(tmp_path / "before") == _files(tmp_path / "after")
    assert [policy.plan(_request(i)) for i in range(100, 130)] == first


def test_same_seed_same_plans(name: str) -> None:
    a, b = _policy(name, seed=11), _policy(name, seed=11)
    for i in range(100, 140):
        assert a.plan(_request(i)) == b.plan(_request(i))


def test_save_load_round_trip(name: str, tmp_path: Path) -> None:
    policy = _policy(name)
    policy.save(tmp_path / "p")
    loaded = load_policy(tmp_path / "p", load_config())
    assert loaded.name == policy.name
    for i in range(100, 140):
        assert loaded.plan(_request(i)) == policy.plan(_request(i))
    _feed(policy, 20)
    _feed(loaded, 20)
    for i in range(200, 220):
        assert loaded.plan(_request(i)) == policy.plan(_request(i))


def test_update_returns_none_and_leaves_its_input_alone(name: str) -> None:
    policy = _policy(name)
    request = _request(3)
    plan = policy.plan(request)
    found: dict[str, int | None] = {s: 2 for s in plan.strategies}
    feedback = PlanFeedback(request, plan, found)
    before = copy.deepcopy(feedback)
    assert policy.update(feedback) is None
    assert feedback == before


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_queries_plan(name: str, text: str) -> None:
    policy = _policy(name)
    hostile = Context(segment=text, locale=text, device=text, hour=99, taste={text: -1.0})
    for budget in (1, 200, 10**6):
        request = PlanRequest(f"h-{len(text)}", plain_query(text), hostile, budget)
        plan = policy.plan(request)
        assert 0.0 < plan.probability <= 1.0
        policy.update(PlanFeedback(request, plan, dict.fromkeys(plan.strategies)))

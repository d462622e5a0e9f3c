"""Plan probabilities: exact, summing to 1, and coverage weights computed by hand."""

from __future__ import annotations

import itertools

import pytest

from ltrr.errors import PlanError
from ltrr.select.base import Plan, plan_from_dict, request_rng

EXPLORE = {"lexical": {0: 0.5, 10: 0.25, 50: 0.25}, "dense": {0: 0.5, 50: 0.5}}


def _plan(depths: dict[str, int], eps: float = 0.2) -> Plan:
    return Plan(depths=depths, greedy={"lexical": 50, "dense": 0}, epsilon=eps, explore=EXPLORE)


def test_probability_of_greedy_and_explored_plans() -> None:
    assert _plan({"lexical": 50, "dense": 0}).probability == pytest.approx(0.8 + 0.2 * 0.25 * 0.5)
    assert _plan({"lexical": 10, "dense": 50}).probability == pytest.approx(0.2 * 0.25 * 0.5)
    assert _plan({"lexical": 100, "dense": 0}).probability == 0.0


def test_plan_probabilities_sum_to_one_over_all_plans() -> None:
    total = sum(
        _plan({"lexical": a, "dense": b}).probability
        for a, b in itertools.product([0, 10, 50], [0, 50])
    )
    assert total == pytest.approx(1.0)


def test_marginals_sum_to_one() -> None:
    plan = _plan({"lexical": 50, "dense": 0})
    assert plan.marginal("lexical") == pytest.approx({50: 0.8 + 0.05, 0: 0.1, 10: 0.05})
    assert sum(plan.marginal("dense").values()) == pytest.approx(1.0)


def test_coverage_probability_by_hand() -> None:
    plan = _plan({"lexical": 10, "dense": 50})
    # greedy (lexical@50) covers lexical@10; exploration covers it with P(lexical >= 10) = 0.5
    assert plan.coverage_probability({"lexical": 10}) == pytest.approx(0.8 + 0.2 * 0.5)
    # lexical@10 + dense@50: greedy does not cover; exploration 0.5 * 0.5
    assert plan.coverage_probability({"lexical": 10, "dense": 50}) == pytest.approx(0.2 * 0.25)
    assert plan.covers({"lexical": 10, "dense": 50})
    assert not plan.covers({"lexical": 50})


def test_fixed_plan_is_certain() -> None:
    fixed = Plan(depths={"lexical": 50}, greedy={"lexical": 50})
    assert fixed.probability == 1.0
    assert fixed.coverage_probability({"lexical": 25}) == 1.0
    assert fixed.coverage_probability({"lexical": 100}) == 0.0


def test_request_rng_is_reproducible() -> None:
    a = request_rng(7, "req-1").random(3)
    assert (a == request_rng(7, "req-1").random(3)).all()
    assert not (a == request_rng(7, "req-2").random(3)).all()
    assert not (a == request_rng(8, "req-1").random(3)).all()


# A plan drawn from an explicit distribution over whole plans (the ``vw`` peer's plans).
WHOLE = (
    ({"lexical": 10, "dense": 10}, 0.5),
    ({"lexical": 50, "dense": 10}, 0.3),
    ({"lexical": 10, "dense": 50, "memory": 10}, 0.2),
)


def _drawn(depths: dict[str, int]) -> Plan:
    greedy = {"lexical": 10, "dense": 10}
    return Plan(depths, greedy, 0.5, {}, "vw", WHOLE)


def test_a_distribution_plan_gives_the_probability_of_its_own_depths() -> None:
    assert _drawn({"lexical": 50, "dense": 10}).probability == pytest.approx(0.3)
    assert _drawn({"lexical": 50, "dense": 10, "memory": 0}).probability == pytest.approx(0.3)
    assert _drawn({"lexical": 25, "dense": 10}).probability == 0.0


def test_a_distribution_plans_marginals_and_coverage_by_hand() -> None:
    plan = _drawn({"lexical": 10, "dense": 10})
    assert plan.marginal("lexical") == pytest.approx({10: 0.7, 50: 0.3})
    assert plan.marginal("memory") == pytest.approx({0: 0.8, 10: 0.2})
    assert plan.marginal("fuzzy") == pytest.approx({0: 1.0})
    assert plan.coverage_probability({"lexical": 10}) == pytest.approx(1.0)
    assert plan.coverage_probability({"lexical": 25}) == pytest.approx(0.3)
    assert plan.coverage_probability({"dense": 25, "memory": 10}) == pytest.approx(0.2)
    assert plan.coverage_probability(plan.greedy) >= 1.0 - plan.epsilon - 1e-12


def test_a_distribution_plan_round_trips_through_its_logged_form() -> None:
    plan = _drawn({"lexical": 10, "dense": 50, "memory": 10})
    logged = plan.to_dict()
    assert logged["probability"] == pytest.approx(0.2)
    assert plan_from_dict(logged) == plan
    assert "distribution" not in _plan({"lexical": 50, "dense": 0}).to_dict()


@pytest.mark.parametrize(
    ("distribution", "message"),
    [
        ("nope", "must be a list"),
        ([{"depths": {"lexical": 10}, "probability": 0.6}], "must sum to 1"),
        ([{"depths": {"lexical": 10}, "probability": 1.5}], r"probability in \[0, 1\]"),
        ([{"depths": {"lexical": -1}, "probability": 1.0}], "must be >= 0"),
        ([{"depths": {"lexical": 10}}], r"probability in \[0, 1\]"),
    ],
)
def test_a_bad_logged_distribution_is_refused(distribution: object, message: str) -> None:
    logged = {"depths": {"lexical": 10}, "greedy": {"lexical": 10}, "distribution": distribution}
    with pytest.raises(PlanError, match=message):
        plan_from_dict(logged)


@pytest.mark.parametrize("seen", [True, False, None])
def test_the_seen_bit_round_trips_and_a_bad_one_is_refused(seen: bool | None) -> None:
    plan = Plan(depths={"lexical": 10}, greedy={"lexical": 10}, seen=seen)
    logged = plan.to_dict()
    assert ("seen" in logged) is (seen is not None)
    assert plan_from_dict(logged).seen is seen
    with pytest.raises(PlanError, match=r"plan\.seen must be true, false or absent, got 1"):
        plan_from_dict({**logged, "seen": 1})

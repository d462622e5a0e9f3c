"""The candidate plans of a bandit over whole plans: budget, anchors, groups, order."""

from __future__ import annotations

from ltrr.select import SelectParams
from ltrr.select.plan_set import candidate_plans, plan_key, plan_name

DEFAULTS = SelectParams()
ANCHORS = ("lexical", "dense")


def test_the_defaults_give_327_plans_within_the_budget_with_both_anchors() -> None:
    plans = candidate_plans(DEFAULTS.strategies, DEFAULTS.depths, DEFAULTS.budget, ANCHORS)
    assert len(plans) == 327
    assert len({plan_key(p) for p in plans}) == len(plans)
    for plan in plans:
        assert sum(plan.values()) <= 200
        assert plan["lexical"] >= 10 and plan["dense"] >= 10
        assert set(plan.values()) <= set(DEFAULTS.depths)
    names = {plan_name(p) for p in plans}
    # every hybrid@D that fits, and ltrr's usual plans with one more strategy
    assert {"dense@10+lexical@10", "dense@100+lexical@100", "dense@25+lexical@25"} <= names
    assert "dense@100+lexical@25+memory@50" in names
    # two other strategies at one depth; never at two different ones
    assert "dense@10+fuzzy@25+lexical@10+memory@25" in names
    assert "dense@10+fuzzy@10+lexical@10+memory@25" not in names


def test_count_by_hand_for_a_small_grid() -> None:
    # anchors a at {1, 2}; others b, c at {1, 2}; budget 4.
    plans = candidate_plans(("a", "b", "c"), (1, 2), 4, ("a",))
    names = sorted(plan_name(p) for p in plans)
    assert names == sorted(
        [
            "a@1", "a@2",
            "a@1+b@1", "a@1+b@2", "a@1+c@1", "a@1+c@2", "a@2+b@1", "a@2+b@2", "a@2+c@1",
            "a@2+c@2",
            "a@1+b@1+c@1", "a@2+b@1+c@1",
        ]
    )  # fmt: skip
    # a@1+b@2+c@2 would be 5 > 4 candidates


def test_deepest_first_then_by_name() -> None:
    plans = candidate_plans(("lexical", "dense"), (10, 20), 30, ())
    names = [plan_name(p) for p in plans]
    assert names == ["dense@10+lexical@10", "dense@20", "lexical@20", "dense@10", "lexical@10"]


def test_a_budget_nothing_fits_gives_the_cheapest_plans() -> None:
    plans = candidate_plans(DEFAULTS.strategies, DEFAULTS.depths, 1, ANCHORS)
    assert [plan_name(p) for p in plans] == ["dense@10+lexical@10"]
    assert len(candidate_plans(("a", "b"), (5,), 1, ())) == 2  # a@5 and b@5


def test_plan_key_ignores_strategies_that_do_not_run() -> None:
    assert plan_key({"b": 10, "a": 25, "c": 0}) == (("a", 25), ("b", 10))
    assert plan_name({"b": 10, "a": 25, "c": 0}) == "a@25+b@10"

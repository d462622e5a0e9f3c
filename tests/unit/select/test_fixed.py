"""Fixed plans: names parsed into depths, probability 1, nothing learned, save/load."""

from __future__ import annotations

from pathlib import Path

import pytest

from ltrr.config import Config, load_config
from ltrr.errors import ConfigError, StorageError, UnknownStrategyError
from ltrr.select import SelectParams, load_policy, make_policy
from ltrr.select.base import PlanFeedback, PlanRequest
from ltrr.select.fixed import FixedPolicy, fixed_plan_names, parse_plan, plan_name
from ltrr.types import Context
from ltrr.understand.base import plain_query

REQUEST = PlanRequest("r1", plain_query("love story"), Context(), budget=200)


@pytest.mark.parametrize(
    ("name", "depths"),
    [
        ("lexical@50", {"lexical": 50}),
        ("lexical@50+dense@25", {"lexical": 50, "dense": 25}),
        (" fuzzy@10 + memory@200 ", {"fuzzy": 10, "memory": 200}),
        ("lexical@30", {"lexical": 30}),  # any positive depth, not only the grid's
        ("hybrid@25", {"lexical": 25, "dense": 25}),
        ("hybrid", {"lexical": 100, "dense": 100}),
        ("union", dict.fromkeys(("lexical", "fuzzy", "structured", "dense", "memory"), 200)),
    ],
)
def test_names_parse_into_depths(name: str, depths: dict[str, int]) -> None:
    assert parse_plan(name) == depths


def test_union_follows_the_config() -> None:
    select = SelectParams(strategies=("lexical", "popular"), depths=(5, 40))
    assert parse_plan("union", select) == {"lexical": 40, "popular": 40}
    config = Config({"select": {"strategies": ["dense", "fuzzy"], "depths": [10, 30], "budget": 9}})
    assert make_policy("union", config).plan(REQUEST).depths == {"dense": 30, "fuzzy": 30}


def test_named_strategies_come_from_the_config() -> None:
    select = SelectParams(strategies=("lexical", "popular"))
    known = ("lexical", "dense")
    assert parse_plan("popular@10+lexical@5", select, known) == {"popular": 10, "lexical": 5}
    assert parse_plan("dense@10", select, known) == {"dense": 10}
    with pytest.raises(UnknownStrategyError, match=r"'fuzzy'; allowed: lexical, dense, popular$"):
        parse_plan("fuzzy@10", select, known)
    # without ``known``: every strategy of the defaults' [retrieve.<name>] sections
    assert parse_plan("explore@10") == {"explore": 10}
    with pytest.raises(UnknownStrategyError, match="allowed: lexical, fuzzy, structured, memory"):
        parse_plan("bogus@10")
    config = Config({**load_config().values, "retrieve": {"lexical": {}, "mine": {}}})
    assert FixedPolicy.from_name("mine@10", config).depths == {"mine": 10}


@pytest.mark.parametrize(
    ("name", "error", "message"),
    [
        ("", ConfigError, "unknown policy ''"),
        ("lexical", ConfigError, "unknown policy 'lexical'"),
        ("lexical@", ConfigError, "unknown policy"),
        ("lexical@10+", ConfigError, "unknown policy"),
        ("lexical@-5", ConfigError, "unknown policy"),
        ("lexical@0", ConfigError, "depth must be >= 1, got 0"),
        ("hybrid@0", ConfigError, "depth must be >= 1, got 0"),
        ("hybrid@x", ConfigError, "unknown policy"),
        ("lexical@10+lexical@20", ConfigError, "names strategy 'lexical' twice"),
        ("nope@10", UnknownStrategyError, "unknown strategy 'nope'; allowed: lexical"),
    ],
)
def test_bad_names_are_rejected(name: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        make_policy(name)


def test_plan_is_certain_and_learns_nothing(tmp_path: Path) -> None:
    policy = make_policy("lexical@50+dense@25")
    assert isinstance(policy, FixedPolicy)
    plan = policy.plan(REQUEST)
    assert plan.depths == plan.greedy == {"lexical": 50, "dense": 25}
    assert plan.probability == 1.0 and plan.epsilon == 0.0
    assert plan.policy == "lexical@50+dense@25"
    assert plan.marginal("lexical") == {50: 1.0} and plan.marginal("fuzzy") == {0: 1.0}
    assert plan.coverage_probability({"lexical": 25}) == 1.0
    assert plan.coverage_probability({"lexical": 100}) == 0.0
    feedback = PlanFeedback(REQUEST, plan, {"lexical": 3, "dense": None})
    assert policy.update(feedback) is None
    assert policy.plan(REQUEST) == plan


def test_save_and_load(tmp_path: Path) -> None:
    policy = make_policy("hybrid@25")
    policy.save(tmp_path / "p")
    loaded = load_policy(tmp_path / "p")
    assert isinstance(loaded, FixedPolicy)
    assert loaded.name == "hybrid@25"
    assert loaded.plan(REQUEST) == policy.plan(REQUEST)
    policy.save(tmp_path / "p")  # saving again replaces the folder whole
    assert load_policy(tmp_path / "p").plan(REQUEST) == policy.plan(REQUEST)
    with pytest.raises(StorageError, match="no saved policy"):
        load_policy(tmp_path / "missing")


def test_fixed_plan_names_enumerate_every_allocation() -> None:
    strategies = ("lexical", "fuzzy", "structured", "dense", "memory")
    depths = (10, 25, 50, 100, 200)
    names = fixed_plan_names(strategies, depths)
    assert len(names) == 25 + 10 * 25 + 10 * 125
    assert len(set(names)) == len(names)
    assert names[0] == "lexical@10" and "lexical@50+dense@25" in names
    assert all(parse_plan(n) for n in names[::97])
    assert len(fixed_plan_names(strategies, depths, max_strategies=1)) == 25


def test_plan_name_is_canonical() -> None:
    assert plan_name({"lexical": 50, "fuzzy": 0, "dense": 25}) == "lexical@50+dense@25"
    assert parse_plan(plan_name({"lexical": 50, "dense": 25})) == {"lexical": 50, "dense": 25}

"""Event value types: the checks name the bad field; the JSON shapes round-trip exactly."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest

from ltrr.log.events import (
    Action,
    EventError,
    Impression,
    check_action,
    check_impression,
    context_from_dict,
    context_to_dict,
    plan_to_dict,
    results_from_dict,
    results_to_dict,
)
from ltrr.select.base import Plan, plan_from_dict
from ltrr.types import Context, EntityId

KINDS = ("click", "dwell", "skip")
PLAN = Plan(
    depths={"lexical": 10, "dense": 0},
    greedy={"lexical": 50, "dense": 0},
    epsilon=0.2,
    explore={"lexical": {0: 0.5, 10: 0.25, 50: 0.25}, "dense": {0: 0.5, 50: 0.5}},
    policy="ltrr",
)


def _impression(**changes: Any) -> Impression:
    imp = Impression(
        request_id="r1",
        user_id="u1",
        session_id="s1",
        query="Tayler Swift 🎵",
        context=Context(user_id="u1", segment="free", locale="en-GB", hour=23, taste={"pop": 0.7}),
        plan=PLAN,
        strategy_results={"lexical": [(EntityId("a"), 3.5), (EntityId("b"), 1)], "memory": []},
        shown=(EntityId("a"), EntityId("b")),
        catalog_version=4,
        model_versions={"ranker": "fusion"},
        event_time_s=1_700_000_000.5,
    )
    return dataclasses.replace(imp, **changes)


def _action(**changes: Any) -> Action:
    action = Action(
        action_id="a1",
        request_id="r1",
        user_id="u1",
        entity_id=EntityId("a"),
        kind="click",
        event_time_s=1_700_000_001.0,
    )
    return dataclasses.replace(action, **changes)


def test_valid_events_pass() -> None:
    check_impression(_impression())
    check_action(_action(), KINDS)
    check_action(_action(kind="dwell", value=12.5), KINDS, needs_value=("dwell",))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"action_id": ""}, "action_id"),
        ({"action_id": "   "}, "action_id"),
        ({"action_id": 7}, "action_id"),
        ({"action_id": "x" * 513}, "action_id"),
        ({"request_id": None}, "request_id"),
        ({"user_id": 3}, "user_id"),
        ({"entity_id": ""}, "entity_id"),
        ({"kind": "purchase"}, "kind"),
        ({"kind": "CLICK"}, "kind"),
        ({"value": math.nan}, "value"),
        ({"value": math.inf}, "value"),
        ({"value": -1.0}, "value"),
        ({"value": "12"}, "value"),
        ({"value": True}, "value"),
        ({"kind": "dwell"}, "value"),
        ({"event_time_s": math.nan}, "event_time_s"),
        ({"event_time_s": "now"}, "event_time_s"),
        ({"event_time_s": -5.0}, "event_time_s"),
        ({"schema_version": 99}, "schema_version"),
    ],
)
def test_bad_actions_name_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(EventError, match=f"field '{field}'") as info:
        check_action(_action(**changes), KINDS, needs_value=("dwell",))
    assert info.value.field == field


def test_unknown_kind_lists_the_allowed_ones() -> None:
    with pytest.raises(EventError, match="allowed: click, dwell, skip"):
        check_action(_action(kind="purchase"), KINDS)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"request_id": ""}, "request_id"),
        ({"session_id": 5}, "session_id"),
        ({"query": None}, "query"),
        ({"context": {"user_id": "u"}}, "context"),
        ({"plan": {"depths": {}}}, "plan"),
        ({"strategy_results": [("a", 1.0)]}, "strategy_results"),
        ({"strategy_results": {"lexical": "ab"}}, "strategy_results.lexical"),
        ({"strategy_results": {"lexical": [("a", 1.0, 2)]}}, "strategy_results.lexical"),
        ({"strategy_results": {"lexical": [("a",)]}}, "strategy_results.lexical"),
        ({"strategy_results": {"lexical": [(1, 1.0)]}}, "strategy_results.lexical"),
        ({"strategy_results": {"lexical": [("a", "high")]}}, "strategy_results.lexical"),
        ({"strategy_results": {"lexical": [("a", math.nan)]}}, "strategy_results.lexical"),
        ({"strategy_results": {"": [("a", 1.0)]}}, "strategy_results"),
        ({"shown": ("a", 2)}, "shown"),
        ({"shown": "ab"}, "shown"),
        ({"catalog_version": "4"}, "catalog_version"),
        ({"model_versions": {"ranker": 2}}, "model_versions"),
        ({"event_time_s": math.inf}, "event_time_s"),
        ({"offset": -1}, "offset"),
        ({"strategy_ms": [0.5]}, "strategy_ms"),
        ({"strategy_ms": {"lexical": -1.0}}, "strategy_ms.lexical"),
        ({"strategy_ms": {"lexical": math.nan}}, "strategy_ms.lexical"),
        ({"schema_version": 0}, "schema_version"),
    ],
)
def test_bad_impressions_name_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(EventError, match=f"field '{field}'"):
        check_impression(_impression(**changes))


def test_numpy_scores_are_accepted_and_stored_as_floats() -> None:
    scores = np.array([2.5, 1.25], dtype=np.float32)
    results = {"dense": [(EntityId("a"), scores[0]), (EntityId("b"), scores[1])]}
    check_impression(_impression(strategy_results=results))
    assert results_to_dict(results) == {"dense": {"ids": ["a", "b"], "scores": [2.5, 1.25]}}


def test_entity_ids_are_shown_and_retrieved() -> None:
    imp = _impression(shown=(EntityId("z"),))
    assert imp.entity_ids() == {"a", "b", "z"}


def test_plan_round_trip_keeps_probabilities_and_marginals() -> None:
    d = plan_to_dict(PLAN)
    assert plan_from_dict(d) == PLAN
    assert d["probability"] == pytest.approx(PLAN.probability)
    marginals = d["marginals"]
    assert isinstance(marginals, dict)
    for strategy, dist in marginals.items():
        assert sum(dist.values()) == pytest.approx(1.0), strategy
    # lexical ran at 10: greedy says 50, exploration drew 10 (0.2 * 0.25 * P(dense off) 0.5)
    assert d["probability"] == pytest.approx(0.2 * 0.25 * 0.5)


def test_context_and_results_round_trip() -> None:
    imp = _impression()
    assert context_from_dict(context_to_dict(imp.context)) == imp.context
    assert results_from_dict(results_to_dict(imp.strategy_results)) == {
        "lexical": [("a", 3.5), ("b", 1.0)],
        "memory": [],
    }

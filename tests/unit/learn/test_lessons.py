"""The policy's and the ranker's lessons: one per request, its last wanted entity, taught once
settled."""

from __future__ import annotations

from pathlib import Path

import pytest

from ltrr.errors import ConfigError
from ltrr.learn.learner import LearnParams, Lessons
from ltrr.rank.base import RankFeedback
from ltrr.select.base import Plan, PlanFeedback, PlanRequest
from ltrr.types import Context, EntityId
from ltrr.understand.base import UnderstoodQuery

PLAN = Plan(depths={"lexical": 10}, greedy={"lexical": 10})


class Recorder:
    """A policy that remembers what it was taught (the Policy protocol, nothing learned)."""

    name = "recorder"

    def __init__(self) -> None:
        self.taught: list[tuple[str, int | None]] = []

    def plan(self, request: PlanRequest) -> Plan:
        return PLAN

    def update(self, feedback: PlanFeedback) -> None:
        self.taught.append((feedback.request.request_id, feedback.found_rank["lexical"]))

    def save(self, directory: Path) -> None:
        del directory


class RankRecorder:
    """A ranker that remembers the wanted items it was taught."""

    name = "rank-recorder"
    n_updates = 0

    def __init__(self) -> None:
        self.wanted: list[str | None] = []

    def update(self, feedback: RankFeedback) -> None:
        self.wanted.append(feedback.wanted)


def _lessons(**params: object) -> tuple[Lessons, Recorder, RankRecorder]:
    policy, ranker = Recorder(), RankRecorder()
    return Lessons(policy, ranker, LearnParams(**params)), policy, ranker  # type: ignore[arg-type]


def _hold(lessons: Lessons, request_id: str, rank: int | None, t: float) -> None:
    query = UnderstoodQuery(raw="q", tokens=("q",), corrected_tokens=("q",))
    request = PlanRequest(request_id, query, Context(), 100)
    wanted = EntityId(f"{request_id}@{rank}")
    lessons.hold(
        PlanFeedback(request, PLAN, {"lexical": rank}, 1.0, t, rank is not None),
        RankFeedback(query, {"lexical": [wanted]}, wanted),
    )


def test_a_later_wanted_entity_replaces_the_held_lesson() -> None:
    lessons, policy, ranker = _lessons(settle_s=10.0)
    _hold(lessons, "r1", 2, 0.0)  # a click on the second result ...
    _hold(lessons, "r1", None, 5.0)  # ... then the item, found elsewhere
    assert lessons.settle(14.9) == 0 and policy.taught == [] and ranker.wanted == []
    assert lessons.settle(15.0) == 1
    assert policy.taught == [("r1", None)] and ranker.wanted == ["r1@None"]


def test_lessons_settle_in_order_and_each_request_once() -> None:
    lessons, policy, _ = _lessons(settle_s=10.0)
    _hold(lessons, "r1", 1, 0.0)
    _hold(lessons, "r2", 3, 1.0)
    _hold(lessons, "r1", 4, 2.0)  # r1 acted on again: it now settles after r2
    _hold(lessons, "r3", 5, 30.0)  # a later event settles both held ones first
    assert policy.taught == [("r2", 3), ("r1", 4)]
    assert len(lessons) == 1 and lessons.settle_all() == 1
    assert policy.taught[-1] == ("r3", 5)


def test_each_mode_teaches_every_wanted_entity_at_once() -> None:
    lessons, policy, ranker = _lessons(policy_actions="each", ranker_actions="each")
    _hold(lessons, "r1", 2, 0.0)
    _hold(lessons, "r1", None, 5.0)
    assert policy.taught == [("r1", 2), ("r1", None)] and len(lessons) == 0
    assert ranker.wanted == ["r1@2", "r1@None"]


def test_the_ranker_can_learn_each_while_the_policy_waits() -> None:
    lessons, policy, ranker = _lessons(ranker_actions="each", settle_s=10.0)
    _hold(lessons, "r1", 2, 0.0)
    _hold(lessons, "r1", 3, 1.0)
    assert ranker.wanted == ["r1@2", "r1@3"] and policy.taught == []
    lessons.settle_all()
    assert policy.taught == [("r1", 3)] and ranker.wanted == ["r1@2", "r1@3"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"policy_actions": "first"}, "policy_actions"),
        ({"ranker_actions": "all"}, "ranker_actions"),
        ({"settle_s": -1.0}, "settle_s"),
    ],
)
def test_bad_learn_settings_name_the_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        LearnParams(**change)  # type: ignore[arg-type]

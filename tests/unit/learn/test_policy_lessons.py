"""The policy's lessons: one per request, its last wanted entity, taught once settled."""

from __future__ import annotations

from pathlib import Path

import pytest

from ltrr.errors import ConfigError
from ltrr.learn.learner import LearnParams, PolicyLessons
from ltrr.select.base import Plan, PlanFeedback, PlanRequest
from ltrr.types import Context
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


def _feedback(request_id: str, rank: int | None, t: float) -> PlanFeedback:
    query = UnderstoodQuery(raw="q", tokens=("q",), corrected_tokens=("q",))
    request = PlanRequest(request_id, query, Context(), 100)
    return PlanFeedback(request, PLAN, {"lexical": rank}, 1.0, t, rank is not None)


def test_a_later_wanted_entity_replaces_the_held_lesson() -> None:
    policy = Recorder()
    lessons = PolicyLessons(policy, LearnParams(settle_s=10.0))
    lessons.hold(_feedback("r1", 2, 0.0))  # a click on the second result ...
    lessons.hold(_feedback("r1", None, 5.0))  # ... then the item, found elsewhere
    assert lessons.settle(14.9) == 0 and policy.taught == []
    assert lessons.settle(15.0) == 1
    assert policy.taught == [("r1", None)]


def test_lessons_settle_in_order_and_each_request_once() -> None:
    policy = Recorder()
    lessons = PolicyLessons(policy, LearnParams(settle_s=10.0))
    lessons.hold(_feedback("r1", 1, 0.0))
    lessons.hold(_feedback("r2", 3, 1.0))
    lessons.hold(_feedback("r1", 4, 2.0))  # r1 acted on again: it now settles after r2
    lessons.hold(_feedback("r3", 5, 30.0))  # a later event settles both held ones first
    assert policy.taught == [("r2", 3), ("r1", 4)]
    assert len(lessons) == 1 and lessons.settle_all() == 1
    assert policy.taught[-1] == ("r3", 5)


def test_each_mode_teaches_every_wanted_entity_at_once() -> None:
    policy = Recorder()
    lessons = PolicyLessons(policy, LearnParams(policy_actions="each"))
    lessons.hold(_feedback("r1", 2, 0.0))
    lessons.hold(_feedback("r1", None, 5.0))
    assert policy.taught == [("r1", 2), ("r1", None)] and len(lessons) == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [({"policy_actions": "first"}, "policy_actions"), ({"settle_s": -1.0}, "settle_s")],
)
def test_bad_learn_settings_name_the_field(change: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        LearnParams(**change)  # type: ignore[arg-type]

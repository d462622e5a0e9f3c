"""Click evidence: the SDBN counts per (query, entity), which entities they call wanted, and the
policy's lesson widened by them (the acted-on item's statistics untouched)."""

from __future__ import annotations

from pathlib import Path

import pytest
from scipy.special import betainc

from ltrr.learn.click_evidence import ClickEvidence, p_attractive
from ltrr.learn.learner import LearnParams, Lessons, Served, learn_from_action
from ltrr.log.events import Action
from ltrr.log.rewards import RewardMap
from ltrr.rank.base import RankFeedback
from ltrr.select.base import Plan, PlanFeedback, PlanRequest
from ltrr.types import Context, EntityId
from ltrr.understand.base import UnderstoodQuery, query_key

E = EntityId
QUERY = UnderstoodQuery(raw="flutter", tokens=("flutter",), corrected_tokens=("flutter",))
OTHER = UnderstoodQuery(raw="heat", tokens=("heat",), corrected_tokens=("heat",))
PLAN = Plan(depths={"lexical": 25, "dense": 25}, greedy={"lexical": 25, "dense": 25})


@pytest.mark.parametrize(
    ("clicked", "examined", "threshold"),
    [(0, 0, 0.5), (4, 4, 0.5), (4, 5, 0.5), (6, 7, 0.5), (3, 10, 0.4), (30, 64, 0.5), (1, 2, 0.9)],
)
def test_the_posterior_tail_is_the_beta_distribution_s(
    clicked: int, examined: int, threshold: float
) -> None:
    expected = 1.0 - betainc(1.0 + clicked, 1.0 + examined - clicked, threshold)
    assert p_attractive(clicked, examined, threshold) == pytest.approx(expected, abs=1e-12)


def test_an_entity_clicked_on_most_examinations_is_wanted_and_one_clicked_on_few_is_not() -> None:
    evidence, key = ClickEvidence(0.5, 0.95), query_key(QUERY)
    for _ in range(4):  # "a" clicked each time; "b" shown above it and passed over each time
        evidence.observe(key, E("a"), [E("b")])
    assert evidence.wanted(key) == {"a"}
    for _ in range(6):  # "b" clicked 6 of its 10 examinations: not clearly above 0.5
        evidence.observe(key, E("b"), [])
    assert evidence.wanted(key) == {"a"}
    assert evidence.wanted(query_key(OTHER)) == frozenset()


def test_a_single_click_is_not_evidence() -> None:
    evidence, key = ClickEvidence(0.5, 0.95), query_key(QUERY)
    evidence.observe(key, E("a"), [])
    assert evidence.wanted(key) == frozenset()  # P(alpha > 0.5 | 1 of 1) = 0.75


def test_off_keeps_nothing() -> None:
    evidence, key = ClickEvidence(), query_key(QUERY)
    for _ in range(10):
        evidence.observe(key, E("a"), [])
    assert not evidence.on and len(evidence) == 0 and evidence.wanted(key) == frozenset()


def _feedback(query: UnderstoodQuery, found: dict[str, int | None]) -> PlanFeedback:
    request = PlanRequest("r", query, Context(), 100)
    lists = {"lexical": [E("x"), E("y"), E("a")], "dense": [E("a"), E("w"), E("z")]}
    return PlanFeedback(request, PLAN, found, lists=lists)


def test_widen_credits_the_first_rank_of_any_known_wanted_entity() -> None:
    evidence, key = ClickEvidence(0.5, 0.95), query_key(QUERY)
    for _ in range(4):
        evidence.observe(key, E("a"), [])
    feedback = _feedback(QUERY, {"lexical": None, "dense": 2})  # the user acted on "w"
    assert evidence.widen(feedback).found_rank == {"lexical": 3, "dense": 1}
    assert feedback.found_rank == {"lexical": None, "dense": 2}  # the lesson itself unchanged
    other = _feedback(OTHER, {"lexical": None, "dense": 2})  # nothing known for this query
    assert evidence.widen(other) is other


def test_the_state_round_trips() -> None:
    evidence, key = ClickEvidence(0.5, 0.95), query_key(QUERY)
    for _ in range(5):
        evidence.observe(key, E("a"), [E("b")])
    restored = ClickEvidence(0.5, 0.95)
    restored.restore(evidence.state())
    assert restored.state() == evidence.state() and restored.wanted(key) == {"a"}


class Recorder:
    """A policy that remembers the lexical rank it was taught."""

    name = "recorder"

    def __init__(self) -> None:
        self.taught: list[int | None] = []

    def plan(self, request: PlanRequest) -> Plan:
        return PLAN

    def update(self, feedback: PlanFeedback) -> None:
        self.taught.append(feedback.found_rank.get("lexical"))

    def save(self, directory: Path) -> None:
        del directory


class RankSink:
    name = "sink"
    n_updates = 0

    def update(self, feedback: RankFeedback) -> None:
        del feedback


def _search(lessons: Lessons, n: int, clicked: list[EntityId], params: LearnParams) -> None:
    """Request ``n`` of QUERY: dense holds "a" on top and lexical "b" first; the page shows
    "a" then "b"; the user acts on ``clicked`` in that order."""
    request = PlanRequest(f"r{n}", QUERY, Context(), 100)
    lists = {"lexical": [E("b"), E("c")], "dense": [E("a"), E("d")]}
    served = Served(request, PLAN, lists, [E("a"), E("b"), E("c"), E("d")], {})
    actions = [
        Action(
            action_id=f"r{n}-{j}",
            request_id=f"r{n}",
            user_id=None,
            entity_id=e,
            kind="click",
            event_time_s=float(n),
        )
        for j, e in enumerate(clicked)
    ]
    for j, action in enumerate(actions):
        learn_from_action(served, actions[:j], action, lessons, None, RewardMap(), params)


def test_the_learner_teaches_the_policy_the_widened_lesson_and_counts_what_was_acted_on() -> None:
    params = LearnParams(settle_s=0.0, evidence_attractiveness=0.5)
    policy = Recorder()
    lessons = Lessons(policy, RankSink(), params)  # type: ignore[arg-type]
    for n in range(4):  # users pass "a" over and act on "b" (lexical's first): "b" is wanted
        _search(lessons, n, [E("b")], params)
    _search(lessons, 4, [E("a")], params)  # this user acts on "a", which lexical lacks
    lessons.settle_all()
    assert policy.taught == [1, 1, 1, 1, 1]  # widened: lexical held "b", known wanted
    assert lessons.stats.strategies["lexical"].n_found == 4  # the live found-rate: "a" missed
    plain = Recorder()
    off = LearnParams(settle_s=0.0)
    lessons_off = Lessons(plain, RankSink(), off)  # type: ignore[arg-type]
    for n in range(4):
        _search(lessons_off, n, [E("b")], off)
    _search(lessons_off, 4, [E("a")], off)
    lessons_off.settle_all()
    assert plain.taught == [1, 1, 1, 1, None]

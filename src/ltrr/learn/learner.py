"""One place where logged events become learned state, live and in replay alike.

``Engine.feedback`` and ``Engine.replay`` both call ``Learner``, so the state a replay of the log
rebuilds is, by construction, the state live traffic built: the same events in the same order
with the same timestamps give the same memory statistics, exposure counts and policy.

When the first positive-reward action on an entity of a request arrives, that entity is a
wanted item and every strategy that ran reports the rank at which it held it (``None``: not
within its depth; an item no strategy retrieved is a miss for all of them). The policy and the
ranker learn from the request's *last* wanted entity (``Lessons``): in the dynamic Bayesian
network click model (Chapelle & Zhang, WWW 2009) a user who acts again was not satisfied by
the previous result, so an earlier click says the result looked attractive, not that the plan
found what the user came for; a found-elsewhere action after a few clicks on shown results is
a miss the clicks must not hide. Each request's lessons are held until ``settle_s`` seconds of
event time have passed since its latest wanted entity, then taught. Every positive action also
teaches the memory index the query -> entity pair at once (and the results passed over above
it, ``passed_over``), so a "found elsewhere" action (an entity no strategy retrieved) is
remembered for the next such query.

Everything here is a deterministic function of the events in log order and their timestamps
(settling goes by event time, never the wall clock), so replay rebuilds the live state.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ltrr.errors import ConfigError
from ltrr.learn.click_evidence import ClickEvidence
from ltrr.learn.stats import LearningStats
from ltrr.log.events import Action, Impression, ImpressionHead
from ltrr.log.rewards import RewardMap
from ltrr.rank.base import Ranker, RankFeedback
from ltrr.retrieve.base import Retriever
from ltrr.select.base import Plan, PlanFeedback, PlanRequest, Policy, policy_probe, probe_scores
from ltrr.types import EntityId
from ltrr.understand.base import UnderstoodQuery, query_key

#: Query understandings a learner keeps (by raw text) while folding the log.
_UNDERSTOOD_CACHE = 20_000
#: How the policy (the ranker) learns from a request with several wanted entities.
LESSON_ACTIONS: tuple[str, ...] = ("last", "each")


def found_rank(lists: Mapping[str, Sequence[EntityId]], wanted: EntityId) -> dict[str, int | None]:
    """Per strategy, the 1-based rank of ``wanted`` in the ids it returned, else ``None``."""
    return {
        s: next((i for i, e in enumerate(ids, start=1) if e == wanted), None)
        for s, ids in lists.items()
    }


@dataclass(frozen=True, slots=True)
class Served:
    """One served request as learning needs it: what the policy saw, the plan, each
    strategy's ids best first (down to the depth it ran) and the ids shown."""

    request: PlanRequest
    plan: Plan
    lists: Mapping[str, Sequence[EntityId]]
    shown: Sequence[EntityId]
    scores: Mapping[str, Sequence[float]]
    #: What each strategy took, ms (the policy's cost observations; may be empty).
    cost_ms: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LearnParams:
    """``[learn]``: how actions become learned state; see ``defaults.toml``."""

    superseded_weight: float = 0.0
    skip_weight: float = 0.5
    policy_actions: str = "last"
    ranker_actions: str = "last"
    settle_s: float = 120.0
    evidence_attractiveness: float = 0.0
    evidence_confidence: float = 0.95

    def __post_init__(self) -> None:
        for name in ("superseded_weight", "skip_weight"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"learn.{name} must be in [0, 1], got {value}")
        for name in ("policy_actions", "ranker_actions"):
            if getattr(self, name) not in LESSON_ACTIONS:
                raise ConfigError(
                    f"learn.{name} must be one of {', '.join(LESSON_ACTIONS)}, "
                    f"got {getattr(self, name)!r}"
                )
        if not math.isfinite(self.settle_s) or self.settle_s < 0:
            raise ConfigError(f"learn.settle_s must be a number >= 0, got {self.settle_s!r}")
        if not 0.0 <= self.evidence_attractiveness < 1.0:
            raise ConfigError(
                "learn.evidence_attractiveness must be in [0, 1), "
                f"got {self.evidence_attractiveness!r}"
            )
        if not 0.0 < self.evidence_confidence < 1.0:
            raise ConfigError(
                f"learn.evidence_confidence must be in (0, 1), got {self.evidence_confidence!r}"
            )


@dataclass(slots=True)
class _Held:
    plan: PlanFeedback | None
    rank: RankFeedback | None
    settles_at_s: float
    action_id: str = ""  # the action both lessons came from (snapshots rebuild them from it)


class Lessons:
    """The policy's and the ranker's lessons, one per request: its last wanted entity, taught
    once settled.

    With ``policy_actions`` (``ranker_actions``) ``= "last"`` a request's lesson is replaced by
    each positive action on another entity and taught when event time passes ``settle_s``
    after the latest one (``settle``); with ``"each"`` every wanted entity is taught at once
    (kept to measure against). Held lessons are taught in the order they were last replaced.
    """

    def __init__(self, policy: Policy, ranker: Ranker, params: LearnParams) -> None:
        self.policy = policy
        self.ranker = ranker
        self.params = params
        self._held: dict[str, _Held] = {}
        self.clock_s = -math.inf
        self.n_taught = 0
        self.stats = LearningStats()
        #: Which entities clicks say each query wants: widens the policy's lessons.
        self.evidence = ClickEvidence(params.evidence_attractiveness, params.evidence_confidence)
        #: False in a replica that installs the policy another replica publishes
        #: (``learn.shared_policy``): lessons are counted, not taught.
        self.teach_policy = True

    def __len__(self) -> int:
        return len(self._held)

    def hold(self, plan: PlanFeedback, rank: RankFeedback, action_id: str = "") -> None:
        """``plan`` and ``rank`` are now their request's lessons (replacing any held ones)."""
        if self.params.policy_actions == "each":
            self._teach_plan(plan)
        if self.params.ranker_actions == "each":
            self.ranker.update(rank)
        self.clock_s = max(self.clock_s, plan.event_time_s)
        held = _Held(
            plan if self.params.policy_actions == "last" else None,
            rank if self.params.ranker_actions == "last" else None,
            self.clock_s + self.params.settle_s,
            action_id,
        )
        request_id = plan.request.request_id
        self._held.pop(request_id, None)  # re-inserted last: settle order follows recency
        if held.plan is not None or held.rank is not None:
            self._held[request_id] = held
        self.settle(plan.event_time_s)

    def settle(self, now_s: float) -> int:
        """Teach every held lesson whose time has come by ``now_s``; how many were taught.

        Deadlines are set from the monotone event clock, so the held lessons are in deadline
        order and only the due ones at the front are visited (a clock that ran backwards, a
        client's late timestamp, delays a lesson instead of reordering the queue).
        """
        self.clock_s = max(self.clock_s, now_s)
        n = 0
        while self._held:
            request_id, held = next(iter(self._held.items()))
            if held.settles_at_s > self.clock_s:
                break
            del self._held[request_id]
            if held.plan is not None:
                self._teach_plan(held.plan)
            if held.rank is not None:
                self.ranker.update(held.rank)
            n += 1
        return n

    def held(self) -> list[tuple[str, str, bool, bool, float]]:
        """``(request_id, action_id, holds_plan, holds_rank, settles_at_s)`` per held lesson, in
        settling order: what a snapshot stores to rebuild them from the log."""
        return [
            (rid, h.action_id, h.plan is not None, h.rank is not None, h.settles_at_s)
            for rid, h in self._held.items()
        ]

    def restore(
        self,
        held: Sequence[tuple[str, PlanFeedback | None, RankFeedback | None, float, str]],
        clock_s: float,
        n_taught: int,
        stats: LearningStats,
        evidence: Sequence[Any] = (),
    ) -> None:
        """Put back what ``held``, the counters and the click ``evidence`` (its ``state()``)
        described (loading a snapshot)."""
        self._held = {rid: _Held(plan, rank, at, aid) for rid, plan, rank, at, aid in held}
        self.clock_s, self.n_taught, self.stats = clock_s, n_taught, stats
        self.evidence.restore(evidence)

    def settle_all(self) -> int:
        """Teach every held lesson now (end of a batch job; tests)."""
        return self.settle(math.inf)

    def _teach_plan(self, feedback: PlanFeedback) -> None:
        if self.teach_policy:  # the evidence as of now: a replay settles at the same point
            self.policy.update(self.evidence.widen(feedback))
        self.stats.on_lesson(feedback)  # what the user acted on: EVALUATION.md's live found
        self.n_taught += 1


@dataclass(slots=True)
class LearnCounts:
    """What learning has seen: for stats and tests."""

    n_impressions: int = 0
    n_actions: int = 0
    n_wanted: int = 0  # (request, entity) pairs with a positive action: the ranker's lessons
    n_found: int = 0  # ... of which some strategy had retrieved the entity


class Learner:
    """Applies impressions and actions to the retrievers' learned state and to the policy."""

    def __init__(
        self,
        understand: Callable[[str], UnderstoodQuery],
        retrievers: Mapping[str, Retriever],
        policy: Policy,
        ranker: Ranker,
        rewards: RewardMap,
        budget: int,
        params: LearnParams | None = None,
    ) -> None:
        self._understand = understand
        self._retrievers = retrievers
        self.rewards = rewards
        self.budget = budget
        self.params = params or LearnParams()
        self.reset(policy, ranker)

    def forget_queries(self) -> None:
        """Drop cached query understandings: the catalog (and so its understander) changed."""
        self._understood.clear()

    def reset(self, policy: Policy, ranker: Ranker) -> None:
        """Start learning afresh with ``policy`` and ``ranker`` (before a replay)."""
        self._understood: dict[str, UnderstoodQuery] = {}
        self.policy = policy
        self.ranker = ranker
        self.lessons = Lessons(policy, ranker, self.params)
        self.counts = LearnCounts()

    def swap_policy(self, policy: Policy) -> None:
        """Plan and learn with ``policy`` from now on (one published by another replica)."""
        self.policy = self.lessons.policy = policy

    @property
    def n_policy_updates(self) -> int:
        """Lessons the policy has been taught (requests with a settled wanted entity)."""
        return self.lessons.n_taught

    def settle(self, now_s: float) -> None:
        """Teach the policy and the ranker every request lesson settled by event time ``now_s``."""
        self.lessons.settle(now_s)

    def on_impression(self, impression: Impression | ImpressionHead) -> None:
        self.settle(impression.event_time_s)
        explore = self._retrievers.get("explore")
        if explore is not None:
            explore.record_exposure(impression.shown, impression.event_time_s)  # type: ignore[attr-defined]
        self.counts.n_impressions += 1

    def served(self, impression: Impression) -> Served:
        """``impression`` as learning needs it, its query understood by the current catalog."""
        query = self._understood.get(impression.query)
        if query is None:  # repeated queries (most traffic) are understood once
            query = self._understood[impression.query] = self._understand(impression.query)
            if len(self._understood) > _UNDERSTOOD_CACHE:
                for text in list(self._understood)[: _UNDERSTOOD_CACHE // 10]:
                    del self._understood[text]
        scores = {s: [x for _, x in pairs] for s, pairs in impression.strategy_results.items()}
        probe = probe_scores(policy_probe(self.policy), scores)  # as the plan was drawn with
        seen = impression.plan.seen  # as the plan was drawn with
        context = impression.context
        return Served(
            PlanRequest(impression.request_id, query, context, self.budget, probe, seen),
            impression.plan,
            {s: [e for e, _ in pairs] for s, pairs in impression.strategy_results.items()},
            impression.shown,
            scores,
            impression.strategy_ms,
        )

    def on_action(self, impression: Impression, actions: Sequence[Action], action: Action) -> None:
        """Learn from ``action``; ``actions`` are the request's actions so far, ``action`` last."""
        self.counts.n_actions += 1
        self.settle(action.event_time_s)
        if self.rewards.action_reward(action) <= 0:
            return
        served = self.served(impression)
        earlier = [a for a in actions if a.action_id != action.action_id]
        ranks = learn_from_action(
            served, earlier, action, self.lessons, self._retrievers.get("memory"), self.rewards,
            self.params,
        )  # fmt: skip
        if ranks is not None:
            self.counts.n_wanted += 1
            self.counts.n_found += any(r is not None for r in ranks.values())


def query_seen(retrievers: Mapping[str, Retriever], query: UnderstoodQuery) -> bool | None:
    """``PlanRequest.seen``: whether the memory index learned from this query already; None
    without a memory index (the policy's own history decides then)."""
    memory = retrievers.get("memory")
    knows = getattr(memory, "knows", None)
    return bool(knows(query)) if knows is not None else None


def learn_from_action(
    served: Served,
    earlier: Sequence[Action],
    action: Action,
    lessons: Lessons,
    memory: Retriever | None,
    rewards: RewardMap,
    params: LearnParams,
) -> dict[str, int | None] | None:
    """One action's lessons, the same live, in replay and in the simulator.

    A positive action teaches the memory index its query -> entity pair (and takes back the
    previous click's credit, ``superseded``, and the skipped results' ``passed_over``); the
    first positive action on an entity becomes the request's held lessons: semi-bandit
    feedback for the policy and the lists for the ranker (``Lessons``). Returns the wanted
    item's rank per strategy for a newly wanted entity, else ``None``.
    """
    reward = rewards.action_reward(action)
    if reward <= 0:
        return None
    query, context, t = served.request.query, served.request.context, action.event_time_s
    if memory is not None:
        memory.record(query, context, action.entity_id, reward, t)  # type: ignore[attr-defined]
        for entity, taken in superseded(earlier, action, rewards, params):
            memory.withdraw(query, context, entity, taken, t)  # type: ignore[attr-defined]
        if params.skip_weight > 0:
            skips, unskip = passed_over(served.shown, earlier, action, rewards)
            for entity in skips:
                memory.record(query, context, entity, -params.skip_weight, t)  # type: ignore[attr-defined]
            if unskip:
                memory.withdraw(query, context, action.entity_id, -params.skip_weight, t)  # type: ignore[attr-defined]
    again = any(a.entity_id == action.entity_id and rewards.action_reward(a) > 0 for a in earlier)
    if lessons.evidence.on:
        skipped, counted = passed_over(served.shown, earlier, action, rewards)
        clicked = None if again else action.entity_id
        lessons.evidence.observe(query_key(query), clicked, skipped, counted)
    if again:
        return None  # this entity was already learned from for this request
    plan, rank = lesson_of(served, action, reward)
    lessons.hold(plan, rank, action.action_id)
    return dict(plan.found_rank)


def lesson_of(served: Served, action: Action, reward: float) -> tuple[PlanFeedback, RankFeedback]:
    """The policy's and the ranker's lesson from ``action``, a wanted entity of ``served``."""
    ranks = found_rank(served.lists, action.entity_id)
    shown = action.entity_id in served.shown
    n_returned = {s: len(ids) for s, ids in served.lists.items()}
    request, plan, t = served.request, served.plan, action.event_time_s
    return (
        PlanFeedback(
            request, plan, ranks, reward, t, shown, served.cost_ms, n_returned, served.lists
        ),
        RankFeedback(served.request.query, served.lists, action.entity_id, served.scores),
    )


def passed_over(
    shown: Sequence[EntityId], earlier: Sequence[Action], action: Action, rewards: RewardMap
) -> tuple[list[EntityId], bool]:
    """The shown entities ``action`` says the user examined and passed over, and whether
    ``action``'s own entity had been counted as passed over by an earlier action.

    Clicks are position-biased: whatever is shown on top is examined most and, when users
    click freely, collects clicks whether or not it answers the query, so counting clicks
    alone teaches the memory index to keep whatever it already shows. The cascade assumption
    of click models (Craswell et al., WSDM 2008; the DCM of Guo et al., WSDM 2009) gives the
    missing negatives: a user who clicks position p examined every position above it, so each
    unclicked entity above the deepest positive action so far was seen and skipped ("skip
    above", Joachims 2002). Each position is passed over at most once per request; when
    clicks arrive out of order, the later click on an entity already counted as skipped takes
    that skip back (``True``). Entities below the last click, and found-elsewhere actions (the
    user may have stopped reading), give no evidence.
    """
    order = {e: i for i, e in reversed(list(enumerate(shown)))}
    position = order.get(action.entity_id)
    if position is None:
        return [], False
    clicked = {a.entity_id for a in earlier if rewards.action_reward(a) > 0}
    deepest = max((order[e] for e in clicked if e in order), default=-1)
    if position <= deepest:
        return [], action.entity_id not in clicked
    return [e for e in shown[deepest + 1 : position] if e not in clicked], False


def superseded(
    earlier: Sequence[Action], action: Action, rewards: RewardMap, params: LearnParams
) -> list[tuple[EntityId, float]]:
    """What ``action`` takes back from the memory index: ``[(entity, reward)]`` or ``[]``.

    In the dynamic Bayesian network click model (Chapelle & Zhang, WWW 2009) a user who clicks
    again was not satisfied by the previous click: that click shows the result was attractive,
    not that it answered the query. So a positive action on another entity withdraws
    ``superseded_weight`` of the previous positive action's reward; only the latest positive
    action of a request keeps its full credit. Off by default: measured in the simulator it
    helps when users stop at the answer (navigational clicks) and hurts when they keep
    clicking after it (informational), where the last click is often not the answer.
    """
    if params.superseded_weight <= 0:
        return []
    previous = next((a for a in reversed(earlier) if rewards.action_reward(a) > 0), None)
    if previous is None or previous.entity_id == action.entity_id:
        return []
    return [(previous.entity_id, params.superseded_weight * rewards.action_reward(previous))]

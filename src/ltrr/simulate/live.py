"""A learning policy in the loop: plan, retrieve, show, click, learn; and its frozen tail.

One search (``World.search``): the policy plans from the understood query and the context;
every planned strategy's list is cut at its planned depth (deterministic strategies from the
per-benchmark cache, learning ones such as ``memory`` and ``explore`` retrieved live, since
their lists change as the run learns); the candidates are the union of the cut lists; the
ranking shown is the ranker's order of them (``rank``: the learned fusion by default, trained
on the same feedback as the policy), top ``SHOWN`` (10).

Users act through a click model (``clicks``: a cascade or the position-based model) on the
shown list; when no relevant item was shown, with probability ``found_elsewhere`` the user
reaches the query's highest-graded relevant item (the first such in qrels order) another way
and acts on it (kind ``found``). Learning follows the engine's ``learn.Learner`` action by action
(``_teach``): every positive action teaches ``memory.record``; the first positive action on
each entity is a wanted item and becomes the request's held lessons, a semi-bandit
``PlanFeedback`` (its rank in each strategy's cut list, and whether it was shown) and a
``RankFeedback`` (the cut lists), which the policy and the ranker learn once they settle
(``learn.Lessons``: the last wanted entity of a request, ``[learn] settle_s`` of event time
later, checked before each search as the engine does). A click
on a non-relevant item teaches as it would in production: the learner sees actions only,
never the qrels. ``explore`` counts the shown items as exposures. A search without a positive
action teaches nothing. (``on_search`` hooks see the user's actions, as the event log holds
them.)

Tail (EVALUATION.md: the learned state at the end of each window, frozen, on the unseen
pool): each unseen query is planned with request id ``unseen-<query id>`` and a context drawn
once per seed; the plan evaluated is the policy's ``greedy`` plan (its exploitation choice, in
Thompson mode a posterior sample drawn from that request id) without the epsilon exploration,
so the tail measures what was learned, not the exploration; ``memory`` and ``explore`` answer
from their state at that moment, and nothing is updated.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ltrr.config import Config
from ltrr.learn.learner import LearnParams, Lessons, Served, learn_from_action, query_seen
from ltrr.log.events import Action
from ltrr.log.rewards import RewardMap
from ltrr.merge.rrf import Fused
from ltrr.rank import make_ranker
from ltrr.rank.base import Ranker
from ltrr.rank.features import CandidateFeatures, Featurizer
from ltrr.rank.lambdamart import LambdaMartRanker
from ltrr.retrieve.base import Candidate, Retriever
from ltrr.select.base import Depths, Plan, PlanRequest, Policy, Probe, policy_probe
from ltrr.select.fixed import plan_name
from ltrr.simulate.clicks import ClickModel
from ltrr.simulate.fixed import ideal_dcg, ranking_metrics
from ltrr.simulate.params import SHOWN, SimulateParams
from ltrr.simulate.ranker import RankerTrainer
from ltrr.simulate.traffic import Traffic
from ltrr.types import Context, EntityId
from ltrr.understand.base import UnderstoodQuery

#: (stage, done, total) -> None.
Progress = Callable[[str, int, int | None], None]
#: Called after each search with what was asked, planned, retrieved and done by the user.
OnSearch = Callable[["PlanRequest", "Plan", "Outcome", Sequence[Action]], None]


@dataclass(frozen=True, slots=True)
class Judged:
    """What the simulated users know about each query; the learner never sees it."""

    grades: Mapping[str, Mapping[str, int]]
    levels: Mapping[str, Mapping[str, int]]  # click-model level per judged entity
    relevant: Mapping[str, frozenset[str]]
    idcg: Mapping[str, float]
    elsewhere: Mapping[str, EntityId | None]


def judge(qrels: Mapping[str, Mapping[str, int]], model: ClickModel) -> Judged:
    """What users know of each query in ``qrels``: grades, click-model levels, the relevant
    set, the ideal DCG@10, and the item found elsewhere (the first of the top grade)."""
    grades = {q: dict(judged) for q, judged in qrels.items()}
    elsewhere: dict[str, EntityId | None] = {}
    for q, judged in grades.items():
        relevant = [(g, e) for e, g in judged.items() if g >= 1]
        top = max((g for g, _ in relevant), default=0)
        elsewhere[q] = next((EntityId(e) for g, e in relevant if g == top), None)
    return Judged(
        grades=grades,
        levels={q: {e: model.level(g) for e, g in j.items()} for q, j in grades.items()},
        relevant={q: frozenset(e for e, g in j.items() if g >= 1) for q, j in grades.items()},
        idcg={q: ideal_dcg(j, SHOWN) for q, j in grades.items()},
        elsewhere=elsewhere,
    )


@dataclass(frozen=True, slots=True)
class Outcome:
    """One search's result: the metrics of EVALUATION.md and what was shown."""

    found: bool
    n_candidates: int
    shown: list[EntityId]
    ndcg: float
    mrr: float
    lists: dict[str, Sequence[Candidate]]
    features: CandidateFeatures | None = None
    ranked: Sequence[Fused] = ()


@dataclass(frozen=True, slots=True)
class World:
    """Everything a search needs that does not learn: queries, cached lists, judgements."""

    understood: Mapping[str, UnderstoodQuery]
    cached: Mapping[str, Mapping[str, Sequence[Candidate]]]
    judged: Judged
    click: ClickModel
    rewards: RewardMap
    params: SimulateParams
    budget: int
    #: The learned ranker's features (``rank.features``), computed when a run trains one, for
    #: the fallback's top ``featurizer_depth`` candidates (``[rank.lambdamart] rerank_depth``).
    featurizer: Featurizer | None = None
    featurizer_depth: int = 50
    #: Each strategy's measured ms per search on this machine (median over the pool queries,
    #: ``simulate.run``): the cost a served search would log, which the policy prices.
    cost_ms: Mapping[str, float] = field(default_factory=dict)

    def request(
        self,
        request_id: str,
        query_id: str,
        context: Context,
        live: Mapping[str, Retriever],
        probe: Probe | None,
    ) -> PlanRequest:
        """What the policy plans from, as the engine builds it: the probe's scores (the top of
        the cached list, or of the live retriever's) and the memory index's seen bit."""
        query = self.understood[query_id]
        scores = None
        if probe is not None:
            if probe.strategy in live:
                ranked = live[probe.strategy].retrieve(query, context, probe.depth)
            else:
                ranked = list(self.cached[probe.strategy][query_id][: probe.depth])
            scores = tuple(c.score for c in ranked)
        seen = query_seen(live, query)
        return PlanRequest(request_id, query, context, self.budget, scores, seen)

    def search(
        self,
        query_id: str,
        depths: Depths,
        context: Context,
        live: Mapping[str, Retriever],
        ranker: Ranker,
        *,
        featurize: bool = False,
        event_time_s: float = 0.0,
        n_ranked: int = SHOWN,
    ) -> Outcome:
        """Retrieve the plan's cut lists, merge them and score the shown top (``n_ranked``
        ranked, the first ``SHOWN`` shown); ``featurize`` computes the ranker's features."""
        query = self.understood[query_id]
        lists: dict[str, Sequence[Candidate]] = {}
        for strategy, depth in depths.items():
            if depth <= 0:
                continue
            if strategy in live:
                lists[strategy] = live[strategy].retrieve(query, context, depth)
            else:
                lists[strategy] = self.cached[strategy][query_id][:depth]
        union = {c.entity_id for ranked in lists.values() for c in ranked}
        features, fused = None, []
        if featurize and self.featurizer is not None and isinstance(ranker, LambdaMartRanker):
            merged = ranker.fallback.rank(query, context, lists)  # as the engine ranks
            top = merged[: self.featurizer_depth]
            features = self.featurizer(query, context, lists, event_time_s, top)
            fused = ranker.rerank(merged, features, n_ranked)
        elif lists:
            fused = ranker.rank(query, context, lists, n_ranked)
        shown = [f.entity_id for f in fused[:SHOWN]]
        ndcg, mrr = ranking_metrics(shown, self.judged.grades[query_id], self.judged.idcg[query_id])
        found = not self.judged.relevant[query_id].isdisjoint(union)
        return Outcome(found, len(union), shown, ndcg, mrr, lists, features, fused)


@dataclass(frozen=True, slots=True)
class TailPoint:
    """The frozen policy on the unseen pool after ``at_search`` searches: (Q,) arrays."""

    at_search: int
    found: NDArray[np.float64]
    candidates: NDArray[np.float64]
    ndcg: NDArray[np.float64]
    mrr: NDArray[np.float64]
    plans: tuple[str, ...]
    #: Per unseen query, the ranked ids with their ranker scores (``--runs`` writes them).
    ranked: tuple[tuple[tuple[str, float], ...], ...] = ()


@dataclass(frozen=True, slots=True)
class Learners:
    """What learns in one run: the policy, the ranker and the live retrievers (memory, ...)."""

    policy: Policy
    ranker: Ranker
    live: Mapping[str, Retriever]
    learn: LearnParams = field(default_factory=LearnParams)
    #: Trains the LambdaMART ranker that serves over ``ranker`` (None: ``ranker`` serves).
    trainer: RankerTrainer | None = None
    lessons: Lessons = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "lessons", Lessons(self.policy, self.ranker, self.learn))

    @property
    def serving(self) -> Ranker:
        return self.trainer.ranker if self.trainer is not None else self.ranker

    def search(
        self, world: World, query_id: str, depths: Depths, context: Context, t: float
    ) -> Outcome:
        trainer = self.trainer
        n_ranked = SHOWN if trainer is None else max(SHOWN, trainer.params.rerank_depth)
        return world.search(
            query_id,
            depths,
            context,
            self.live,
            self.serving,
            featurize=trainer is not None,
            event_time_s=t,
            n_ranked=n_ranked,
        )


def learners_for(
    policy: Policy,
    config: Config,
    live: Mapping[str, Retriever],
    trainer: Callable[[Ranker], RankerTrainer] | None = None,
) -> Learners:
    """``policy`` with a fresh ranker and the ``[learn]`` settings of ``config``; ``trainer``
    builds a LambdaMART trainer serving over that ranker."""
    ranker = make_ranker(config)
    learn = config.params("learn", LearnParams)
    return Learners(policy, ranker, live, learn, None if trainer is None else trainer(ranker))


@dataclass(slots=True)
class LiveRun:
    """One learning policy on one seed's traffic: (N,) per-search arrays and tail points."""

    policy: str
    seed: int
    found: NDArray[np.float64]
    candidates: NDArray[np.float64]
    ndcg: NDArray[np.float64]
    mrr: NDArray[np.float64]
    n_taught: int = 0
    n_found_elsewhere: int = 0
    tail: list[TailPoint] = field(default_factory=list)
    #: The LambdaMART retrains of the run (``simulate.ranker``): search, accepted, validation.
    ranker_training: list[dict[str, Any]] = field(default_factory=list)
    #: Where the candidates went (``simulate.decompose``); empty when not measured.
    decomposition: dict[str, Any] = field(default_factory=dict)


def actions_of(
    world: World, query_id: str, outcome: Outcome, traffic: Traffic, i: int, user: str | None
) -> list[Action]:
    """The simulated user's actions on search ``i``: clicks, then found-elsewhere."""
    request_id, t = traffic.request_id(i), float(traffic.time_s[i])
    clicked, elsewhere = user_acts(
        world.judged,
        world.click,
        world.params.found_elsewhere,
        query_id,
        outcome.shown,
        traffic,
        i,
    )
    actions = [
        _action(f"{request_id}-c{j}", request_id, user, outcome.shown[j], "click", t)
        for j in clicked
    ]
    if elsewhere is not None:
        actions.append(_action(f"{request_id}-f", request_id, user, elsewhere, "found", t))
    return actions


def user_acts(
    judged: Judged,
    click: ClickModel,
    found_elsewhere: float,
    query_id: str,
    shown: Sequence[EntityId],
    traffic: Traffic,
    i: int,
) -> tuple[list[int], EntityId | None]:
    """What the user of search ``i`` does on ``shown``: the 0-based positions clicked (by
    ``click``, on the search's common random numbers), and the entity found another way when no
    relevant item was shown (else None)."""
    levels_of = judged.levels[query_id]
    levels = [levels_of.get(e, 0) for e in shown]
    clicked = click.clicks(levels, traffic.u_click[i], traffic.u_stop[i])
    elsewhere = judged.elsewhere[query_id]
    if elsewhere is None or any(levels) or traffic.u_found[i] >= found_elsewhere:
        return clicked, None
    return clicked, elsewhere


def _action(
    action_id: str, request_id: str, user: str | None, entity_id: EntityId, kind: str, t: float
) -> Action:
    return Action(
        action_id=action_id,
        request_id=request_id,
        user_id=user,
        entity_id=entity_id,
        kind=kind,
        event_time_s=t,
    )


def _teach(
    learners: Learners,
    request: PlanRequest,
    plan: Plan,
    outcome: Outcome,
    actions: Sequence[Action],
    world: World,
) -> bool:
    """Learn from the actions one at a time, as ``learn.Learner`` does live
    (``learn.learner.learn_from_action``); whether anything was learned."""
    ids = {s: [c.entity_id for c in ranked] for s, ranked in outcome.lists.items()}
    scores = {s: [c.score for c in ranked] for s, ranked in outcome.lists.items()}
    cost = {s: world.cost_ms[s] for s in outcome.lists if s in world.cost_ms}
    served = Served(request, plan, ids, outcome.shown, scores, cost)
    rewards = world.rewards
    memory = learners.live.get("memory")
    taught = False
    for n, action in enumerate(actions):
        lesson = learn_from_action(
            served,
            actions[:n],
            action,
            learners.lessons,
            memory,
            rewards,
            learners.learn,
        )
        taught = taught or lesson is not None
    return taught


def run_live(
    learners: Learners,
    world: World,
    traffic: Traffic,
    traffic_ids: Sequence[str],
    unseen_ids: Sequence[str],
    unseen_contexts: Sequence[Context],
    on_progress: Progress | None = None,
    on_search: OnSearch | None = None,
) -> LiveRun:
    """Run ``learners`` (fresh learned state) over ``traffic``; tail points every window."""
    policy, live = learners.policy, learners.live
    probe = policy_probe(policy)
    n, window = len(traffic), world.params.window
    run = LiveRun(policy.name, traffic.seed, np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n))
    explore = live.get("explore")
    stage = f"{policy.name} seed {traffic.seed}"
    for i in range(n):
        query_id = traffic_ids[int(traffic.query[i])]
        context = traffic.context(i)
        request = world.request(traffic.request_id(i), query_id, context, live, probe)
        t = float(traffic.time_s[i])
        learners.lessons.settle(t)  # as the engine settles before planning
        plan = policy.plan(request)
        outcome = learners.search(world, query_id, plan.depths, context, t)
        run.found[i], run.candidates[i] = outcome.found, outcome.n_candidates
        run.ndcg[i], run.mrr[i] = outcome.ndcg, outcome.mrr
        actions = actions_of(world, query_id, outcome, traffic, i, context.user_id)
        run.n_found_elsewhere += any(a.kind == "found" for a in actions)
        if on_search is not None:
            on_search(request, plan, outcome, actions)
        run.n_taught += _teach(learners, request, plan, outcome, actions, world)
        if learners.trainer is not None:
            learners.trainer.on_search(
                request.request_id,
                world.understood[query_id].raw,
                outcome.features,
                outcome.ranked,
                len(outcome.shown),
                actions,
            )
        if explore is not None:
            explore.record_exposure(outcome.shown, t)  # type: ignore[attr-defined]
        if learners.trainer is not None and len(learners.trainer.reports) > len(
            run.ranker_training
        ):
            report = learners.trainer.reports[-1]
            run.ranker_training.append(
                {
                    "at_search": i + 1,
                    "accepted": report.accepted,
                    "reason": report.reason,
                    **report.validation,
                }
            )
        if (i + 1) % window == 0 or i + 1 == n:
            run.tail.append(tail_point(learners, world, i + 1, unseen_ids, unseen_contexts))
        if on_progress is not None and ((i + 1) % 200 == 0 or i + 1 == n):
            on_progress(stage, i + 1, n)
    return run


def tail_point(
    learners: Learners,
    world: World,
    at_search: int,
    unseen_ids: Sequence[str],
    contexts: Sequence[Context],
) -> TailPoint:
    """The frozen policy's greedy plans on every unseen query (nothing is updated)."""
    q = len(unseen_ids)
    found, candidates, ndcg, mrr = (np.zeros(q) for _ in range(4))
    plans, ranked = [], []
    probe = policy_probe(learners.policy)
    for j, (query_id, context) in enumerate(zip(unseen_ids, contexts, strict=True)):
        request = world.request(f"unseen-{query_id}", query_id, context, learners.live, probe)
        depths = learners.policy.plan(request).greedy
        outcome = learners.search(world, query_id, depths, context, 0.0)
        found[j], candidates[j] = outcome.found, outcome.n_candidates
        ndcg[j], mrr[j] = outcome.ndcg, outcome.mrr
        plans.append(plan_name(depths))
        ranked.append(tuple((f.entity_id, f.score) for f in outcome.ranked))
    return TailPoint(at_search, found, candidates, ndcg, mrr, tuple(plans), tuple(ranked))

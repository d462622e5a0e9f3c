"""Where a learned policy's candidates go: exploration, the Thompson sample, anchors, the plan.

Why. Issue 16 asks the learned policy to spend on unseen queries at most 1.5x the candidates of
the cheapest fixed plan that finds as much; on Cranfield and Spotify it spends about 4.5x. Four
things add candidates, and they call for different remedies, so the report measures each:

- *Exploration* (``epsilon``): the plans drawn instead of the greedy one. The frozen tail counts
  the greedy plan only, so exploration costs nothing there, but it is paid on every live search
  and it sets the fixed plans that cumulative regret is counted against (those no costlier
  than the policy's mean over the run). ``traffic``: the share of the run's candidates spent by
  exploration plans, and the mean candidates of exploration and greedy plans, over all searches
  and over first-time ("unseen": the memory index had not learned the query) ones.
- *The Thompson sample*: the greedy plan is allocated on a posterior sample drawn from the
  request id (``greedy = "thompson"``). ``tail.greedy`` is the tail's plan;
  ``tail.posterior_mean`` the plan the same frozen state allocates on the posterior mean
  (policies with ``params.greedy`` only, when it is a sample).
- *Anchors*: every greedy plan runs the anchors at least at the shallowest grid depth;
  ``tail.anchors_only`` is that floor alone (its candidates and found-rate), and
  ``tail.posterior_mean_released`` the mean plan when every anchor but the probe may go.
- *The price*: ``tail.posterior_mean_price_x10`` / ``_x100``, the mean plan at 10 and 100
  times ``min_gain_per_candidate``: how much of the plan the price, not the model, buys.
- *The greedy plan itself*: what the model believes each arm finds. ``arms``: per (strategy,
  depth), the policy's mean predicted P(found) over the unseen pool beside the share of unseen
  queries whose top-d of that strategy holds any relevant item, which is what the report's
  found-rate counts. The policy learns from the one item a request acted on last; where a
  query has several relevant items, predicted below found means the model underrates cheap
  arms and the plan buys depth the found-rate does not need.

Everything is measured on the state frozen at the end of the run, on the unseen pool, with the
same request ids and contexts as the tail (``live.tail_point``); nothing is learned.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ltrr.select.base import Depths, Plan, PlanRequest
from ltrr.simulate.compare import summary
from ltrr.simulate.live import Learners, LiveRun, Outcome, World
from ltrr.types import Context


@dataclasses.dataclass(slots=True)
class Explored:
    """An ``on_search`` hook of ``live.run_live`` recording, per search, whether the plan
    was an exploration draw (its depths are not its greedy depths), whether the query was
    seen, and the candidates it retrieved."""

    explored: list[bool] = dataclasses.field(default_factory=list)
    seen: list[bool] = dataclasses.field(default_factory=list)
    candidates: list[int] = dataclasses.field(default_factory=list)

    def __call__(self, request: PlanRequest, plan: Plan, outcome: Outcome, _: object) -> None:
        self.explored.append(_running(plan.depths) != _running(plan.greedy))
        self.seen.append(bool(request.seen))
        self.candidates.append(outcome.n_candidates)

    def split(self) -> dict[str, float | None]:
        """The run's candidates split between exploration and greedy plans."""
        explored, seen = np.array(self.explored, bool), np.array(self.seen, bool)
        cost = np.array(self.candidates, dtype=np.float64)
        out: dict[str, float | None] = {}
        for name, rows in (("all", np.ones_like(seen)), ("unseen", ~seen)):
            total = float(cost[rows].sum())
            out[f"{name}_explore_share"] = _mean(explored[rows])
            out[f"{name}_explore_cost_share"] = (
                float(cost[rows & explored].sum()) / total if total > 0 else None
            )
            out[f"{name}_candidates"] = _mean(cost[rows])
            out[f"{name}_candidates_explore"] = _mean(cost[rows & explored])
            out[f"{name}_candidates_greedy"] = _mean(cost[rows & ~explored])
        return out


def tail_split(
    learners: Learners,
    world: World,
    unseen_ids: Sequence[str],
    contexts: Sequence[Context],
    request_of: Callable[[str, Context], PlanRequest],
    anchors: Depths,
) -> dict[str, dict[str, float]]:
    """Mean candidates and found-rate on the unseen pool of the frozen policy's tail plan
    (``greedy``), of ``anchors`` alone (``anchors_only``) and, for a policy with a ``greedy``
    mode (``select.bandit``), of the plans the same state allocates on the posterior mean: as
    configured (``posterior_mean``, when the tail's plan is a Thompson sample), with every
    anchor but the probe free to be left out (``_released``: ``release_gain`` ~1, the
    allocation's utility decides), and at 10 and 100 times the price per candidate
    (``_price_x10``, ``_price_x100``)."""
    policy = learners.policy
    plans: dict[str, Callable[[PlanRequest], Depths]] = {
        "greedy": lambda r: policy.plan(r).greedy,
    }
    params = getattr(policy, "params", None)
    if params is not None and getattr(params, "greedy", None) in ("thompson", "mean"):
        mean = dataclasses.replace(params, greedy="mean")
        variants = {
            # any anchor but the probe may be left out where the allocation prefers
            "posterior_mean_released": dataclasses.replace(mean, release_gain=0.999),
            "posterior_mean_price_x10": dataclasses.replace(
                mean, min_gain_per_candidate=10 * params.min_gain_per_candidate
            ),
            "posterior_mean_price_x100": dataclasses.replace(
                mean, min_gain_per_candidate=100 * params.min_gain_per_candidate
            ),
        }
        if params.greedy != "mean":  # else it is the tail's plan itself
            variants["posterior_mean"] = mean
        plans.update({name: _planned_with(policy, p) for name, p in variants.items()})
    if anchors:
        plans["anchors_only"] = lambda _: anchors
    out = {}
    for name, plan_of in plans.items():
        found, cost = [], []
        for query_id, context in zip(unseen_ids, contexts, strict=True):
            depths = plan_of(request_of(query_id, context))
            outcome = learners.search(world, query_id, depths, context, 0.0)
            found.append(outcome.found)
            cost.append(outcome.n_candidates)
        out[name] = {"candidates": float(np.mean(cost)), "found_rate": float(np.mean(found))}
    return out


def arms(
    learners: Learners,
    world: World,
    unseen_ids: Sequence[str],
    contexts: Sequence[Context],
    request_of: Callable[[str, Context], PlanRequest],
    strategies: Sequence[str],
    depths: Sequence[int],
) -> dict[str, dict[str, float]] | None:
    """Per arm ``strategy@depth``: the frozen policy's mean predicted P(found) on the unseen
    pool (``predicted``) and the share of unseen queries whose top-d holds a relevant item
    (``found_rate``); None for a policy without ``predict`` (S, G)."""
    predict = getattr(learners.policy, "predict", None)
    if predict is None:
        return None
    p = np.zeros((len(strategies), len(depths)))
    hit = np.zeros_like(p)
    for query_id, context in zip(unseen_ids, contexts, strict=True):
        request = request_of(query_id, context)
        p += np.asarray(predict(request))
        relevant = world.judged.relevant[query_id]
        for i, strategy in enumerate(strategies):
            ids = _ids(learners, world, strategy, query_id, context, max(depths))
            for g, d in enumerate(depths):
                hit[i, g] += not relevant.isdisjoint(ids[:d])
    n = max(len(unseen_ids), 1)
    return {
        f"{s}@{d}": {"predicted": float(p[i, g] / n), "found_rate": float(hit[i, g] / n)}
        for i, s in enumerate(strategies)
        for g, d in enumerate(depths)
    }


def decompose(
    learners: Learners,
    world: World,
    unseen_ids: Sequence[str],
    contexts: Sequence[Context],
    explored: Explored,
    grid: tuple[Sequence[str], Sequence[int]],
) -> dict[str, Any]:
    """``LiveRun.decomposition`` of one run: ``traffic``, ``tail`` and ``arms`` (module doc);
    ``grid``: the policy's strategies and depths."""
    strategies, depths = grid
    live = learners.live
    probe = getattr(learners.policy, "probe", None)

    def request_of(query_id: str, context: Context) -> PlanRequest:
        return world.request(f"unseen-{query_id}", query_id, context, live, probe)

    names = getattr(getattr(learners.policy, "params", None), "anchors", ())
    anchors = {s: int(depths[0]) for s in strategies if s in names}
    return {
        "traffic": explored.split(),
        "tail": tail_split(learners, world, unseen_ids, contexts, request_of, anchors),
        "arms": arms(learners, world, unseen_ids, contexts, request_of, strategies, depths),
    }


def decomposition_summary(runs: Sequence[LiveRun]) -> dict[str, Any]:
    """The runs' decompositions, every number as ``{"mean", "std"}`` over seeds."""
    done = [r.decomposition for r in runs if r.decomposition]
    if not done:
        return {}
    return _summarise(done)


def _summarise(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, first in items[0].items():
        if all(i[key] is None for i in items):  # not measured for this policy
            out[key] = None
        elif isinstance(first, Mapping):
            out[key] = _summarise([i[key] for i in items])
        elif first is None or isinstance(first, int | float):
            out[key] = summary([i[key] for i in items])
    return out


def _ids(
    learners: Learners, world: World, strategy: str, query_id: str, context: Context, depth: int
) -> list[str]:
    """``strategy``'s ids for the query, best first: live (learning) strategies from their
    frozen state, the others from the benchmark's cached lists."""
    if strategy in learners.live:
        query = world.understood[query_id]
        return [c.entity_id for c in learners.live[strategy].retrieve(query, context, depth)]
    return [c.entity_id for c in world.cached.get(strategy, {}).get(query_id, [])[:depth]]


def _planned_with(policy: Any, params: Any) -> Callable[[PlanRequest], Depths]:
    """The greedy depths ``policy`` plans for a request with ``params`` in place of its own."""

    def plan_of(request: PlanRequest) -> Depths:
        return _with_params(policy, params, lambda: policy.plan(request).greedy)

    return plan_of


def _with_params(policy: Any, params: Any, call: Callable[[], Depths]) -> Depths:
    """``call()`` with ``policy.params`` set to ``params``, restored after."""
    saved = policy.params
    policy.params = params
    try:
        return call()
    finally:
        policy.params = saved


def _running(depths: Depths) -> dict[str, int]:
    return {s: int(d) for s, d in depths.items() if d > 0}


def _mean(values: np.ndarray) -> float | None:
    return float(values.mean()) if len(values) else None

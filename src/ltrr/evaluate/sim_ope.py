"""Off-policy evaluation checked inside the simulator (EVALUATION.md section 4).

Each replication draws fresh traffic (``ope_searches`` searches, seed ``1000 + r``), runs the
learned policy ``ltrr`` on it exactly as ``simulate`` does (exploring, learning, logging every
plan with its probabilities), and keeps the log as ``ope.LoggedSearch`` records. Each target
(a fixed plan such as ``lexical@50`` or ``hybrid@25``) is then estimated by ``ope.plan_ope``
from that log alone and compared with three true values:

- ``logged_wanted``: the estimand of ``plan_ope``: over the logged searches with a wanted
  item, the share whose wanted item the target's candidates hold, known here for every search
  (the estimator sees it only where the logged plan covered the target);
- ``on_policy_live``: the target run on-policy on the same searches (same users, same click
  and found-elsewhere draws), its live found-rate (EVALUATION.md: among its searches with a
  positive action, the share whose acted-on entity was among its candidates);
- ``on_policy_relevant``: the same run's found-rate by the qrels.

The three differ because feedback is selective: a search is in the data only if its user
acted, and a user acts on a miss only when finding the item elsewhere, so which searches
count depends on the policy that served them. Only ``logged_wanted`` is identified by logged
actions; the gaps to the other two are a property of feedback data, reported, not estimated.

Per target and estimator: the share of replications whose 95% interval covers each truth,
the mean error against each, the mean interval width and the mean effective sample size.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ltrr.config import Config
from ltrr.evaluate.ope import LoggedSearch, OpeParams, parse_target, plan_ope
from ltrr.evaluate.sim_live import Outcome, Progress, World, learners_for, run_live
from ltrr.evaluate.sim_traffic import Traffic, draw_traffic
from ltrr.retrieve.base import Retriever
from ltrr.select import make_policy
from ltrr.select.base import Plan, PlanRequest
from ltrr.types import EntityId

#: Replication r draws its traffic with seed ``SEED_BASE + r`` (apart from the main runs').
SEED_BASE = 1000


def ope_replications(
    world: World,
    traffic_ids: Sequence[str],
    taste: Sequence[str],
    config: Config,
    live: Callable[[], Mapping[str, Retriever]],
    tick: Progress,
) -> dict[str, Any]:
    """Run ``world.params.ope_replications`` logged runs and score every estimator on them.

    ``live()`` returns fresh live retrievers (memory, ...) for one run.
    """
    params = world.params
    n_reps, n_searches = params.ope_replications, params.ope_searches
    quiet = dataclasses.replace(world, params=dataclasses.replace(params, window=n_searches))
    targets = {name: parse_target(name, config) for name in params.ope_targets}
    rows: dict[str, dict[str, list[list[float]]]] = {t: {} for t in targets}
    truths: dict[str, list[tuple[float, ...]]] = {t: [] for t in targets}
    opep = OpeParams(n_bootstrap=params.ope_bootstrap, seed=params.bootstrap_seed)
    for rep in range(n_reps):
        traffic = draw_traffic(len(traffic_ids), n_searches, params, SEED_BASE + rep, taste)
        log = _Recorder()
        policy = make_policy("ltrr", config, seed=SEED_BASE + rep)
        learners = learners_for(policy, config, live())
        run_live(learners, quiet, traffic, traffic_ids, [], [], None, log)
        query_of = [traffic_ids[int(q)] for q in traffic.query]
        for name, depths in targets.items():
            on_policy = _on_policy(quiet, traffic, traffic_ids, name, config, live)
            truths[name].append((*on_policy, _logged_wanted(world, query_of, log.searches, depths)))
            for est, e in plan_ope(log.searches, depths, opep).items():
                rows[name].setdefault(est, []).append([e.value, e.low, e.high, e.ess])
        tick("off-policy replications", rep + 1, n_reps)
    return _summary(rows, truths, n_reps, n_searches)


class _Recorder:
    """The ``run_live`` hook that keeps each search as the event log would hold it."""

    def __init__(self) -> None:
        self.searches: list[LoggedSearch] = []

    def __call__(
        self, request: PlanRequest, plan: Plan, outcome: Outcome, wanted: EntityId | None
    ) -> None:
        lists = {s: [c.entity_id for c in cs] for s, cs in outcome.lists.items()}
        self.searches.append(LoggedSearch(request.request_id, plan, lists, wanted, request))


def _on_policy(
    world: World,
    traffic: Traffic,
    traffic_ids: Sequence[str],
    target: str,
    config: Config,
    live: Callable[[], Mapping[str, Retriever]],
) -> tuple[float, float]:
    """The target run on ``traffic``: (live found-rate, found-rate by the qrels)."""
    seen = _Recorder()
    policy = make_policy(target, config, seed=0)
    learners = learners_for(policy, config, live())
    run = run_live(learners, world, traffic, traffic_ids, [], [], None, seen)
    acted = [s for s in seen.searches if s.wanted is not None]
    found = sum(any(s.wanted in ids for ids in s.strategy_results.values()) for s in acted)
    return found / max(len(acted), 1), float(run.found.mean())


def _logged_wanted(
    world: World, query_of: Sequence[str], log: Sequence[LoggedSearch], depths: Mapping[str, int]
) -> float:
    """Over the logged searches with a wanted item, the share the target's candidates hold.

    What ``plan_ope`` estimates from the covered searches alone; the simulator knows it for
    every search, since the target's lists are in the cache.
    """
    hits, n = 0, 0
    for query_id, search in zip(query_of, log, strict=True):
        if search.wanted is None:
            continue
        n += 1
        hits += any(
            c.entity_id == search.wanted
            for s, d in depths.items()
            for c in world.cached[s][query_id][:d]
        )
    return hits / max(n, 1)


TRUTHS = ("logged_wanted", "on_policy_live", "on_policy_relevant")


def _summary(
    rows: Mapping[str, Mapping[str, list[list[float]]]],
    truths: Mapping[str, list[tuple[float, ...]]],
    n_reps: int,
    n_searches: int,
) -> dict[str, Any]:
    out: dict[str, Any] = {"n_replications": n_reps, "n_searches": n_searches, "targets": {}}
    for name, by_est in rows.items():
        truth = np.array(truths[name])[:, [2, 0, 1]]  # (reps, 3) in TRUTHS order
        block: dict[str, Any] = {t: float(truth[:, j].mean()) for j, t in enumerate(TRUTHS)}
        for est, values in by_est.items():
            a = np.array(values)  # (reps, 4): value, low, high, ess
            block[est] = {
                "mean_width": float((a[:, 2] - a[:, 1]).mean()),
                "mean_ess": float(a[:, 3].mean()),
            }
            for j, t in enumerate(TRUTHS):
                cover = (a[:, 1] <= truth[:, j]) & (truth[:, j] <= a[:, 2])
                block[est][f"coverage_{t}"] = float(cover.mean())
                block[est][f"mean_error_{t}"] = float((a[:, 0] - truth[:, j]).mean())
        out["targets"][name] = block
    return out

"""Off-policy evaluation checked inside the simulator (EVALUATION.md section 4).

Each replication draws fresh traffic (``ope_searches`` searches, seed ``1000 + r``), runs the
learned policy ``ltrr`` on it exactly as ``simulate`` does (exploring, learning, logging every
plan with its probabilities), and keeps the log as ``ope.LoggedSearch`` records. Each target
(a fixed plan such as ``lexical@50`` or ``hybrid@25``) is then estimated by ``ope.plan_ope``
from that log alone and compared with its true on-policy value, obtained by running the
target itself on the same searches (same users, same click and found-elsewhere draws):

- ``truth``: the target's live found-rate (EVALUATION.md: among its searches with a positive
  action, the share whose acted-on entity was among its candidates), the estimand of
  ``plan_ope``;
- ``truth_relevant``: its found-rate by the qrels (a relevant item among its candidates, over
  every search). Logs cannot see a search on which nobody acted, and a miss draws an action
  only when the user finds the item elsewhere, so this differs from ``truth``: a property of
  feedback data that no estimator of logged actions removes; reported, not estimated.

Per target and estimator: the share of replications whose 95% interval covers ``truth``, the
mean interval width, the mean effective sample size and the mean error.
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
from ltrr.types import Context, EntityId

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
    truths: dict[str, list[tuple[float, float]]] = {t: [] for t in targets}
    opep = OpeParams(n_bootstrap=params.ope_bootstrap, seed=params.bootstrap_seed)
    for rep in range(n_reps):
        traffic = draw_traffic(len(traffic_ids), n_searches, params, SEED_BASE + rep, taste)
        log = _Recorder()
        policy = make_policy("ltrr", config, seed=SEED_BASE + rep)
        learners = learners_for(policy, config, live())
        no_unseen: list[Context] = []
        run_live(learners, quiet, traffic, traffic_ids, [], no_unseen, None, log)
        for name, depths in targets.items():
            truths[name].append(_on_policy(quiet, traffic, traffic_ids, name, config, live))
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


def _summary(
    rows: Mapping[str, Mapping[str, list[list[float]]]],
    truths: Mapping[str, list[tuple[float, float]]],
    n_reps: int,
    n_searches: int,
) -> dict[str, Any]:
    out: dict[str, Any] = {"n_replications": n_reps, "n_searches": n_searches, "targets": {}}
    for name, by_est in rows.items():
        truth = np.array(truths[name])  # (reps, 2)
        block: dict[str, Any] = {
            "truth": float(truth[:, 0].mean()),
            "truth_relevant": float(truth[:, 1].mean()),
        }
        for est, values in by_est.items():
            a = np.array(values)  # (reps, 4): value, low, high, ess
            cover = (a[:, 1] <= truth[:, 0]) & (truth[:, 0] <= a[:, 2])
            block[est] = {
                "coverage": float(cover.mean()),
                "mean_width": float((a[:, 2] - a[:, 1]).mean()),
                "mean_ess": float(a[:, 3].mean()),
                "mean_error": float((a[:, 0] - truth[:, 0]).mean()),
            }
        out["targets"][name] = block
    return out

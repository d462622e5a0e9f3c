"""Off-policy evaluation checked inside the simulator (EVALUATION.md section 4).

Each replication draws fresh traffic (``ope_searches`` searches, seed ``1000 + r``), runs the
learned policy ``ltrr`` on it exactly as ``simulate`` does (exploring, learning, logging every
plan with its probabilities, the shown page and the user's actions), and keeps the log as
``ope.plans.LoggedSearch`` records. Each target (a fixed plan such as ``lexical@50`` or
``hybrid@25``) is then estimated by ``ope.plans.plan_ope`` from that log alone, once per
outcome (``relevant``, ``wanted``) and bootstrap unit (``search``, ``query``), reported as
``"<outcome>/<unit>"`` (``[ope]`` gives the rest), and compared with four true values:

- ``on_policy_relevant``: the target run on-policy on the same searches (same users, same
  click and found-elsewhere draws), its found-rate by the qrels: EVALUATION.md's truth;
- ``on_policy_live``: the same run's live found-rate (among its searches with a positive
  action, the share whose acted-on entity was among its candidates);
- ``logged_relevant`` and ``logged_wanted``: the estimands of the two outcomes, known here for
  every logged search since the target's lists are in the cache (the estimators see them only
  where the logged plan covered the target).

The estimands differ from the on-policy truths because feedback is selective and noisy: a
user acts on a miss only when finding the item elsewhere, clicks some non-relevant items, and
clicks one relevant item where the target may hold another. The ``relevant`` outcome judges
relevance per query from all of the log's clicks, which removes most of that difference; what
remains is reported, not hidden.

Per target, variant and estimator: the share of replications whose 95% interval covers each
truth, the mean and standard deviation of the error against each (a calibrated 95% interval is
about 4 standard deviations wide), the mean interval width and the mean effective sample size.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ltrr.config import Config
from ltrr.log.events import Action
from ltrr.log.rewards import RewardMap
from ltrr.ope.estimators import BOOTSTRAP_UNITS, OUTCOMES, OpeParams, ope_params
from ltrr.ope.plans import (
    LoggedSearch,
    found_probability,
    parse_target,
    plan_ope,
    query_groups,
    sought_entities,
)
from ltrr.retrieve.base import Retriever
from ltrr.select import make_policy
from ltrr.select.base import Plan, PlanRequest
from ltrr.simulate.live import Outcome, Progress, World, learners_for, run_live
from ltrr.simulate.traffic import Traffic, draw_traffic

#: Replication r draws its traffic with seed ``SEED_BASE + r`` (apart from the main runs').
SEED_BASE = 1000
#: The true values each estimate is scored against (module doc).
TRUTHS = ("on_policy_relevant", "on_policy_live", "logged_relevant", "logged_wanted")


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
    rows: dict[str, dict[str, dict[str, list[list[float]]]]] = {
        t: {f"{o}/{u}": {} for o in OUTCOMES for u in BOOTSTRAP_UNITS} for t in targets
    }
    truths: dict[str, list[tuple[float, ...]]] = {t: [] for t in targets}
    opep = dataclasses.replace(
        ope_params(config), n_bootstrap=params.ope_bootstrap, seed=params.bootstrap_seed
    )
    for rep in range(n_reps):
        traffic = draw_traffic(len(traffic_ids), n_searches, params, SEED_BASE + rep, taste)
        log = _Recorder(world.rewards)
        policy = make_policy("ltrr", config, seed=SEED_BASE + rep)
        learners = learners_for(policy, config, live())
        run_live(learners, quiet, traffic, traffic_ids, [], [], None, log)
        query_of = [traffic_ids[int(q)] for q in traffic.query]
        for name, depths in targets.items():
            on_policy = _on_policy(quiet, traffic, traffic_ids, name, config, live)
            logged = _logged_truths(world, query_of, log.searches, depths, opep)
            truths[name].append((*on_policy, *logged))
            for outcome in OUTCOMES:
                for unit in BOOTSTRAP_UNITS:
                    each = dataclasses.replace(opep, outcome=outcome, bootstrap_unit=unit)
                    variant = rows[name][f"{outcome}/{unit}"]
                    for est, e in plan_ope(log.searches, depths, each).items():
                        variant.setdefault(est, []).append([e.value, e.low, e.high, e.ess])
        tick("off-policy replications", rep + 1, n_reps)
    return _summary(rows, truths, n_reps, n_searches)


class _Recorder:
    """The ``run_live`` hook that keeps each search as the event log would hold it."""

    def __init__(self, rewards: RewardMap) -> None:
        self.rewards = rewards
        self.searches: list[LoggedSearch] = []

    def __call__(
        self, request: PlanRequest, plan: Plan, outcome: Outcome, actions: Sequence[Action]
    ) -> None:
        lists = {s: [c.entity_id for c in cs] for s, cs in outcome.lists.items()}
        positives = [e for e, r in self.rewards.entity_rewards(actions).items() if r > 0]
        wanted = self.rewards.wanted_item(actions)
        shown = tuple(outcome.shown)
        search = LoggedSearch(
            request.request_id, plan, lists, wanted, request, shown, tuple(positives)
        )
        self.searches.append(search)


def _on_policy(
    world: World,
    traffic: Traffic,
    traffic_ids: Sequence[str],
    target: str,
    config: Config,
    live: Callable[[], Mapping[str, Retriever]],
) -> tuple[float, float]:
    """The target run on ``traffic``: (found-rate by the qrels, live found-rate)."""
    seen = _Recorder(world.rewards)
    policy = make_policy(target, config, seed=0)
    learners = learners_for(policy, config, live())
    run = run_live(learners, world, traffic, traffic_ids, [], [], None, seen)
    acted = [s for s in seen.searches if s.wanted is not None]
    found = sum(any(s.wanted in ids for ids in s.strategy_results.values()) for s in acted)
    return float(run.found.mean()), found / max(len(acted), 1)


def _logged_truths(
    world: World,
    query_of: Sequence[str],
    log: Sequence[LoggedSearch],
    depths: Mapping[str, int],
    params: OpeParams,
) -> tuple[float, float]:
    """The estimands of both outcomes, over every logged search: (relevant, wanted).

    What ``plan_ope`` estimates from the covered searches alone; the simulator knows the
    target's lists for every search, since they are in the cache.
    """
    groups, n_groups = query_groups(log)
    out = []
    for outcome in OUTCOMES:
        each = dataclasses.replace(params, outcome=outcome)
        sought, _ = sought_entities(log, groups, n_groups, each)
        total, n = 0.0, 0
        for query_id, weights in zip(query_of, sought, strict=True):
            if not weights:
                continue
            held = {c.entity_id for s, d in depths.items() for c in world.cached[s][query_id][:d]}
            n += 1
            total += found_probability(held, weights)
        out.append(total / max(n, 1))
    return out[0], out[1]


def _summary(
    rows: Mapping[str, Mapping[str, Mapping[str, list[list[float]]]]],
    truths: Mapping[str, list[tuple[float, ...]]],
    n_reps: int,
    n_searches: int,
) -> dict[str, Any]:
    out: dict[str, Any] = {"n_replications": n_reps, "n_searches": n_searches, "targets": {}}
    for name, by_variant in rows.items():
        truth = np.array(truths[name])  # (reps, len(TRUTHS))
        block: dict[str, Any] = {t: float(truth[:, j].mean()) for j, t in enumerate(TRUTHS)}
        for variant, by_est in by_variant.items():
            block[variant] = {}
            for est, values in by_est.items():
                a = np.array(values)  # (reps, 4): value, low, high, ess
                scores: dict[str, float] = {
                    "mean_width": float((a[:, 2] - a[:, 1]).mean()),
                    "mean_ess": float(a[:, 3].mean()),
                }
                for j, t in enumerate(TRUTHS):
                    cover = (a[:, 1] <= truth[:, j]) & (truth[:, j] <= a[:, 2])
                    scores[f"coverage_{t}"] = float(cover.mean())
                    error = a[:, 0] - truth[:, j]
                    scores[f"mean_error_{t}"] = float(error.mean())
                    scores[f"sd_error_{t}"] = float(error.std(ddof=1)) if len(error) > 1 else 0.0
                block[variant][est] = scores
        out["targets"][name] = block
    return out

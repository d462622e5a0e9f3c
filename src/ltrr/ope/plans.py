"""Off-policy estimates of a target plan's found-rate from ltrr's logged searches.

DESIGN.md, "Off-policy estimates for plans": a target plan's outcome is observable from a
logged search whenever the logged plan *covers* the target (ran every strategy of the target at
least as deep), since every strategy's ranked list is logged; the importance weight is
``1[covered] / P(covered)``. What the outcome is depends on ``[ope] outcome``:

- ``"wanted"``: the target holds the search's wanted item (``[log.rewards]``). Searches with no
  wanted item are left out. Simple, but the estimand depends on the logging policy: a user acts
  on a miss only when finding the item elsewhere, so the logging policy's misses are
  under-represented, and a noise click, or a click on one relevant item when the target holds
  another, counts as the target's miss or hit.
- ``"relevant"`` (default): the target holds an entity relevant to the search's query, with
  relevance judged per query from every logged search of it by a click model
  (``ope.clicks``: cascade examination and a two-class mixture that learns the click noise).
  The outcome is the probability ``1 - prod(1 - P(relevant))`` over the target's candidates
  with evidence. Every search of a query the log judges to have a relevant entity (posterior
  above ``relevance_threshold``) then has an outcome, acted on or not, so the estimand is the
  found-rate over those searches by the log's relevance: EVALUATION.md's *found* with the
  qrels replaced by what the clicks reveal. Searches of other queries have no outcome: the
  value leaves them out, and the interval allows them any found-rate (``_bounded``), so that
  it is about every logged search.

Intervals come from a bootstrap that, for the ``relevant`` outcome, redoes every fit in each
replicate (``_replicate``): the click model is refitted to resampled (query, entity) pairs, every
pair's relevance is redrawn from the refitted posterior, and DR's reward model is refitted to
the resulting outcomes. The judgements are estimates too: an interval that held them fixed
would cover what the log's clicks say, not the found-rate. Searches are
grouped by their corrected query text (a search logged without its request is its own group);
the groups are the click model's queries and the DR reward model's cells. ``[ope]
bootstrap_unit`` = ``"search"`` (default) resamples searches: the estimate is about the logged
traffic, whose searches are independent given their queries and the logged propensities.
``"query"`` resamples whole queries instead, for inference about a population of queries, and
is far wider under Zipf traffic, where a few queries carry much of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from ltrr.config import Config, section_params, strategy_names
from ltrr.errors import PlanError
from ltrr.ope.clicks import ClickFit, Judgements, examinations, judge
from ltrr.ope.estimators import (
    BootstrapRunner,
    Estimate,
    FloatArray,
    IntArray,
    OpeError,
    OpeParams,
    Replicate,
    estimate_from_weights,
    ratio_estimates,
    resample_counts,
    run_replicates,
)
from ltrr.ope.reward_model import fold_ids, shrunk_means
from ltrr.select import SelectParams
from ltrr.select.base import Plan, PlanRequest, Policy, non_negative_int, plan_from_dict
from ltrr.select.fixed import parse_plan
from ltrr.types import Context, EntityId
from ltrr.understand.base import plain_query

BoolArray = npt.NDArray[np.bool_]
#: A target: fixed depths per strategy, or a policy whose greedy plan is evaluated per search.
Target = Mapping[str, int] | Policy


@dataclass(frozen=True, slots=True)
class LoggedSearch:
    """One logged search: the plan drawn, every strategy's ranked ids, what was shown and acted on.

    ``strategy_results[s]`` lists entity ids best first, down to the depth ``s`` ran to in
    ``plan``. ``wanted`` is the entity the user acted on positively (the reward mapping's
    choice), or ``None``. ``shown`` is the displayed page, best first, and ``positives`` the
    entities with a positive action, in action order (``(wanted,)`` when not logged).
    ``request`` is what the policy saw; it is needed only when the target is a ``Policy``, and
    its corrected query text groups searches.
    """

    request_id: str
    plan: Plan
    strategy_results: Mapping[str, Sequence[str]]
    wanted: EntityId | None
    request: PlanRequest | None = None
    shown: Sequence[EntityId] = ()
    positives: Sequence[EntityId] = ()

    @property
    def acted(self) -> Sequence[EntityId]:
        """The entities acted on positively: ``positives``, else the wanted item if any."""
        if self.positives:
            return self.positives
        return (self.wanted,) if self.wanted is not None else ()


def parse_target(spec: str, config: Config | None = None) -> dict[str, int]:
    """Depths of the fixed plan named ``spec``, as the simulator names them.

    ``lexical@50``, ``lexical@25+dense@25``, ``hybrid@D`` (= lexical@D + dense@D: RRF
    reorders candidates but draws the same set, and *found* depends only on the set),
    ``hybrid`` and ``union`` (every ``[select]`` strategy at the deepest grid depth); parsed by
    ``select.fixed.parse_plan`` so that names cannot drift.
    """
    select = section_params(config, "select", SelectParams)
    return parse_plan(spec, select, strategy_names(config))


def _ids(value: object, where: str) -> tuple[str, ...]:
    """Ranked ids from ``[[id, score], ...]``, ``[id, ...]`` or columns ``{"ids": [...]}``."""
    if isinstance(value, Mapping):
        value = value.get("ids")
    if not isinstance(value, list | tuple):
        raise OpeError(f"{where} must be a list of [entity_id, score], got {value!r}")
    return tuple(str(item[0] if isinstance(item, list | tuple) else item) for item in value)


def _entity_list(value: object, where: str) -> tuple[EntityId, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise OpeError(f"{where} must be a list of entity ids, got {value!r}")
    return tuple(EntityId(v) for v in value)


def logged_searches_from(records: Iterable[Mapping[str, Any]]) -> list[LoggedSearch]:
    """Logged searches from event-log records.

    Each record is ``{"request_id", "plan": Plan.to_dict(), "strategy_results": {strategy:
    [[entity_id, score], ...]}, "wanted": entity_id or None}`` (a strategy's list may also be
    the event log's columns ``{"ids": [...], "scores": [...]}``), optionally with ``"shown"``
    and ``"positives"`` (entity ids) and ``"query"`` (the raw text): the request is then
    rebuilt with plain normalisation (no spelling correction, no features), enough to group
    searches and to evaluate fixed plans, not to replay a learned policy.
    """
    out = []
    for n, record in enumerate(records, start=1):
        rid = record.get("request_id")
        if not isinstance(rid, str) or not rid:
            raise OpeError(f"record {n}: request_id must be a non-empty string, got {rid!r}")
        where = f"record {n} (request {rid})"
        plan_in, results, wanted = (record.get(k) for k in ("plan", "strategy_results", "wanted"))
        if not isinstance(plan_in, Mapping) or not isinstance(results, Mapping):
            raise OpeError(f"{where}: plan and strategy_results must be objects")
        if wanted is not None and not isinstance(wanted, str):
            raise OpeError(f"{where}: wanted must be an entity id or null, got {wanted!r}")
        try:
            plan = plan_from_dict(plan_in)
        except PlanError as exc:
            raise OpeError(f"{where}: {exc}") from None
        query = record.get("query")
        budget = non_negative_int(record.get("budget", 0), f"{where}: budget")
        request = (
            PlanRequest(rid, plain_query(query), Context(), budget)
            if isinstance(query, str)
            else None
        )
        lists = {str(s): _ids(v, f"{where}: strategy_results.{s}") for s, v in results.items()}
        wanted_id = EntityId(wanted) if wanted is not None else None
        shown = _entity_list(record.get("shown"), f"{where}: shown")
        positives = _entity_list(record.get("positives"), f"{where}: positives")
        out.append(LoggedSearch(rid, plan, lists, wanted_id, request, shown, positives))
    return out


def query_groups(searches: Sequence[LoggedSearch]) -> tuple[IntArray, int]:
    """Per search, a group id by corrected query text (no request: its own group); (ids, n)."""
    codes: dict[str, int] = {}
    keys = [
        codes.setdefault(
            "q:" + s.request.query.corrected if s.request is not None else "r:" + s.request_id,
            len(codes),
        )
        for s in searches
    ]
    return np.asarray(keys, dtype=np.int64), len(codes)


def _target_depths(searches: Sequence[LoggedSearch], target: Target) -> list[Mapping[str, int]]:
    """Per search, the depths the target would run: fixed, or the policy's greedy plan."""
    if not isinstance(target, Policy):
        fixed = {s: int(d) for s, d in target.items() if d > 0}
        return [fixed] * len(searches)
    out: list[Mapping[str, int]] = []
    for search in searches:
        if search.request is None:
            raise OpeError(
                f"request {search.request_id} was logged without its request: a policy target "
                "needs one per search (a fixed plan does not)"
            )
        out.append(target.plan(search.request).greedy)
    return out


def _observe(
    searches: Sequence[LoggedSearch],
    targets: Sequence[Mapping[str, int]],
    sought: Sequence[Mapping[EntityId, float]],
) -> tuple[FloatArray, npt.NDArray[np.bool_], FloatArray, list[list[EntityId]]]:
    """(outcome, covered, pscore, held); pscore = P(cover) where covered, else 1.

    ``outcome[i]`` (where covered): ``1 - prod(1 - sought[i][e])`` over the distinct entities
    ``e`` of the target's top-d lists, so 1 when the lists hold a surely sought entity;
    ``held[i]``: those of the entities with a positive weight.
    """
    strategies = sorted({s for t in targets for s, d in t.items() if d > 0})
    ran = {s for x in searches for s in (*x.plan.depths, *x.plan.greedy, *x.plan.explore)}
    never = [s for s in strategies if s not in ran]
    if never:
        raise OpeError(
            f"the target runs {', '.join(never)}, which no logged plan could run; "
            f"logged strategies: {', '.join(sorted(ran)) or 'none'}"
        )
    n = len(searches)
    outcome, covered, pscore = np.zeros(n), np.zeros(n, dtype=np.bool_), np.ones(n)
    held: list[list[EntityId]] = [[] for _ in range(n)]
    for i, (search, target, weights) in enumerate(zip(searches, targets, sought, strict=True)):
        asked = {s: d for s, d in target.items() if d > 0}
        if any(search.plan.depths.get(s, 0) < d for s, d in asked.items()):
            continue
        covered[i] = True
        lists = {
            EntityId(e) for s, d in asked.items() for e in search.strategy_results.get(s, ())[:d]
        }
        held[i] = sorted(e for e in lists if weights.get(e, 0.0) > 0.0)
        outcome[i] = found_probability(held[i], weights)
        pscore[i] = search.plan.coverage_probability(target)
        if pscore[i] <= 0.0:
            raise OpeError(
                f"request {search.request_id}: its plan covers the target but gives "
                "that a coverage probability of 0; the logged distributions are inconsistent"
            )
    return outcome, covered, pscore, held


def found_probability(held: Iterable[EntityId], weights: Mapping[EntityId, float]) -> float:
    """``1 - prod(1 - weights[e])`` over the distinct ``held`` entities: the chance that they
    include a sought one, when each is sought independently with its weight (0 if absent)."""
    miss = 1.0
    for e in set(held):
        miss *= 1.0 - weights.get(e, 0.0)
    return 1.0 - miss


def sought_entities(
    logged: Sequence[LoggedSearch], groups: IntArray, n_groups: int, params: OpeParams
) -> tuple[list[Mapping[EntityId, float]], ClickFit | None]:
    """Per search, ``{entity: weight}`` its outcome looks for (module doc), and the click fit.

    Empty for a search that has no outcome: no wanted item, or a query the log judges to have
    no relevant entity.
    """
    weights, kept, judged = _outcome_weights(logged, groups, n_groups, params)
    sought = [w if k else {} for w, k in zip(weights, kept.tolist(), strict=True)]
    return sought, judged.fit if judged is not None else None


def _outcome_weights(
    logged: Sequence[LoggedSearch], groups: IntArray, n_groups: int, params: OpeParams
) -> tuple[list[Mapping[EntityId, float]], BoolArray, Judgements | None]:
    """Per search, ``{entity: weight}`` its outcome would look for and whether it has an
    outcome; the click model's judgements under the relevant outcome."""
    if params.outcome == "wanted":
        weights: list[Mapping[EntityId, float]] = [
            {s.wanted: 1.0} if s.wanted is not None else {} for s in logged
        ]
        return weights, np.array([bool(w) for w in weights], dtype=np.bool_), None
    judged = judge(examinations(logged, groups.tolist()))
    judgements = judged.by_group(n_groups)
    kept = _included(judged.pair_group, judged.relevant, n_groups, params)[groups]
    return [judgements[g] for g in groups.tolist()], kept, judged


def _plan_reward_model(
    found: FloatArray, iw: FloatArray, keys: IntArray, n_keys: int, params: OpeParams
) -> FloatArray:
    """Cross-fitted q(x_i, target): the query's found-rate over covered searches of other folds.

    Each query's mean is shrunk toward the other folds' SNIPS estimate by ``prior_weight``
    pseudo-searches, so a query seen once or never predicts about the overall rate.
    """
    folds = fold_ids(len(found), params.n_folds, params.seed)
    q = np.empty(len(found))
    for k in range(params.n_folds):
        test = folds == k
        train = ~test if (~test).any() else np.ones_like(test)
        weight = iw[train].sum()
        # einsum, not @: the same bits whatever BLAS's thread count (clicks._rate)
        prior = float(np.einsum("i,i->", iw[train], found[train]) / weight) if weight > 0 else 0.0
        seen = train & (iw > 0)
        means = shrunk_means(keys[seen], found[seen], n_keys, prior, params.prior_weight)
        q[test] = means[keys[test]]
    return q


def plan_ope(
    logged: Sequence[LoggedSearch],
    target: Target,
    params: OpeParams | None = None,
    runner: BootstrapRunner = run_replicates,
) -> dict[str, Estimate]:
    """IPS, SNIPS and DR estimates of a target's found-rate from logged searches.

    The outcome of a search is ``[ope] outcome`` (module doc), observed whenever the logged
    plan covers the target. The importance weight is ``iw_i = 1[covered_i] / pscore_i`` with
    ``pscore_i = plan_i.coverage_probability(target_i)``, the logging policy's probability of
    covering the target (exact under ltrr's explicit greedy/explore mixture), which makes IPS
    unbiased for the estimand.

    A ``Policy`` target is evaluated through its deterministic greedy plan per search
    (``target.plan(request).greedy``): for an exploring target this is its value with
    exploration switched off. DR's reward model is each query group's found-rate,
    cross-fitted over ``params.n_folds`` folds. A strategy's top ``d`` is taken as the first
    ``d`` of its deeper logged list, as holds for top-k retrievers with deterministic
    tie-breaks.

    Under the relevant outcome the bootstrap (every fit redone per replicate) is nearly all of
    the time; ``runner`` runs its replicates, in this process by default or as Ray tasks
    (``ope.on_ray``), with the same numbers either way.
    """
    params = params or OpeParams()
    if params.outcome == "wanted":
        n_logged, logged = len(logged), [s for s in logged if s.wanted is not None]
        if not logged:
            raise OpeError(f"none of {n_logged} logged searches has a wanted item")
    groups, n_groups = query_groups(logged)
    targets = _target_depths(logged, target)
    weights, kept, judged = _outcome_weights(logged, groups, n_groups, params)
    if not kept.any():
        raise OpeError(
            f"no query of the {len(logged)} logged searches has an entity judged relevant"
        )
    y, covered, pscore, held = _observe(logged, targets, weights)
    iw = covered / pscore
    k = np.flatnonzero(kept)
    q = _plan_reward_model(y[k], iw[k], groups[k], n_groups, params)
    if judged is None:
        clusters = groups[k] if params.bootstrap_unit == "query" else None
        return estimate_from_weights(y[k], iw[k], q, q, params, clusters)
    replicate = _replicate(judged, groups, n_groups, held, iw, params)
    estimates = estimate_from_weights(y[k], iw[k], q, q, params, replicate=replicate, runner=runner)
    return {name: _bounded(e, len(k) / len(logged)) for name, e in estimates.items()}


def _bounded(estimate: Estimate, share: float) -> Estimate:
    """The interval widened to the found-rate over every logged search, when only ``share``
    of them have an outcome (the rest: queries with no entity judged relevant).

    Nothing in the log says whether a target finds something relevant for a query whose
    relevant entities were never clicked, so their found-rate could be anything in [0, 1]
    (a worst-case bound, Manski 1989): the found-rate over all searches lies in
    ``[share * V, share * V + 1 - share]`` where ``V`` is the rate over those with an
    outcome. The value stays ``V``, which assumes the others are found alike. Without the
    bound, the interval covered the judged searches' rate and missed the overall one
    whenever the unjudged ones differ; in simulation they are the queries whose relevant
    entities no strategy ranks high, found far less often.
    """
    return replace(estimate, low=estimate.low * share, high=estimate.high * share + 1 - share)


def _included(
    pair_group: IntArray, relevant: FloatArray, n_groups: int, params: OpeParams
) -> BoolArray:
    """Per group, whether some entity's P(relevant) exceeds ``relevance_threshold``."""
    best = np.zeros(n_groups)
    np.maximum.at(best, pair_group, relevant)
    out: BoolArray = best > params.relevance_threshold
    return out


def _replicate(
    judged: Judgements,
    groups: IntArray,
    n_groups: int,
    held: Sequence[Sequence[EntityId]],
    iw: FloatArray,
    params: OpeParams,
) -> Replicate:
    """One bootstrap replicate of ``plan_ope`` under the relevant outcome, every fit redone.

    The click model is refitted to resampled pairs (``Judgements.replicate``), and which
    queries are included follows the refit; each (query, entity) pair is drawn relevant once
    with its refitted posterior, shared by every search of the query; the searches (or whole
    queries) are resampled; a search's outcome is whether the target holds a drawn-relevant
    entity; and DR's reward model is refitted to those outcomes. Each step is an estimate from
    the same log, so each adds to the spread: with the judgements held fixed the intervals
    covered what the log's clicks say, not the found-rate.
    """
    index = {pair: j for j, pair in enumerate(judged.pairs)}
    rows, cols = [], []
    for i, (g, entities) in enumerate(zip(groups.tolist(), held, strict=True)):
        for e in entities:
            rows.append(i)
            cols.append(index[g, e])
    on_search, on_pair = np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)
    pair_group = judged.pair_group
    n = len(groups)
    units, n_units = (groups, n_groups) if params.bootstrap_unit == "query" else (np.arange(n), n)

    def replicate(rng: np.random.Generator) -> FloatArray:
        counts = resample_counts(rng, units, n_units)
        p = judged.replicate(rng)
        relevant = rng.random(len(p)) < p
        y = (np.bincount(on_search, relevant[on_pair], n) > 0).astype(np.float64)
        kept = _included(pair_group, p, n_groups, params)[groups] & (counts > 0)
        k = np.flatnonzero(kept)
        q = _plan_reward_model(y[k], iw[k], groups[k], n_groups, params)
        return ratio_estimates(y[k], iw[k], (q, q), counts[k])

    return replicate

"""The simulation report: EVALUATION.md section 3's JSON, for every policy.

Per policy: ``head`` and ``tail`` blocks (``found_rate``, ``candidates_per_search``,
``ndcg@10``, ``mrr@10``), ``cumulative_regret``, ``gap_closed`` (and ``gap_closed_head``),
``worst_window_vs_hybrid``, each ``{"mean", "std"}`` over seeds (sample std, 0 for one seed;
definitions in ``compare``). Plus the Pareto frontier of fixed plans (tail candidates vs
tail found-rate), paired bootstrap 95% intervals of each learned policy minus ``hybrid`` on
the unseen pool (per query, learned values averaged over seeds; queries resampled), learning
curves (``plots``), the learned plans per query class, and ``checks``: issue 5's
acceptance comparisons for the first learned policy (``checks``).

Per query (``per_query``): for every learned policy, seed and unseen query, what the policy
did at its last tail point beside the oracle and the fixed plan it is compared with; the
report keeps their summary (``per_query``) and the points of the cost-vs-found plot
(``cost_vs_found``: every fixed plan, the oracle and each seed's learned tail).

``decomposition``: per learned policy, where its candidates went (``decompose``): exploration's
share of the run's candidates, the tail's plan beside the posterior-mean plan (also with the
anchors free to go and at 10 and 100 times the price), the anchors alone, and each arm's
predicted P(found) beside the found-rate it has on the unseen pool.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ltrr import __version__
from ltrr.simulate.checks import checks
from ltrr.simulate.compare import (
    METRICS,
    Array,
    Compare,
    IntArray,
    Static,
    frontier,
    summary,
)
from ltrr.simulate.decompose import decomposition_summary
from ltrr.simulate.fixed import FixedSet, PlanTable
from ltrr.simulate.live import LiveRun
from ltrr.simulate.params import SimulateParams
from ltrr.simulate.per_query import per_query_rows, per_query_summary
from ltrr.simulate.plots import curves
from ltrr.simulate.policies import HYBRID, ORACLE, UNION, PolicySpec
from ltrr.simulate.pools import Pools


def _entry(
    per_seed: list[dict[str, Any]], kind: str, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    entry: dict[str, Any] = {"kind": kind, **(extra or {})}
    for block in ("head", "tail"):
        entry[block] = {m: summary([s[block][m] for s in per_seed]) for m in METRICS}
    for key in ("cumulative_regret", "gap_closed", "gap_closed_head", "worst_window_vs_hybrid"):
        entry[key] = summary([s[key] for s in per_seed])
    return entry


def build_report(
    *,
    specs: Sequence[PolicySpec],
    fixed: FixedSet,
    table: PlanTable,
    pools: Pools,
    runs: Mapping[str, list[LiveRun]],
    params: SimulateParams,
    traffic: Mapping[int, IntArray],
) -> dict[str, Any]:
    """The JSON report (module docstring) from the fixed-plan table and the learned runs."""
    static = Static(table, fixed, len(pools.traffic))
    compare = Compare(static, fixed, params, traffic)
    policies: dict[str, Any] = {}
    for spec in specs:
        if spec.kind == "learned":
            per = [compare.live_seed(r) for r in runs[spec.name]]
            extra = {
                "regret_reference": [p["regret_reference"] for p in per],
                "tail_reference": [p["tail_reference"] for p in per],
                "taught_share": summary([r.n_taught / len(r.found) for r in runs[spec.name]]),
                "found_elsewhere_share": summary(
                    [r.n_found_elsewhere / len(r.found) for r in runs[spec.name]]
                ),
            }
            if spec.lambdamart:  # each seed's retrains: accepted or not, and why
                extra["ranker_training"] = [r.ranker_training for r in runs[spec.name]]
            policies[spec.name] = _entry(per, "learned", extra)
        else:
            row = static.oracle if spec.kind == "oracle" else fixed.alias[spec.name]
            extra = {} if spec.kind == "oracle" else {"depths": dict(fixed.depths[row])}
            per = [compare.static_seed(row, s) for s in params.seeds]
            policies[spec.name] = _entry(per, spec.kind, extra)
    learned = [s.name for s in specs if s.kind == "learned"]
    report: dict[str, Any] = {
        "ltrr_version": __version__,
        "n_searches": params.n_searches,
        "seeds": params.seeds,
        "window": params.window,
        "found_elsewhere": params.found_elsewhere,
        "pools": pools.describe(),
        "policies": policies,
        "pareto_frontier": pareto(fixed, static),
        "bootstrap": {
            **{
                f"{name} - {HYBRID}": bootstrap(runs[name], static, compare.hybrid, params)
                for name in learned
            },
            **{
                f"{a} - {b}": paired(runs[a], _tails(runs[b]), params)
                for a, b in ranker_pairs(specs)
            },
        },
        "learned_plans": {name: learned_plans(runs[name], pools) for name in learned},
        "decomposition": {name: decomposition_summary(runs[name]) for name in learned},
        "per_query": {
            "policies": per_query_summary(
                per_query_rows({n: runs[n] for n in learned}, table, fixed, pools), params
            )
        },
        "cost_vs_found": cost_vs_found({n: runs[n] for n in learned}, static),
        "curves": _curves(specs, runs, compare, traffic),
        "params": asdict(params),
    }
    if learned:
        report["checks"] = checks(learned[0], report, compare)
    return report


def _curves(
    specs: Sequence[PolicySpec],
    runs: Mapping[str, list[LiveRun]],
    compare: Compare,
    traffic: Mapping[int, IntArray],
) -> dict[str, Any]:
    """Curves of the learned policies, hybrid, union, oracle, the learned policies' tail
    references and (up to 6) requested fixed plans."""
    static, fixed, n = compare.static, compare.fixed, compare.params.n_searches
    learned = [s.name for s in specs if s.kind == "learned"]
    named = [s.name for s in specs if s.kind == "fixed"]
    rows = {HYBRID: fixed.alias[HYBRID], UNION: fixed.alias[UNION], ORACLE: static.oracle}
    rows.update({name: fixed.alias[name] for name in (named if len(named) <= 6 else [])})
    for name in learned[:1]:
        reference = compare.live_seed(runs[name][0])["tail_reference"]
        if reference is not None:
            rows.setdefault(reference, fixed.alias[reference])
    series: dict[str, list[tuple[Array, Array]]] = {
        name: [(r.found, r.candidates) for r in runs[name]] for name in learned
    }
    for name, row in rows.items():
        series[name] = [
            (static.per_search("found", row, seq), static.per_search("candidates", row, seq))
            for seq in traffic.values()
        ]
    tails = {
        name: [
            [(p.at_search, p.found.mean(), p.candidates.mean(), p.ndcg.mean()) for p in r.tail]
            for r in runs[name]
        ]
        for name in learned
    }
    return curves(series, tails, n, compare.params.curve_window)


def pareto(fixed: FixedSet, static: Static) -> list[dict[str, Any]]:
    """Fixed plans no other beats on both tail cost and tail found-rate, cheapest first."""
    cost = static.tail["candidates"][: static.n_fixed]
    found = static.tail["found"][: static.n_fixed]
    return [
        {
            "policy": fixed.names[row],
            "candidates_per_search": float(cost[row]),
            "found_rate": float(found[row]),
            "ndcg@10": float(static.tail["ndcg"][row]),
        }
        for row in frontier(cost, found).tolist()
    ]


def cost_vs_found(runs: Mapping[str, Sequence[LiveRun]], static: Static) -> dict[str, Any]:
    """Unseen-pool points of the cost-vs-found plot (``plots``): every fixed plan (in the
    order of the fixed-plan table), the oracle, and each learned policy's last tail point per
    seed; candidates per search rounded to 3 decimals, found-rates to 6."""

    def point(cost: float, found: float) -> dict[str, float]:
        return {"candidates_per_search": round(cost, 3), "found_rate": round(found, 6)}

    n, oracle = static.n_fixed, static.oracle
    learned = {
        name: {
            "seeds": [r.seed for r in per_seed],
            "candidates_per_search": [
                round(float(r.tail[-1].candidates.mean()), 3) for r in per_seed
            ],
            "found_rate": [round(float(r.tail[-1].found.mean()), 6) for r in per_seed],
        }
        for name, per_seed in runs.items()
    }
    return {
        "fixed": {
            "candidates_per_search": np.round(static.tail["candidates"][:n], 3).tolist(),
            "found_rate": np.round(static.tail["found"][:n], 6).tolist(),
        },
        "oracle": point(
            float(static.tail["candidates"][oracle]), float(static.tail["found"][oracle])
        ),
        "learned": learned,
    }


def bootstrap(
    runs: Sequence[LiveRun], static: Static, hybrid: int, params: SimulateParams
) -> dict[str, Any]:
    """Paired bootstrap over unseen queries of (learned, mean over seeds) - hybrid."""
    baseline = {key: static.values[key][hybrid, static.n_traffic :] for key in ("found", "ndcg")}
    out = paired(runs, baseline, params)
    out["n_queries"] = int(static.values["found"].shape[1] - static.n_traffic)
    return out


def ranker_pairs(specs: Sequence[PolicySpec]) -> list[tuple[str, str]]:
    """(LambdaMART policy, its baseline) pairs to compare on the same traffic: against the
    policy with its fusion alone, and each debiased variant against the uncorrected one."""
    names = {s.name for s in specs if s.kind == "learned"}
    pairs = []
    for spec in specs:
        if not spec.lambdamart:
            continue
        if spec.policy_name in names:
            pairs.append((spec.name, spec.policy_name))
        uncorrected = f"{spec.policy_name}+lambdamart:none"
        if spec.debias not in ("", "none") and uncorrected in names:
            pairs.append((spec.name, uncorrected))
    return pairs


def _tails(runs: Sequence[LiveRun]) -> dict[str, NDArray[np.float64]]:
    """Per unseen query, the metrics of the runs' last tail point, mean over seeds."""
    return {
        key: np.mean([getattr(r.tail[-1], key) for r in runs], axis=0) for key in ("found", "ndcg")
    }


def paired(
    runs: Sequence[LiveRun], baseline: Mapping[str, NDArray[np.float64]], params: SimulateParams
) -> dict[str, Any]:
    """Paired bootstrap over unseen queries of (learned, mean over seeds) - ``baseline``."""
    rng = np.random.default_rng(params.bootstrap_seed)
    out: dict[str, Any] = {"n_resamples": params.n_bootstrap}
    for metric, key in (("found_rate", "found"), ("ndcg@10", "ndcg")):
        learned = np.mean([getattr(r.tail[-1], key) for r in runs], axis=0)
        diff = learned - baseline[key]
        n = len(diff)
        means = np.empty(params.n_bootstrap)
        for start in range(0, params.n_bootstrap, 256):
            size = min(256, params.n_bootstrap - start)
            means[start : start + size] = diff[rng.integers(0, n, (size, n))].mean(axis=1)
        low, high = np.percentile(means, [2.5, 97.5])
        out[metric] = {"mean": float(diff.mean()), "low": float(low), "high": float(high)}
    return out


def learned_plans(runs: Sequence[LiveRun], pools: Pools) -> dict[str, Any]:
    """Per query class, the tail plans the learned policy chose at the end of the run."""
    by_class: dict[str, Counter[str]] = {}
    strategies: dict[str, Counter[str]] = {}
    for run in runs:
        for query_id, plan in zip(pools.unseen, run.tail[-1].plans, strict=True):
            cls = pools.classes.get(query_id) or "all"
            by_class.setdefault(cls, Counter())[plan] += 1
            for part in plan.split("+") if plan else ():
                strategies.setdefault(cls, Counter())[part.partition("@")[0]] += 1
    out = {}
    for cls, plans in sorted(by_class.items()):
        total = sum(plans.values())
        out[cls] = {
            "n_plans": total,
            "top_plans": [{"plan": p, "share": c / total} for p, c in plans.most_common(5)],
            "strategy_share": {
                s: c / total for s, c in sorted(strategies.get(cls, Counter()).items())
            },
        }
    return out

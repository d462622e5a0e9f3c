"""Issue 5's acceptance comparisons, computed for a learned policy and reported as they are.

The targets (``TARGETS``) are the issue's numbers; nothing here is tuned to a data set. Values
are means over seeds; a fixed plan's tail is the same every seed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ltrr.simulate.compare import Compare, best_at_cost, summary
from ltrr.simulate.policies import HYBRID, UNION

#: Issue 5's acceptance targets, reported as they are (never tuned to a data set).
TARGETS: dict[str, float] = {
    "tail_tolerance": 0.005,
    "tail_vs_union": 0.97,
    "tail_ndcg_vs_hybrid": -0.01,
    "head_found_vs_union": 0.99,
    "head_candidates_vs_union": 0.25,
    "head_ndcg": 0.85,
    "worst_window_vs_hybrid": -0.02,
}


def checks(name: str, report: Mapping[str, Any], compare: Compare) -> dict[str, Any]:
    """Issue 5's acceptance comparisons for learned policy ``name`` (means over seeds)."""
    entry = report["policies"][name]
    static, fixed, seeds = compare.static, compare.fixed, list(compare.scalars)
    union = fixed.alias[UNION]

    def mean(block: str, metric: str) -> float:
        return float(entry[block][metric]["mean"])

    def head_of(row: int, key: str) -> float:
        return float(np.mean([compare.scalars[s]["head"][key][row] for s in seeds]))

    t = TARGETS
    tail_found, tail_cost = mean("tail", "found_rate"), mean("tail", "candidates_per_search")
    row, best = best_at_cost(compare.tail_cost, compare.tail_found, tail_cost)
    union_tail = float(static.tail["found"][union])
    ndcg_diff = mean("tail", "ndcg@10") - float(static.tail["ndcg"][compare.hybrid])
    interval = report["bootstrap"][f"{name} - {HYBRID}"]["ndcg@10"]
    head_found = mean("head", "found_rate") / max(head_of(union, "found"), 1e-12)
    head_cost = mean("head", "candidates_per_search") / max(head_of(union, "candidates"), 1e-12)
    singles = [r for r in range(fixed.n_grid) if len(fixed.depths[r]) == 1]
    single_regret = {
        fixed.names[r]: summary([compare.static_seed(r, s)["cumulative_regret"] for s in seeds])[
            "mean"
        ]
        for r in singles
    }
    regret = entry["cumulative_regret"]["mean"]
    worst_mean = entry["worst_window_vs_hybrid"]["mean"]
    return {
        "policy": name,
        "targets": t,
        "tail_vs_fixed_at_cost": {
            "found_rate": tail_found,
            "candidates_per_search": tail_cost,
            "best_fixed": None if row is None else fixed.names[row],
            "best_fixed_found_rate": None if row is None else best,
            "best_fixed_candidates_per_search": None
            if row is None
            else float(compare.tail_cost[row]),
            "pass": row is None or tail_found >= best - t["tail_tolerance"],
        },
        "tail_vs_union": {
            "ratio": tail_found / max(union_tail, 1e-12),
            "pass": tail_found >= t["tail_vs_union"] * union_tail,
        },
        "tail_ndcg_vs_hybrid": {
            "difference": ndcg_diff,
            "interval": [interval["low"], interval["high"]],
            "pass": ndcg_diff >= t["tail_ndcg_vs_hybrid"],
        },
        "head_vs_union": {
            "found_ratio": head_found,
            "candidates_ratio": head_cost,
            "pass": head_found >= t["head_found_vs_union"]
            and head_cost <= t["head_candidates_vs_union"],
        },
        "head_ndcg": {
            "value": mean("head", "ndcg@10"),
            "pass": mean("head", "ndcg@10") >= t["head_ndcg"],
        },
        "regret_vs_single_strategies": {
            "regret": regret,
            "single": single_regret,
            "pass": regret is not None
            and all(regret < v for v in single_regret.values() if v is not None),
        },
        "worst_window_vs_hybrid": {
            "mean": worst_mean,
            "pass": worst_mean is not None and worst_mean >= t["worst_window_vs_hybrid"],
        },
        "gap_closed": entry["gap_closed"],
    }

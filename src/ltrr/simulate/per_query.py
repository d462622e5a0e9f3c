"""What each learned policy did per unseen query, beside the oracle and its fixed reference.

``per_query_rows``: one row per learned policy, seed and unseen query at the last tail point
(``PER_QUERY_COLUMNS``); ``ltrr simulate`` writes them as a CSV beside the report
(``write_per_query``) and the report keeps ``per_query_summary``: a few numbers per policy,
and the share of the static-to-oracle gap closed with a paired bootstrap interval over the
unseen queries (``gap_closed_interval``), which the issue's "interval above 0" asks for and
the per-seed spread of ``compare.gap_closed`` cannot give with three seeds.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ltrr.simulate.compare import best_at_cost, summary
from ltrr.simulate.fixed import FixedSet, PlanTable, oracle_rows
from ltrr.simulate.live import LiveRun
from ltrr.simulate.params import SimulateParams
from ltrr.simulate.pools import Pools

#: Columns of the per-query file, in order (``per_query_rows`` gives their meaning).
PER_QUERY_COLUMNS: tuple[str, ...] = (
    "policy", "seed", "at_search", "query_id", "query_class",
    "plan", "candidates", "found", "ndcg@10",
    "oracle_plan", "oracle_candidates", "oracle_found",
    "reference_plan", "reference_candidates", "reference_found",
)  # fmt: skip


def per_query_rows(
    runs: Mapping[str, Sequence[LiveRun]], table: PlanTable, fixed: FixedSet, pools: Pools
) -> list[dict[str, Any]]:
    """One row per learned policy, seed and unseen query (``PER_QUERY_COLUMNS``).

    ``plan``, ``candidates``, ``found``, ``ndcg@10``: the policy's greedy plan at its last tail
    point (``at_search``) and its outcome, as the report's tail metrics count them.
    ``oracle_*``: the cheapest single, pair or triple grid plan that finds for this query
    (``fixed.oracle_rows``), ``oracle_found`` 0 when none does (then the cheapest plan).
    ``reference_*``: the seed's tail reference, the fixed plan with the highest unseen
    found-rate among those no costlier on the unseen pool than the policy (``compare``; empty
    when none is). ``found`` columns are 1 or 0; ``query_class`` is empty without one.
    """
    col = {q: j for j, q in enumerate(table.query_ids)}
    cols = np.array([col[q] for q in pools.unseen], dtype=np.int64)
    oracle = oracle_rows(table, np.arange(fixed.n_grid))[cols]
    tail = {k: v.mean(axis=1) for k, v in table.metrics(slice(None), cols).items()}
    rows = []
    for policy, per_seed in runs.items():
        for run in per_seed:
            last = run.tail[-1]
            ref, _ = best_at_cost(tail["candidates"], tail["found"], float(last.candidates.mean()))
            for j, query_id in enumerate(pools.unseen):
                c = int(cols[j])
                rows.append(
                    {
                        "policy": policy, "seed": run.seed, "at_search": last.at_search,
                        "query_id": query_id, "query_class": pools.classes.get(query_id) or "",
                        "plan": last.plans[j], "candidates": int(last.candidates[j]),
                        "found": int(last.found[j]), "ndcg@10": round(float(last.ndcg[j]), 6),
                        **_fixed_cells("oracle", int(oracle[j]), c, table),
                        **_fixed_cells("reference", ref, c, table),
                    }
                )  # fmt: skip
    return rows


def _fixed_cells(prefix: str, row: int | None, col: int, table: PlanTable) -> dict[str, Any]:
    """Fixed plan ``row``'s name, candidates and found for query column ``col`` (empty cells
    when there is no such plan)."""
    if row is None:
        return {f"{prefix}_plan": "", f"{prefix}_candidates": "", f"{prefix}_found": ""}
    return {
        f"{prefix}_plan": table.names[row],
        f"{prefix}_candidates": int(table.candidates[row, col]),
        f"{prefix}_found": int(table.found[row, col]),
    }


def per_query_summary(
    rows: Sequence[Mapping[str, Any]], params: SimulateParams | None = None
) -> dict[str, Any]:
    """Per learned policy, the per-query rows in a few numbers, each ``{"mean", "std"}`` over
    seeds: found-rate and candidates beside the oracle's; ``found_where_oracle_found``, the
    share of the queries some grid plan finds that the policy found; ``found_where_oracle_
    missed``, queries it found that no grid plan does (a live strategy or an off-grid depth);
    ``cost_over_oracle``, its candidates over the oracle's, summed over the queries both found;
    ``same_plan_as_oracle``; and against the seed's tail reference, ``found_reference_missed``
    and ``missed_reference_found`` (queries, so where learning helps and where it costs);
    ``gap_closed``: ``gap_closed_interval``."""
    by_run: dict[str, dict[int, list[Mapping[str, Any]]]] = {}
    for row in rows:
        by_run.setdefault(row["policy"], {}).setdefault(row["seed"], []).append(row)
    out = {}
    for policy, seeds in by_run.items():
        per_seed = [_per_query_scalars(seed_rows) for seed_rows in seeds.values()]
        out[policy] = {
            "n_queries": len(next(iter(seeds.values()))),
            **{key: summary([s[key] for s in per_seed]) for key in per_seed[0]},
            "gap_closed": gap_closed_interval(list(seeds.values()), params or SimulateParams()),
        }
    return out


def gap_closed_interval(
    seeds: Sequence[Sequence[Mapping[str, Any]]], params: SimulateParams
) -> dict[str, float] | None:
    """The share of the static-to-oracle gap closed on the unseen pool, mean over seeds of
    ``(found - reference) / (oracle - reference)`` (as ``compare`` defines it per seed), with
    a 95% interval from resampling the unseen queries (the same resample for every seed, so
    seeds stay paired); None without a reference plan, or when a resample or the pool leaves
    no gap (the reference already finds what the oracle does)."""
    if any(r["reference_found"] == "" for rows in seeds for r in rows):
        return None
    found, ref, oracle = (
        np.array([[float(r[key]) for r in rows] for rows in seeds])
        for key in ("found", "reference_found", "oracle_found")
    )  # (seeds, queries), the same query order in every seed

    def gap(idx: NDArray[np.int64]) -> NDArray[np.float64]:
        """Mean over seeds (those with a gap) of each seed's gap closed on queries ``idx``
        ((n,) gives a scalar, (B, n) one value per resample)."""
        f, r, o = (m[:, idx].mean(axis=-1) for m in (found, ref, oracle))
        with np.errstate(divide="ignore", invalid="ignore"):
            per_seed = np.where(o - r > 0, (f - r) / np.maximum(o - r, 1e-12), np.nan)
        valid = np.isfinite(per_seed)
        out: NDArray[np.float64] = np.where(
            valid.any(axis=0), np.where(valid, per_seed, 0.0).sum(axis=0), np.nan
        ) / np.maximum(valid.sum(axis=0), 1)
        return out

    n = found.shape[1]
    point = float(gap(np.arange(n)))
    if not np.isfinite(point):
        return None
    rng = np.random.default_rng(params.bootstrap_seed)
    draws = gap(rng.integers(0, n, (params.n_bootstrap, n)))
    draws = draws[np.isfinite(draws)]
    low, high = np.percentile(draws, [2.5, 97.5]) if len(draws) else (np.nan, np.nan)
    return {"mean": point, "low": float(low), "high": float(high), "n_resamples": len(draws)}


def _per_query_scalars(rows: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
    found = np.array([r["found"] for r in rows], dtype=bool)
    oracle = np.array([r["oracle_found"] for r in rows], dtype=bool)
    cost = np.array([r["candidates"] for r in rows], dtype=np.float64)
    oracle_cost = np.array([r["oracle_candidates"] for r in rows], dtype=np.float64)
    both = found & oracle
    has_ref = [r["reference_found"] != "" for r in rows]
    ref = np.array([bool(r["reference_found"]) for r in rows], dtype=bool)
    return {
        "found_rate": float(found.mean()),
        "oracle_found_rate": float(oracle.mean()),
        "found_where_oracle_found": float(found[oracle].mean()) if oracle.any() else None,
        "found_where_oracle_missed": float((found & ~oracle).sum()),
        "candidates_per_search": float(cost.mean()),
        "oracle_candidates_per_search": float(oracle_cost.mean()),
        "cost_over_oracle": float(cost[both].sum() / oracle_cost[both].sum())
        if both.any()
        else None,
        "same_plan_as_oracle": float(np.mean([r["plan"] == r["oracle_plan"] for r in rows])),
        "found_reference_missed": float((found & ~ref).sum()) if all(has_ref) else None,
        "missed_reference_found": float((~found & ref).sum()) if all(has_ref) else None,
    }


def per_query_path(out: Path) -> Path:
    """Where the per-query CSV of report ``out`` goes: beside it, named after it."""
    stem = out.with_suffix("")
    return stem.with_name(f"{stem.name}-per-query.csv")


def write_per_query(path: Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    """``rows`` as a CSV with the header ``PER_QUERY_COLUMNS``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=PER_QUERY_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path

"""Any policy against the fixed plans: EVALUATION.md section 3's comparisons, per seed.

For one policy on one seed's traffic (fixed plans and the oracle scored on the same searches):

- ``head``: ``found_rate``, ``candidates_per_search``, ``ndcg@10``, ``mrr@10`` over the last
  ``window`` searches;
- ``tail``: the same four on the unseen pool, at the end of the run (learned policies: the
  last frozen tail point; fixed plans and oracle: their cached lists, the same every seed);
- ``cumulative_regret``: over all searches of the run, the number of searches the best fixed
  plan in hindsight found minus the policy's, among fixed plans whose mean candidates per
  search over the run is at most the policy's (negative: the policy beat all of them);
- ``gap_closed``: on the tail, ``(found - best) / (oracle - best)`` with ``best`` the highest
  tail found-rate of a fixed plan whose tail candidates per search are at most the policy's
  (``gap_closed_head``: the same on the last window); ``None`` when no fixed plan is that
  cheap or ``best`` already equals the oracle;
- ``worst_window_vs_hybrid``: the lowest found-rate difference to ``hybrid`` over every
  ``safety_window`` consecutive searches (a sliding window, same searches).

"Fixed plans" here are every evaluated fixed plan (the grid's, ``union``, named ones), never
the oracle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ltrr.simulate.fixed import FixedSet, PlanTable, oracle_rows
from ltrr.simulate.live import LiveRun
from ltrr.simulate.params import SimulateParams
from ltrr.simulate.policies import HYBRID

Array = NDArray[np.float64]
IntArray = NDArray[np.int64]
#: Report metric name -> key of the per-search arrays.
METRICS: dict[str, str] = {
    "found_rate": "found",
    "candidates_per_search": "candidates",
    "ndcg@10": "ndcg",
    "mrr@10": "mrr",
}
_CHUNK = 128


def summary(values: Sequence[float | None]) -> dict[str, float | None]:
    """``{"mean", "std"}`` over seeds, ignoring ``None``; sample std (0 for one value)."""
    kept = [float(v) for v in values if v is not None and np.isfinite(v)]
    if not kept:
        return {"mean": None, "std": None}
    std = float(np.std(kept, ddof=1)) if len(kept) > 1 else 0.0
    return {"mean": float(np.mean(kept)), "std": std}


def best_at_cost(costs: Array, values: Array, limit: float) -> tuple[int | None, float]:
    """Row with the highest value among rows whose cost is at most ``limit`` (+1e-9)."""
    ok = np.flatnonzero(costs <= limit + 1e-9)
    if not len(ok):
        return None, float("nan")
    best = int(ok[np.argmax(values[ok])])
    return best, float(values[best])


def frontier(costs: Array, values: Array) -> IntArray:
    """The upper-left (Pareto) frontier of points ``(costs, values)``, both (n,): the rows no
    other row beats on both (lower or equal cost and higher value), cheapest first, so that
    costs rise and values strictly rise along it; of equal points, the first row.

    >>> frontier(np.array([5.0, 3.0, 3.0, 8.0, 9.0]), np.array([0.5, 0.4, 0.6, 0.6, 0.9]))
    array([2, 4])
    """
    order = np.lexsort((np.arange(len(costs)), -values, costs))
    kept, best = [], -np.inf
    for row in order.tolist():
        if values[row] > best + 1e-12:
            best = float(values[row])
            kept.append(row)
    return np.array(kept, dtype=np.int64)


def sliding_min(diff: Array, width: int) -> float:
    """The lowest mean of ``diff`` over ``width`` consecutive entries (all, if fewer)."""
    width = min(width, len(diff))
    if width == 0:
        return float("nan")
    sums = np.cumsum(np.concatenate([[0.0], diff]))
    return float((sums[width:] - sums[:-width]).min() / width)


class Static:
    """Fixed plans plus the oracle as rows over all pool queries (traffic columns first)."""

    def __init__(self, table: PlanTable, fixed: FixedSet, n_traffic: int) -> None:
        pick = oracle_rows(table, np.arange(fixed.n_grid))
        cols = np.arange(len(table.query_ids))
        base = table.metrics(slice(None), slice(None))
        self.values = {k: np.vstack([v, v[pick, cols][None, :]]) for k, v in base.items()}
        self.n_fixed, self.oracle = len(table.names), len(table.names)
        self.n_traffic = n_traffic
        self.tail = {k: v[:, n_traffic:].mean(axis=1) for k, v in self.values.items()}

    def traffic(self, key: str) -> Array:
        return self.values[key][:, : self.n_traffic]

    def per_search(self, key: str, row: int, seq: IntArray) -> Array:
        out: Array = self.values[key][row, seq]
        return out


def _seed_scalars(
    static: Static, hybrid: int, seq: IntArray, params: SimulateParams
) -> dict[str, Any]:
    """Per-seed values of every static row: head (4), run cost and found total, worst window."""
    n = len(seq)
    w = min(params.window, n)
    counts_w = np.bincount(seq[n - w :], minlength=static.n_traffic)
    counts = np.bincount(seq, minlength=static.n_traffic)
    head = {k: static.traffic(k) @ counts_w / w for k in METRICS.values()}
    cost = static.traffic("candidates") @ counts / n
    total = static.traffic("found") @ counts
    hyb = static.per_search("found", hybrid, seq)
    worst = np.empty(len(cost))
    width = min(params.safety_window, n)
    for start in range(0, len(cost), _CHUNK):
        rows = static.values["found"][start : start + _CHUNK][:, seq] - hyb[None, :]
        sums = np.cumsum(np.hstack([np.zeros((len(rows), 1)), rows]), axis=1)
        worst[start : start + _CHUNK] = (sums[:, width:] - sums[:, :-width]).min(axis=1) / width
    return {"head": head, "cost": cost, "total": total, "worst": worst, "hybrid": hyb}


def _gap(found: float, best: float, oracle: float) -> float | None:
    if not np.isfinite(best) or oracle - best <= 1e-12:
        return None
    return (found - best) / (oracle - best)


class Compare:
    """Per-seed scalars of any policy against the fixed plans (module docstring)."""

    def __init__(
        self,
        static: Static,
        fixed: FixedSet,
        params: SimulateParams,
        traffic: Mapping[int, IntArray],
    ) -> None:
        self.static, self.fixed, self.params = static, fixed, params
        self.hybrid = fixed.alias[HYBRID]
        self.rows = np.arange(static.n_fixed)
        self.tail_cost = static.tail["candidates"][: static.n_fixed]
        self.tail_found = static.tail["found"][: static.n_fixed]
        self.oracle_tail = float(static.tail["found"][static.oracle])
        self.scalars = {s: _seed_scalars(static, self.hybrid, traffic[s], params) for s in traffic}

    def _versus(
        self,
        seed: int,
        head: Mapping[str, float],
        tail: Mapping[str, float],
        cost: float,
        total: float,
    ) -> dict[str, Any]:
        sc, rows = self.scalars[seed], self.rows
        regret_row, best_total = best_at_cost(sc["cost"][rows], sc["total"][rows], cost)
        tail_row, best_tail = best_at_cost(
            self.tail_cost, self.tail_found, tail["candidates_per_search"]
        )
        head_cost, head_found = sc["head"]["candidates"], sc["head"]["found"]
        _, best_head = best_at_cost(
            head_cost[rows], head_found[rows], head["candidates_per_search"]
        )
        oracle_head = float(head_found[self.static.oracle])
        return {
            "head": dict(head),
            "tail": dict(tail),
            "cumulative_regret": None if regret_row is None else float(best_total - total),
            "gap_closed": _gap(tail["found_rate"], best_tail, self.oracle_tail),
            "gap_closed_head": _gap(head["found_rate"], best_head, oracle_head),
            "regret_reference": None if regret_row is None else self.fixed.names[regret_row],
            "tail_reference": None if tail_row is None else self.fixed.names[tail_row],
        }

    def static_seed(self, row: int, seed: int) -> dict[str, Any]:
        """A fixed plan's (or the oracle's) scalars on one seed's traffic."""
        sc = self.scalars[seed]
        head = {m: float(sc["head"][k][row]) for m, k in METRICS.items()}
        tail = {m: float(self.static.tail[k][row]) for m, k in METRICS.items()}
        out = self._versus(seed, head, tail, float(sc["cost"][row]), float(sc["total"][row]))
        out["worst_window_vs_hybrid"] = float(sc["worst"][row])
        return out

    def live_seed(self, run: LiveRun) -> dict[str, Any]:
        """A learned policy's scalars on its run."""
        n = len(run.found)
        w = min(self.params.window, n)
        head = {m: float(getattr(run, k)[n - w :].mean()) for m, k in METRICS.items()}
        tail = {m: float(getattr(run.tail[-1], k).mean()) for m, k in METRICS.items()}
        out = self._versus(
            run.seed, head, tail, float(run.candidates.mean()), float(run.found.sum())
        )
        hybrid = self.scalars[run.seed]["hybrid"]
        out["worst_window_vs_hybrid"] = sliding_min(run.found - hybrid, self.params.safety_window)
        return out

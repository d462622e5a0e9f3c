"""Fixed plans by set operations on cached strategy lists: no simulation needed.

A fixed plan does not learn, so what it returns for a query is the same every time: its
candidates are the union of each strategy's cached list cut at the plan's depth, and the
ranking shown is the reciprocal rank fusion of those cut lists (``merge.rrf``, weight 1 for
every strategy). ``evaluate_plans`` computes, for every plan and query at once, the four
per-search metrics of EVALUATION.md section 3: *found* (a relevant item among the
candidates), *candidates* (distinct ids), ``ndcg@10`` and ``mrr@10`` of the top ``shown``.

Per query the strategies' lists become a rank matrix over the query's candidate universe
(columns in entity-id order), each arm (strategy, depth) a boolean row, and each plan the OR
(candidates, found) and the sum (RRF score) of its arms' rows, summed in strategy-name order
so that every float equals ``merge.rrf``'s. The shown top is ``merge.rrf``'s order exactly:
score descending, then the best single rank, then the entity id (tests check it against
``rrf`` and the metrics against pytrec_eval).

``oracle`` picks, per query and in hindsight, the plan with the fewest candidates that
finds a relevant item (EVALUATION.md: *oracle*).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ltrr.select.base import Depths

_BIG = np.iinfo(np.int32).max
_SLACK = 4  # candidates kept per row before the exact tie-break: shown * _SLACK
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class PlanTable:
    """Per-search metrics of fixed plans: arrays of shape (n_plans, n_queries)."""

    names: tuple[str, ...]
    query_ids: tuple[str, ...]
    found: BoolArray
    candidates: NDArray[np.int32]
    ndcg: FloatArray
    mrr: FloatArray

    def row(self, name: str) -> int:
        return self.names.index(name)

    def metrics(self, rows: IntArray | slice, cols: IntArray | slice) -> dict[str, FloatArray]:
        """``found``, ``candidates``, ``ndcg``, ``mrr`` of ``rows`` x ``cols`` as floats."""
        return {
            "found": self.found[rows][:, cols].astype(np.float64),
            "candidates": self.candidates[rows][:, cols].astype(np.float64),
            "ndcg": self.ndcg[rows][:, cols],
            "mrr": self.mrr[rows][:, cols],
        }


def ideal_dcg(grades: Mapping[str, int], k: int) -> float:
    """DCG of the best possible top ``k``: linear gains (trec_eval's), ``1 / log2(j + 1)``."""
    gains = sorted((g for g in grades.values() if g > 0), reverse=True)[:k]
    return float(sum(g / np.log2(j + 2) for j, g in enumerate(gains)))


def ranking_metrics(
    shown: Sequence[str], grades: Mapping[str, int], idcg: float
) -> tuple[float, float]:
    """``(ndcg@k, mrr@k)`` of one shown list (k = its length), as trec_eval computes them."""
    dcg, rr = 0.0, 0.0
    for j, entity_id in enumerate(shown):
        grade = grades.get(entity_id, 0)
        if grade > 0:
            dcg += grade / np.log2(j + 2)
            if rr == 0.0:
                rr = 1.0 / (j + 1)
    return (dcg / idcg if idcg > 0 else 0.0), rr


def top_shown(score: FloatArray, best: IntArray, k: int) -> IntArray:
    """Column indices of each row's top ``k`` by (score desc, best rank asc, column asc).

    ``score`` and ``best`` have shape (m, U); a column with score 0 is not a candidate.
    Returns shape (m, k), -1 where a row has fewer than ``k`` candidates.
    """
    m, n_cols = score.shape
    out = np.full((m, k), -1, dtype=np.int64)
    if n_cols == 0 or m == 0:
        return out
    kk = min(k, n_cols)
    keep = min(n_cols, k * _SLACK)
    if keep < n_cols:
        cand = np.argpartition(-score, keep - 1, axis=1)[:, :keep]
        kept = np.take_along_axis(score, cand, axis=1)  # the row's ``keep`` largest scores
        kth = -np.partition(-kept, kk - 1, axis=1)[:, kk - 1]  # its k-th largest score
        # a column left out scores <= the smallest kept; it may tie the k-th only if that is
        # the smallest kept (then sort the whole row); score-0 columns are no candidates
        crowded = (kept.min(axis=1) >= kth) & (kth > 0)
    else:
        cand = np.broadcast_to(np.arange(n_cols), (m, n_cols))
        crowded = np.zeros(m, dtype=bool)
    out[:, :kk] = _ordered(score, best, cand, kk)
    if crowded.any():
        rows = np.flatnonzero(crowded)
        full = np.broadcast_to(np.arange(n_cols), (len(rows), n_cols))
        out[rows, :kk] = _ordered(score[rows], best[rows], full, kk)
    return out


def _ordered(score: FloatArray, best: IntArray, cand: IntArray, k: int) -> IntArray:
    s = np.take_along_axis(score, cand, axis=1)
    b = np.take_along_axis(best, cand, axis=1)
    order = np.lexsort((cand, b, -s), axis=1)[:, :k]
    top = np.take_along_axis(cand, order, axis=1)
    valid = np.take_along_axis(s, order, axis=1) > 0
    out: IntArray = np.where(valid, top, -1)
    return out


@dataclass(frozen=True, slots=True)
class _Layout:
    """Plans as arm indices: arms (strategy, depth) and plan groups by their number of parts."""

    strategies: tuple[str, ...]
    arm_strategy: IntArray  # (A,)
    arm_depth: IntArray  # (A,)
    groups: tuple[tuple[IntArray, IntArray], ...]  # (plan rows (m,), arm indices (m, n))

    @classmethod
    def of(cls, plans: Sequence[Depths]) -> _Layout:
        parts = [sorted((s, int(d)) for s, d in p.items() if d > 0) for p in plans]
        strategies = tuple(sorted({s for plan in parts for s, _ in plan}))
        arms = sorted({a for plan in parts for a in plan})
        index = {a: i for i, a in enumerate(arms)}
        by_size: dict[int, list[int]] = {}
        for row, plan in enumerate(parts):
            by_size.setdefault(len(plan), []).append(row)
        groups = tuple(
            (
                np.array(rows, dtype=np.int64),
                np.array([[index[a] for a in parts[r]] for r in rows], dtype=np.int64).reshape(
                    len(rows), size
                ),
            )
            for size, rows in sorted(by_size.items())
        )
        return cls(
            strategies,
            np.array([strategies.index(s) for s, _ in arms], dtype=np.int64),
            np.array([d for _, d in arms], dtype=np.int64),
            groups,
        )


def evaluate_plans(
    names: Sequence[str],
    plans: Sequence[Depths],
    lists: Mapping[str, Mapping[str, Sequence[str]]],
    query_ids: Sequence[str],
    grades: Mapping[str, Mapping[str, int]],
    *,
    shown: int = 10,
    rrf_k: float = 60.0,
) -> PlanTable:
    """Every plan's per-query metrics from ``lists`` (strategy -> query id -> ranked ids).

    Each list must reach the deepest depth any plan asks of its strategy and hold each id
    once. ``grades``: query id -> entity id -> qrels grade (>= 1 relevant).
    """
    layout = _Layout.of(plans)
    ranked, judged, judged_grade = _codes(layout.strategies, lists, query_ids, grades)
    shape = (len(plans), len(query_ids))
    found = np.zeros(shape, dtype=bool)
    candidates = np.zeros(shape, dtype=np.int32)
    ndcg, mrr = np.zeros(shape), np.zeros(shape)
    discount = 1.0 / np.log2(np.arange(2, shown + 2))
    for j, query_id in enumerate(query_ids):
        lists_j = [codes[j] for codes in ranked]
        universe = np.unique(np.concatenate(lists_j)) if lists_j else np.zeros(0, np.int64)
        gain = _gains(universe, judged[j], judged_grade[j])
        idcg = ideal_dcg(grades.get(query_id, {}), shown)
        in_arm, contrib, best = _arm_rows(layout, lists_j, universe, rrf_k)
        found_arm: BoolArray = np.any(in_arm & (gain >= 1)[None, :], axis=1)
        for rows, arms in layout.groups:
            candidates[rows, j] = np.logical_or.reduce(in_arm[arms], axis=1).sum(axis=1)
            found[rows, j] = found_arm[arms].any(axis=1)
            score = contrib[arms[:, 0]].copy()
            for i in range(1, arms.shape[1]):
                score += contrib[arms[:, i]]  # strategy-name order, as merge.rrf sums
            top = top_shown(score, best[arms].min(axis=1), shown)
            gains = np.concatenate([gain, [0.0]])[top]  # top = -1 picks the 0 appended
            ndcg[rows, j] = gains @ discount / idcg if idcg > 0 else 0.0
            hit = gains >= 1
            mrr[rows, j] = np.where(hit.any(axis=1), 1.0 / (np.argmax(hit, axis=1) + 1), 0.0)
    return PlanTable(tuple(names), tuple(query_ids), found, candidates, ndcg, mrr)


def _split(flat: NDArray[Any], lengths: IntArray) -> list[NDArray[Any]]:
    return np.split(flat, np.cumsum(lengths)[:-1]) if len(lengths) else []


def _codes(
    strategies: Sequence[str],
    lists: Mapping[str, Mapping[str, Sequence[str]]],
    query_ids: Sequence[str],
    grades: Mapping[str, Mapping[str, int]],
) -> tuple[list[list[IntArray]], list[IntArray], list[FloatArray]]:
    """Entity ids as integers in id order: per strategy and query the ranked codes, per query
    the judged codes and their grades (codes compare as the ids do, so ties break alike)."""
    per_strategy = [[list(lists[s].get(q, ())) for q in query_ids] for s in strategies]
    judged_ids = [list(grades.get(q, {})) for q in query_ids]
    flats = [np.array(list(chain.from_iterable(x)), dtype=str) for x in per_strategy]
    flat_judged = np.array(list(chain.from_iterable(judged_ids)), dtype=str)
    vocab = np.unique(np.concatenate([*flats, flat_judged]))
    ranked = [
        _split(np.searchsorted(vocab, flat), np.array([len(x) for x in lists_s], np.int64))
        for flat, lists_s in zip(flats, per_strategy, strict=True)
    ]
    lengths = np.array([len(x) for x in judged_ids], np.int64)
    judged = _split(np.searchsorted(vocab, flat_judged), lengths)
    grade_flat = np.array(
        [grades[q][e] for q, ids in zip(query_ids, judged_ids, strict=True) for e in ids],
        dtype=np.float64,
    )
    return ranked, judged, _split(grade_flat, lengths)


def _gains(universe: IntArray, judged: IntArray, grade: NDArray[np.float64]) -> FloatArray:
    """Per universe column, its qrels grade (0 when unjudged or negative)."""
    gain = np.zeros(len(universe))
    if len(universe) and len(judged):
        at = np.minimum(np.searchsorted(universe, judged), len(universe) - 1)
        hit = universe[at] == judged
        gain[at[hit]] = np.maximum(grade[hit], 0.0)
    return gain


def _arm_rows(
    layout: _Layout, ranked: Sequence[IntArray], universe: IntArray, rrf_k: float
) -> tuple[BoolArray, FloatArray, IntArray]:
    """Per arm (A,) over the universe (U,): in its cut list, RRF term, rank (``_BIG`` if out)."""
    rank = np.full((len(ranked), len(universe)), _BIG, dtype=np.int64)
    for s, ids in enumerate(ranked):
        rank[s, np.searchsorted(universe, ids)] = np.arange(1, len(ids) + 1)
    arm_rank = rank[layout.arm_strategy]
    in_arm = arm_rank <= layout.arm_depth[:, None]
    contrib = np.where(in_arm, 1.0 / (rrf_k + arm_rank), 0.0)
    best = np.where(in_arm, arm_rank, _BIG)
    return in_arm, contrib, best


def oracle_rows(table: PlanTable, eligible: IntArray) -> IntArray:
    """Per query (column), the row of the eligible plan with the fewest candidates that finds
    a relevant item (ties: the first eligible row); the cheapest plan if none finds. (Q,)."""
    found = table.found[eligible]
    cost = table.candidates[eligible].astype(np.float64)
    finding = np.where(found, cost, np.inf)
    pick = np.where(found.any(axis=0), np.argmin(finding, axis=0), np.argmin(cost, axis=0))
    out: IntArray = eligible[pick]
    return out


@dataclass(frozen=True, slots=True)
class FixedSet:
    """The fixed plans a simulation evaluates: one row of a ``PlanTable`` each.

    Rows ``[0, n_grid)`` are the grid's single, pair and triple plans (the oracle's choices);
    later rows are other named plans (``union``, plans off the grid). ``alias`` maps every
    accepted name (``hybrid``, ``union``, canonical names) to its row.
    """

    names: tuple[str, ...]
    depths: tuple[Depths, ...]
    n_grid: int
    alias: Mapping[str, int]

    @property
    def cache_depth(self) -> int:
        """The deepest any plan runs any strategy: how far each list is retrieved."""
        return max((int(d) for plan in self.depths for d in plan.values()), default=0)

"""Released anchors: an anchor stops being forced once the posterior says it is not worth it.

Anchors (``[select.ltrr] anchors``, the strategies the unsupervised fusion ranks) run in every
plan at least at the shallowest grid depth: they protect the first searches, while the model
knows nothing, from plans that miss what the fusion baseline would find. They must not cost
forever. For each anchor, the plan is allocated again with that anchor not forced (the
allocation may still choose it, at any depth, if it earns its place); the release is
*acceptable* when the forced plan's P(the union finds the item) exceeds the released plan's by
less than ``release_gain`` under both the posterior mean and the request's Thompson sample (so
a context the model is unsure of keeps its anchors: a sample far from the mean vetoes). Of the
forced plan and the acceptable releases, the one of highest utility -- mean P(found) less the
allocation's own prices of candidates and ms -- is planned. One anchor at most is released per
plan, and a plan that runs nothing never is. Exploration plans still run every anchor, so
their value keeps being measured and a release can be taken back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from ltrr.select.overlap import Array, Overlap, union_miss

Levels = NDArray[np.int64]


def one_released(forced: Levels, releasable: NDArray[np.bool_]) -> list[Levels]:
    """The allocation starts ``forced`` with one of the ``releasable`` anchors not forced, each
    in turn; every other anchor (the probe among them) stays forced."""
    starts = []
    for a in np.flatnonzero(releasable).tolist():
        start = forced.copy()
        start[a] = -1
        starts.append(start)
    return starts


def release_anchor(
    levels: Levels,
    posteriors: tuple[Array, Array],
    overlap: Overlap,
    starts: Sequence[Levels],
    allocate_from: Callable[[Levels], Levels],
    price: Callable[[Levels], Array],
    gain: float,
) -> Levels:
    """``levels`` (the plan with every anchor forced) or the plan with one anchor released.

    ``posteriors``: (mean, sample) P(found in s's top grid[g]), each (S, G);
    ``starts``: the starts with one anchor released (``one_released``);
    ``allocate_from(start)``: the allocation from ``start`` levels (-1 = not forced);
    ``price(rows)``: what the allocation charges for each plan of ``rows`` (n, S).
    """
    options = [o for o in map(allocate_from, starts) if (o >= 0).any()]
    if not options:
        return levels
    rows = np.stack([levels, *options])
    found = 1.0 - np.stack([union_miss(p, rows, overlap) for p in posteriors])  # (2, n)
    acceptable = (found[:, 1:] >= found[:, :1] - gain).all(axis=0)
    if not acceptable.any():
        return levels
    utility = found[0] - price(rows)
    utility[1:][~acceptable] = -np.inf
    chosen: Levels = rows[int(np.argmax(utility))]
    return chosen


def candidates(rows: Levels, size: NDArray[np.float64] | NDArray[np.int64]) -> Array:
    """Candidates each plan of ``rows`` (n, S; -1 = off) is charged: the sum of its arms'
    ``size`` (S, G), or of their depths when ``size`` is the grid (G,) (an upper bound of
    the distinct candidates)."""
    on = rows >= 0
    table = np.asarray(size, dtype=np.float64)
    if table.ndim == 1:
        table = np.broadcast_to(table, (rows.shape[1], len(table)))
    cells = table[np.arange(rows.shape[1])[None, :], np.where(on, rows, 0)]
    out: Array = np.where(on, cells, 0.0).sum(axis=1)
    return out


def plan_price(
    rows: Levels,
    size: NDArray[np.float64] | NDArray[np.int64],
    ms: Array,
    per_candidate: float,
    per_ms: float,
) -> Array:
    """``per_candidate`` per candidate (``size``, as ``candidates`` reads it) plus ``per_ms``
    per estimated ms (``ms``: (S, G)) of each plan of ``rows`` (n, S; -1 = off), as the
    allocation prices its arms."""
    on = rows >= 0
    cells = np.where(on, rows, 0)
    spent = np.where(on, ms[np.arange(rows.shape[1])[None, :], cells], 0.0).sum(axis=1)
    out: Array = per_candidate * candidates(rows, size) + per_ms * spent
    return out

"""The fusion refit's inner loop, compiled (numba): the window's mean gain of the wanted item
for every grid value of one strategy's weight, in one pass over the window's candidates.

Why compiled: coordinate ascent scores the whole window (2,000 requests, about 100 candidates
each) once per (pass, strategy, grid value), 90 times per refit and weight vector. As numpy
each score was a matrix-vector product, a comparison and a ``bincount`` over 200,000 rows:
about a third of all the CPU a service spent folding feedback. Here one pass over the rows
scores all the grid values of a coordinate at once (``base + g * c`` per row) and ranks the
wanted item in each example as it goes, without the GIL (``nogil``), so the refit thread
really runs beside the request threads.

Semantics, as ``rank.fusion`` documents them: an example's rank of the wanted item is the
number of its candidates scoring at least the wanted item's score (ties count against it); its
gain is ``1 / log2(1 + rank)`` within ``cutoff``, 0 beyond, when no list held the wanted item,
or when its score is 0 (weight 0 on every list that held it: it would not be shown).
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numpy.typing import NDArray

_jit = numba.njit(cache=True, nogil=True)


@_jit
def grid_gains(
    contrib: NDArray[np.float64],
    starts: NDArray[np.int64],
    wanted: NDArray[np.int64],
    w: NDArray[np.float64],
    j: int,
    grid: NDArray[np.float64],
    cutoff: int,
) -> NDArray[np.float64]:  # pragma: no cover - compiled; tested through its results
    """Mean gain over the examples for each ``w`` with ``w[j]`` set to each value of ``grid``.

    ``contrib`` (n_rows, S): each candidate's unweighted vote per strategy; example ``i`` owns
    rows ``starts[i]:starts[i + 1]``; ``wanted[i]``: the row of its wanted item, -1 if none.
    A row's score is summed over the strategies in column order with ``w[j]``'s term last, the
    same order for every row, so equal votes give equal scores (exact ties).
    """
    n_examples = starts.shape[0] - 1
    n_strategies = contrib.shape[1]
    n_grid = grid.shape[0]
    total = np.zeros(n_grid)
    target = np.zeros(n_grid)
    rank = np.zeros(n_grid, dtype=np.int64)
    for i in range(n_examples):
        t = wanted[i]
        if t < 0:
            continue
        base = 0.0
        for s in range(n_strategies):
            if s != j:
                base += contrib[t, s] * w[s]
        for g in range(n_grid):
            target[g] = base + grid[g] * contrib[t, j]
            rank[g] = 0
        for r in range(starts[i], starts[i + 1]):
            base = 0.0
            for s in range(n_strategies):
                if s != j:
                    base += contrib[r, s] * w[s]
            c = contrib[r, j]
            for g in range(n_grid):
                if base + grid[g] * c >= target[g]:
                    rank[g] += 1
        for g in range(n_grid):
            if target[g] > 0.0 and rank[g] <= cutoff:
                total[g] += 1.0 / math.log2(1.0 + rank[g])
    mean: NDArray[np.float64] = total / max(n_examples, 1)
    return mean

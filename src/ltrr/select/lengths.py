"""How many candidates each arm really returns, learned from the logged lists.

A plan costs the distinct candidates it retrieves, and an arm's depth is only an upper bound of
its share: a strategy returns what matches, which may be far fewer. On the Spotify benchmark
memory@10 returns 2.0 ids per search and structured@10 2.3, while lexical@10 returns 9.3; a
planner that prices each arm at its depth pays five times too much for the first two and
misses the cheap plans the fixed-plan frontier is made of. Every logged impression holds each
strategy's ranked ids down to the depth it ran (``Impression.strategy_results``), so the
lengths are measured, not configured: each lesson carries them (``PlanFeedback.n_returned``)
and the policy folds them into a moving mean per (strategy, grid depth), as ``select.costs``
does for milliseconds (same window, same rebuild by replay, saved and restored with the
policy).

Unmeasured cells take the tightest upper bound the measured ones give: a list of a strategy
whose top ``d_j`` held ``m_j`` ids on average holds, at depth ``d``, at most ``min(d, m_j)``
when ``d < d_j`` and at most ``m_j + d - d_j`` when ``d > d_j`` (``E[min(d, N)]`` for the
number ``N`` of matches). A strategy never measured is priced at its depths: the prior is the
grid itself. The estimate is made non-decreasing in depth, so no deeper arm looks cheaper.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from ltrr.select.base import Depths
from ltrr.select.costs import CostTable

Array = NDArray[np.float64]


class LengthTable:
    """Moving mean list length per (strategy, grid depth); ``estimate`` bounds the rest."""

    def __init__(self, strategies: tuple[str, ...], grid: NDArray[np.int64], window: int) -> None:
        self.grid = grid
        self._means = CostTable(strategies, grid, grid.astype(np.float64), window, "length")
        self._estimate: Array | None = None

    @property
    def count(self) -> Array:
        """(S, G) observations per cell."""
        return self._means.count

    def observe(self, depths: Depths, n_returned: Mapping[str, int]) -> None:
        """Fold one search's list length per strategy it ran (at ``depths``)."""
        if n_returned:
            self._means.observe(depths, {s: float(n) for s, n in n_returned.items()})
            self._estimate = None

    def estimate(self) -> Array:
        """(S, G) expected ids per arm: measured means, else the measured cells' bound, else
        the depth; non-decreasing in depth."""
        if self._estimate is None:
            depth = self.grid.astype(np.float64)
            out = np.repeat(depth[None, :], len(self._means.strategies), axis=0)
            for i in range(out.shape[0]):
                measured = np.flatnonzero(self._means.count[i] > 0)
                if not len(measured):
                    continue
                m, d_j = self._means.mean[i, measured], depth[measured]
                bound = np.where(
                    depth[:, None] < d_j[None, :],
                    np.minimum(depth[:, None], m[None, :]),
                    m[None, :] + depth[:, None] - d_j[None, :],
                ).min(axis=1)
                out[i] = np.minimum(bound, depth)
                out[i, measured] = np.minimum(m, d_j)
            self._estimate = np.maximum.accumulate(out, axis=1)
        return self._estimate

    def arrays(self) -> dict[str, Array]:
        return self._means.arrays()

    def restore(self, arrays: Mapping[str, Array]) -> None:
        """What ``arrays`` returned; a policy saved before lengths were learned starts empty."""
        self._means.restore(arrays)
        self._estimate = None

    def to_dict(self) -> dict[str, dict[str, float]]:
        """The estimate per strategy and depth, for stats."""
        table = self.estimate()
        return {
            s: {str(int(d)): round(float(table[i, g]), 2) for g, d in enumerate(self.grid)}
            for i, s in enumerate(self._means.strategies)
        }

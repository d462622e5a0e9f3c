"""How many candidates each arm really returns, learned from the logged lists.

A plan costs the distinct candidates it retrieves, and an arm's depth is only an upper bound of
its share: a strategy returns what matches, which may be far fewer. On the Spotify benchmark
memory@10 returns 2.0 ids per search and structured@10 2.3, while lexical@10 returns 9.3; a
planner that prices each arm at its depth pays five times too much for the first two (the
hypothesis tested here: that this keeps it from the fixed-plan frontier's cheap plans).
Every logged impression holds each strategy's ranked ids down to the depth it ran
(``Impression.strategy_results``), so the lengths are measured, not configured: each lesson
carries them (``PlanFeedback.n_returned``) and the policy folds them into a moving mean per
(strategy, grid depth), as ``select.costs`` does for milliseconds (same window, same rebuild
by replay, saved and restored with the policy).

Two tables, one for queries learned from before and one for new queries (the request's seen
bit, ``Plan.seen``): the memory index answers a repeated query from the entities it learned and
a new one from cold-start guesses, so their lengths need not agree. (Measured on Spotify,
3 seeds x 20,000 searches, the split changed nothing: 69.6 unseen candidates per search with
it, 69.2 with one table.)

What pricing by length does, measured (docs/learning.md, 2026-12-07): it does not make the
unseen plans cheaper on any dev benchmark. The cost there is the anchors' full lists and the
low price per candidate; arms whose deep lists are short (Spotify: lexical@200 returns 139
ids) look cheaper and are bought deeper. So it is off by default.

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
    """Moving mean list length per (seen bit, strategy, grid depth); ``estimate`` bounds the
    rest."""

    def __init__(self, strategies: tuple[str, ...], grid: NDArray[np.int64], window: int) -> None:
        self.grid = grid
        depth = grid.astype(np.float64)
        self._means = tuple(
            CostTable(strategies, grid, depth, window, key) for key in ("length", "length_seen")
        )
        self._estimates: list[Array | None] = [None, None]

    def count(self, seen: bool = False) -> Array:
        """(S, G) observations per cell."""
        return self._means[seen].count

    def observe(self, depths: Depths, n_returned: Mapping[str, int], seen: bool = False) -> None:
        """Fold one search's list length per strategy it ran (at ``depths``); ``seen``: the
        query was learned from before."""
        if n_returned:
            self._means[seen].observe(depths, {s: float(n) for s, n in n_returned.items()})
            self._estimates[seen] = None

    def estimate(self, seen: bool = False) -> Array:
        """(S, G) expected ids per arm: measured means, else the measured cells' bound, else
        the depth; non-decreasing in depth."""
        cached = self._estimates[seen]
        if cached is None:
            cached = self._estimates[seen] = _bounded(self._means[seen], self.grid)
        return cached

    def arrays(self) -> dict[str, Array]:
        return {**self._means[0].arrays(), **self._means[1].arrays()}

    def restore(self, arrays: Mapping[str, Array]) -> None:
        """What ``arrays`` returned; a policy saved before lengths were learned starts empty."""
        for table in self._means:
            table.restore(arrays)
        self._estimates = [None, None]

    def to_dict(self, seen: bool = False) -> dict[str, dict[str, float]]:
        """The estimate per strategy and depth, for stats."""
        table = self.estimate(seen)
        return {
            s: {str(int(d)): round(float(table[i, g]), 2) for g, d in enumerate(self.grid)}
            for i, s in enumerate(self._means[0].strategies)
        }


def _bounded(means: CostTable, grid: NDArray[np.int64]) -> Array:
    """``means``' measured cells, the rest bounded by them (module doc), non-decreasing."""
    depth = grid.astype(np.float64)
    out = np.repeat(depth[None, :], len(means.strategies), axis=0)
    for i in range(out.shape[0]):
        measured = np.flatnonzero(means.count[i] > 0)
        if not len(measured):
            continue
        m, d_j = means.mean[i, measured], depth[measured]
        bound = np.where(
            depth[:, None] < d_j[None, :],
            np.minimum(depth[:, None], m[None, :]),
            m[None, :] + depth[:, None] - d_j[None, :],
        ).min(axis=1)
        out[i] = np.minimum(bound, depth)
        out[i, measured] = np.minimum(m, d_j)
    result: Array = np.maximum.accumulate(out, axis=1)
    return result

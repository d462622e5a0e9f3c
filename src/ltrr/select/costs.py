"""What each arm costs in milliseconds, learned from the searches' measured latencies.

A plan is paid for in time as well as candidates: the dense encoder costs about a millisecond
per query whatever the depth, a lexical query a fraction of that growing with depth, a memory
lookup almost nothing. The policy prices arms by what they cost on this machine and this
catalog, so the table is measured, not configured: every logged impression carries what each
strategy took (``Impression.strategy_ms``), and the policy folds those into one moving mean per
(strategy, grid depth) as it learns (``observe``), so a replay of the log rebuilds the same
table.

Means are exponentially weighted with a floor of ``1 / window`` on the step (a plain mean for
the first ``window`` observations): costs drift as the catalog grows or the machine is shared,
and an outlier (a garbage collection, a cold cache) fades. A depth never measured takes the
nearest measured depth of its strategy, a strategy never measured its configured prior
(``[select.ltrr] latency_ms``, else 0): unmeasured arms are cheap, so they get tried and
measured.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from ltrr.select.base import Depths

Array = NDArray[np.float64]


class CostTable:
    """Moving mean ms per (strategy, grid depth); ``estimate`` fills the unmeasured cells."""

    def __init__(
        self,
        strategies: tuple[str, ...],
        grid: NDArray[np.int64],
        prior_ms: Array,
        window: int,
        key: str = "cost",
    ) -> None:
        self.strategies = strategies
        self.key = key  # the prefix of its saved arrays (``select.lengths`` keeps a second table)
        self.grid = grid
        self.prior_ms = prior_ms.astype(np.float64)
        self.window = max(1, window)
        self.mean = np.zeros((len(strategies), len(grid)))
        self.count = np.zeros((len(strategies), len(grid)))
        self._index = {s: i for i, s in enumerate(strategies)}
        self._estimate: Array | None = None

    def observe(self, depths: Depths, cost_ms: Mapping[str, float]) -> None:
        """Fold one search's measured ``cost_ms`` of the strategies it ran at ``depths``.

        A depth off the grid counts for the grid depth at or above it (the cost grows with
        depth; a manual plan's depth 30 costs what 50 does, or less)."""
        for strategy, ms in cost_ms.items():
            i = self._index.get(strategy)
            depth = int(depths.get(strategy, 0))
            if i is None or depth <= 0 or not np.isfinite(ms) or ms < 0:
                continue
            g = min(int(np.searchsorted(self.grid, depth, side="left")), len(self.grid) - 1)
            self.count[i, g] += 1.0
            step = max(1.0 / self.count[i, g], 1.0 / self.window)
            self.mean[i, g] += (float(ms) - self.mean[i, g]) * step
            self._estimate = None

    def estimate(self) -> Array:
        """(S, G) ms: the measured means, the nearest measured depth, else the prior."""
        if self._estimate is None:
            out = np.repeat(self.prior_ms[:, None], len(self.grid), axis=1)
            for i in range(len(self.strategies)):
                measured = np.flatnonzero(self.count[i] > 0)
                if len(measured):
                    nearest = measured[
                        np.abs(np.arange(len(self.grid))[:, None] - measured[None, :]).argmin(1)
                    ]
                    out[i] = self.mean[i, nearest]
            self._estimate = out
        return self._estimate

    def arrays(self) -> dict[str, Array]:
        return {f"{self.key}_mean": self.mean, f"{self.key}_count": self.count}

    def restore(self, arrays: Mapping[str, Array]) -> None:
        """What ``arrays`` returned; a policy saved before costs were learned starts empty."""
        mean, count = f"{self.key}_mean", f"{self.key}_count"
        if mean in arrays and arrays[mean].shape == self.mean.shape:
            self.mean[:] = arrays[mean]
            self.count[:] = arrays[count]
        self._estimate = None

    def to_dict(self) -> dict[str, dict[str, float]]:
        """The estimate per strategy and depth, for stats and the dashboard."""
        table = self.estimate()
        return {
            s: {str(int(d)): round(float(table[i, g]), 4) for g, d in enumerate(self.grid)}
            for i, s in enumerate(self.strategies)
        }

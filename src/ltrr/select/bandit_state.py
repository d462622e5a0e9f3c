"""What the ``ltrr`` policy (``select.bandit``) learns: the context model's posterior per arm,
the per-query history, the recent-overlap window, the measured costs and list lengths. A module
of its own so that the policy's code (planning, updates, persistence) reads apart from its
state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ltrr.select import SelectParams
from ltrr.select.bandit_params import BanditParams
from ltrr.select.costs import CostTable
from ltrr.select.history import QueryHistory
from ltrr.select.lengths import LengthTable
from ltrr.select.overlap import Array, OverlapState, arm_sizes


@dataclass(slots=True)
class BanditState:
    """Everything ``update`` learns; rebuilt by replaying the event log."""

    mean: Array  # (A, F) posterior means m
    precision: Array  # (A, F) posterior precisions q
    history: QueryHistory  # per-query counts, (B, A)
    overlap: OverlapState
    costs: CostTable  # measured ms per (strategy, depth)
    lengths: LengthTable  # measured ids returned per (strategy, depth)
    n_updates: int = 0

    @classmethod
    def prior(
        cls, select: SelectParams, n_features: int, params: BanditParams, prior_ms: Array
    ) -> BanditState:
        n_s, n_g = len(select.strategies), len(select.depths)
        n_arms = n_s * n_g
        grid = np.array(select.depths, dtype=np.int64)
        return cls(
            mean=np.zeros((n_arms, n_features)),
            precision=np.full((n_arms, n_features), params.prior_precision),
            history=QueryHistory.empty(params.key_buckets, n_arms),
            overlap=OverlapState.empty(n_s, n_g, params.overlap_window),
            costs=CostTable(tuple(select.strategies), grid, prior_ms, params.cost_window),
            lengths=LengthTable(tuple(select.strategies), grid, params.cost_window),
        )

    def sizes(self, measured: bool, seen: bool) -> Array:
        """(S, G) candidates each arm is charged: its measured mean list length for queries
        ``seen`` before or not (``measured``, ``[select.ltrr] price_lengths``), or its depth."""
        if measured:
            return self.lengths.estimate(seen)
        return arm_sizes(self.lengths.grid, len(self.costs.strategies))

    def arrays(self) -> dict[str, NDArray[Any]]:
        """What ``save`` writes: every learned array."""
        return {
            "mean": self.mean,
            "precision": self.precision,
            **self.history.arrays(),
            **self.overlap.arrays(),
            **self.costs.arrays(),
            **self.lengths.arrays(),
        }

    def restore(self, arrays: Mapping[str, NDArray[Any]]) -> None:
        """What ``arrays`` returned (a policy saved before lengths were learned: none)."""
        self.mean[:] = arrays["mean"]
        self.precision[:] = arrays["precision"]
        self.overlap.restore(dict(arrays))
        self.history.restore(dict(arrays))
        self.costs.restore(arrays)
        self.lengths.restore(arrays)

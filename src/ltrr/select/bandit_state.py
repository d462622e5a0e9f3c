"""What the ``ltrr`` policy (``select.bandit``) learns: the context model's posterior per arm,
the per-query history, the recent-overlap window and the measured costs. A module of its own
so that the policy's code (planning, updates, persistence) reads apart from its state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ltrr.select import SelectParams
from ltrr.select.bandit_params import BanditParams
from ltrr.select.costs import CostTable
from ltrr.select.history import QueryHistory
from ltrr.select.overlap import Array, OverlapState


@dataclass(slots=True)
class BanditState:
    """Everything ``update`` learns; rebuilt by replaying the event log."""

    mean: Array  # (A, F) posterior means m
    precision: Array  # (A, F) posterior precisions q
    history: QueryHistory  # per-query counts, (B, A)
    overlap: OverlapState
    costs: CostTable  # measured ms per (strategy, depth)
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
        )

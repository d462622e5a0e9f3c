"""The bandit's per-query memory: each arm's success on the same query, shrunk to the context.

A module of its own because it is the second of the bandit's two sources of evidence, with its
own state, bounds and saved arrays: the context model (``select.laplace``) generalises across
queries, while this table lets a repeated query be planned from its own outcomes.

Per hashed corrected query text (a direct-mapped table of ``B`` buckets; a colliding query takes
the bucket over) it keeps success and at-risk counts per arm, capped at ``max_trials`` so that
old outcomes fade. The context model's hazard ``h_ctx`` acts as a Beta prior of strength k:
``h = (S + k h_ctx) / (N + k)`` -- the memory retriever's empirical-Bayes shrinkage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ltrr.select.overlap import Array


@dataclass(slots=True)
class QueryHistory:
    """Success and at-risk counts per (query bucket, arm); rebuilt by replaying the log."""

    key_hash: NDArray[np.uint64]  # (B,) query key owning each bucket, 0 = empty
    success: NDArray[np.float32]  # (B, A)
    trials: NDArray[np.float32]  # (B, A)

    @classmethod
    def empty(cls, n_buckets: int, n_arms: int) -> QueryHistory:
        return cls(
            key_hash=np.zeros(n_buckets, dtype=np.uint64),
            success=np.zeros((n_buckets, n_arms), dtype=np.float32),
            trials=np.zeros((n_buckets, n_arms), dtype=np.float32),
        )

    def counts(self, key: int | None) -> tuple[Array, Array]:
        """Success and at-risk counts of ``key``'s arms, (A,) each; zeros for an unknown key."""
        if key is not None:
            b = key % len(self.key_hash)
            if int(self.key_hash[b]) == key:
                return self.success[b].astype(np.float64), self.trials[b].astype(np.float64)
        zeros = np.zeros(self.success.shape[1])
        return zeros, zeros

    def seen(self, key: int | None) -> bool:
        """Whether ``key`` has any outcome (a repeated query)."""
        return bool(self.counts(key)[1].sum() > 0)

    def shrink(
        self, p: Array, key: int | None, strength: float, rng: np.random.Generator | None
    ) -> Array:
        """Hazards ``p`` (A,) moved toward ``key``'s own outcomes where it has any.

        The posterior mean ``(S + k p) / (N + k)``, or with ``rng`` a draw from
        Beta(S + k p, N - S + k (1 - p)).
        """
        success, trials = self.counts(key)
        if not trials.any():
            return p
        k = strength
        if rng is None:
            shrunk = (success + k * p) / np.maximum(trials + k, 1e-12)
        else:
            a = np.maximum(success + k * p, 1e-6)
            b = np.maximum(trials - success + k * (1.0 - p), 1e-6)
            shrunk = rng.beta(a, b).astype(np.float64)
        return np.where(trials > 0, shrunk, p)

    def add(
        self,
        key: int | None,
        at_risk: NDArray[np.bool_],
        hit: NDArray[np.bool_],
        w: float,
        max_trials: float,
    ) -> None:
        """Count one search of ``key``: arms ``at_risk`` (A,) tried, ``hit`` found, weight w."""
        if key is None:
            return
        b = key % len(self.key_hash)
        if int(self.key_hash[b]) != key:  # a new query takes the bucket over
            self.key_hash[b] = np.uint64(key)
            self.success[b] = 0.0
            self.trials[b] = 0.0
        success, trials = self.success[b], self.trials[b]
        success[at_risk] += np.float32(w) * hit[at_risk]
        trials[at_risk] += np.float32(w)
        cap = np.float32(max_trials)
        over = trials > cap
        if over.any():
            success[over] *= cap / trials[over]
            trials[over] = cap

    def arrays(self) -> dict[str, NDArray[Any]]:
        """The occupied buckets' rows: what ``BanditPolicy.save`` writes."""
        rows = np.flatnonzero(self.key_hash)
        return {
            "key_hash": self.key_hash[rows],
            "key_success": self.success[rows],
            "key_trials": self.trials[rows],
        }

    def restore(self, arrays: dict[str, NDArray[Any]]) -> None:
        """Put saved rows back in their buckets (the table size may differ from the saved one)."""
        hashes = arrays["key_hash"].astype(np.uint64)
        buckets = (hashes % np.uint64(len(self.key_hash))).astype(np.int64)
        self.key_hash[buckets] = hashes
        self.success[buckets] = arrays["key_success"]
        self.trials[buckets] = arrays["key_trials"]

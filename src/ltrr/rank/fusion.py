"""``fusion``: rank fusion whose per-rank weights are learned from what users wanted.

ProbFuse (Lillis, Toolan, Collier & Dunnion, SIGIR 2006) scores a candidate by summing, over
the input lists, the probability that an item at its position in that list is relevant,
estimated per segment of ranks from judged training queries. Here the judgement is each
request's wanted item (its first positive action), the segments are rank buckets whose ends
fall on the depth grid (a strategy run to depth ``d`` observes every bucket ending at or before
``d``), and the estimates are conditioned on whether the query had feedback before (``q`` = 1),
because a strategy such as ``memory`` is near-certain on a repeated query and weak on a new one.

Symbols, for strategy ``s``, seen-bit ``q`` and bucket ``b = [a_b, e_b]``:

- ``h[s, q, b]`` hits (the wanted item at a rank in ``b``), ``n[s, q, b]`` trials (``s`` ran
  to a depth ``>= e_b`` in a request with a wanted item);
- ``pi[s, b] = w_s * sum_{r in b} 1 / (k + r)``: the configured RRF's mass on ``b`` (``w_s``
  and ``k`` from ``[merge.fusion]``; ``w_s = 0`` outside its strategies);
- ``p[s, 0, b] = (h + alpha pi) / (n + alpha)`` and
  ``p[s, 1, b] = (h + alpha p[s, 0, b]) / (n + alpha)``: each shrunk to its parent with
  ``alpha = prior_strength`` pseudo-trials;
- ``value(s, q, r) = p[s, q, b(r)] * (1 / (k + r)) / sum_{r' in b(r)} 1 / (k + r')``: the
  bucket's probability spread over its ranks in RRF's shape.

A candidate's score is the sum of its lists' values (CombSUM of the probabilities). With no
feedback, ``value = w_s / (k + r)``: exactly the configured RRF, the unsupervised baseline;
strategies outside it only add candidates after the fused ones until they earn a weight.
Ranks past the last bucket add nothing. The state is a few counts per strategy, rebuilt by
replaying the event log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ltrr.config import Config
from ltrr.errors import ConfigError
from ltrr.merge.rrf import Fused, fuse, fusion_params
from ltrr.rank.base import RankFeedback
from ltrr.retrieve.base import Candidate
from ltrr.types import Context
from ltrr.understand.base import UnderstoodQuery, query_key

SECTION = "rank.fusion"
Array = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class FusionRankParams:
    """``[rank.fusion]``; see ``defaults.toml`` for why each value."""

    prior_strength: float = 20.0
    bucket_ends: tuple[int, ...] = (1, 2, 3, 5, 10, 25, 50, 100, 200, 1000)

    def __post_init__(self) -> None:
        ends = list(self.bucket_ends)
        if not ends or ends[0] < 1 or ends != sorted(set(ends)):
            raise ConfigError(f"{SECTION}.bucket_ends must be ascending from >= 1, got {ends}")
        if self.prior_strength <= 0:
            raise ConfigError(f"{SECTION}.prior_strength must be > 0, got {self.prior_strength}")


class LearnedFusion:
    """ProbFuse-style fusion over rank buckets, learned from the wanted items.

    Parameters
    ----------
    params
        Bucket ends and the prior's strength.
    weights
        ``w_s`` of the prior (the configured RRF), strategy -> weight; others get 0.
    k
        RRF's smoothing constant: the prior's and the within-bucket shape.
    """

    name = "fusion"

    def __init__(
        self, params: FusionRankParams, weights: Mapping[str, float], k: float = 60.0
    ) -> None:
        self.params = params
        self.weights = dict(weights)
        self.k = k
        ends = np.array(params.bucket_ends, dtype=np.int64)
        ranks = np.arange(1, ends[-1] + 1, dtype=np.float64)
        self._ends = ends
        self._bucket = np.searchsorted(ends, ranks, side="left")  # (R,) bucket of rank r
        self._shape = 1.0 / (k + ranks)  # (R,)
        mass = np.bincount(self._bucket, weights=self._shape, minlength=len(ends))
        self._mass = mass  # (B,) sum of 1/(k+r) over each bucket
        self._spread = self._shape / mass[self._bucket]  # (R,) share of its bucket's mass
        self._hits: dict[str, Array] = {}  # strategy -> (2, B)
        self._trials: dict[str, Array] = {}
        self._seen: set[int] = set()
        self._n_updates = 0

    @classmethod
    def from_config(cls, config: Config) -> LearnedFusion:
        fusion = fusion_params(config)
        return cls(config.params(SECTION, FusionRankParams), fusion.strategy_to_weight, fusion.k)

    @property
    def n_updates(self) -> int:
        return self._n_updates

    def probabilities(self, strategy: str, seen: bool) -> Array:
        """``p[s, q, :]``, shape (B,): P(the wanted item is at a rank in each bucket)."""
        alpha = self.params.prior_strength
        prior: Array = np.float64(self.weights.get(strategy, 0.0)) * self._mass
        hits = self._hits.get(strategy)
        if hits is None:
            return prior
        trials = self._trials[strategy]
        unseen: Array = (hits[0] + alpha * prior) / (trials[0] + alpha)
        if not seen:
            return unseen
        out: Array = (hits[1] + alpha * unseen) / (trials[1] + alpha)
        return out

    def rank(
        self,
        query: UnderstoodQuery,
        context: Context,
        rankings: Mapping[str, Sequence[Candidate]],
        depth: int | None = None,
    ) -> list[Fused]:
        key = query_key(query)
        seen = key is not None and key in self._seen
        values = {s: self._values(s, seen, len(ranked)) for s, ranked in rankings.items()}
        return fuse(rankings, values, depth=depth)

    def _values(self, strategy: str, seen: bool, n: int) -> list[float]:
        r = min(n, len(self._spread))
        value = self.probabilities(strategy, seen)[self._bucket[:r]] * self._spread[:r]
        return [*value.tolist(), *([0.0] * (n - r))]

    def update(self, feedback: RankFeedback) -> None:
        key = query_key(feedback.query)
        seen = int(key is not None and key in self._seen)
        n_buckets = len(self._ends)
        for strategy, depth in feedback.depths.items():
            if depth <= 0:
                continue
            if strategy not in self._hits:
                self._hits[strategy] = np.zeros((2, n_buckets))
                self._trials[strategy] = np.zeros((2, n_buckets))
            covered = self._ends <= depth
            self._trials[strategy][seen, covered] += 1.0
            rank = feedback.ranks.get(strategy)
            if rank is not None and rank <= self._ends[-1]:
                bucket = int(self._bucket[rank - 1])
                if covered[bucket]:
                    self._hits[strategy][seen, bucket] += 1.0
        if key is not None:
            self._seen.add(key)
        self._n_updates += 1

"""``rrf``: reciprocal rank fusion of every list that ran, weight 1 each; learns nothing.

The static baseline (Cormack et al. 2009, ``merge.rrf``): what the engine showed before the
learned fusion existed, and the ranker of the simulator's fixed plans.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ltrr.config import Config
from ltrr.merge.rrf import Fused, fusion_params, rrf
from ltrr.rank.base import RankFeedback
from ltrr.rank.features import CandidateFeatures
from ltrr.retrieve.base import Candidate
from ltrr.types import Context
from ltrr.understand.base import UnderstoodQuery


class RrfRanker:
    """Unweighted RRF with ``[merge.fusion] k``."""

    name = "rrf"

    def __init__(self, k: float = 60.0) -> None:
        self.k = k

    @classmethod
    def from_config(cls, config: Config) -> RrfRanker:
        return cls(fusion_params(config).k)

    @property
    def n_updates(self) -> int:
        return 0

    def rank(
        self,
        query: UnderstoodQuery,
        context: Context,
        rankings: Mapping[str, Sequence[Candidate]],
        depth: int | None = None,
        features: CandidateFeatures | None = None,
    ) -> list[Fused]:
        return rrf(rankings, k=self.k, depth=depth)

    def update(self, feedback: RankFeedback) -> None:
        return None

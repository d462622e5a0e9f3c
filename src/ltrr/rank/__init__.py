"""The ``rank`` stage: order the merged candidates (``Ranker`` in ``rank.base``).

``make_ranker(name, config)`` builds a ranker by its stable name:

- ``"fusion"``: rank fusion with per-rank weights learned from feedback, starting as the
  configured RRF (``rank.fusion.LearnedFusion``);
- ``"rrf"``: unweighted reciprocal rank fusion of every list, learning nothing;
- ``"lambdamart"``: a LightGBM LambdaMART model over the candidates' features
  (``rank.lambdamart``), the learned fusion until a model is swapped in. The engine serves
  the data directory's current model over whichever ranker ``[rank] ranker`` names.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ltrr.config import Config
from ltrr.errors import ConfigError
from ltrr.rank.base import Ranker, RankFeedback
from ltrr.rank.fusion import LearnedFusion
from ltrr.rank.lambdamart import LambdaMartRanker
from ltrr.rank.rrf import RrfRanker


def _lambdamart(config: Config) -> Ranker:
    return LambdaMartRanker(LearnedFusion.from_config(config))


RANKERS: dict[str, Callable[[Config], Ranker]] = {
    LearnedFusion.name: LearnedFusion.from_config,
    RrfRanker.name: RrfRanker.from_config,
    LambdaMartRanker.name: _lambdamart,
}


@dataclass(frozen=True, slots=True)
class RankParams:
    """``[rank]``: which ranker orders the results."""

    ranker: str = "fusion"

    def __post_init__(self) -> None:
        if self.ranker not in RANKERS:
            raise ConfigError(
                f"rank.ranker must be one of {', '.join(RANKERS)}, got {self.ranker!r}"
            )


def make_ranker(config: Config, name: str | None = None) -> Ranker:
    """The ranker ``name`` (default ``[rank] ranker``) with fresh learned state."""
    chosen = name or config.params("rank", RankParams).ranker
    if chosen not in RANKERS:
        raise ConfigError(f"unknown ranker {chosen!r}; allowed: {', '.join(RANKERS)}")
    return RANKERS[chosen](config)


__all__ = ["RANKERS", "RankFeedback", "RankParams", "Ranker", "make_ranker"]

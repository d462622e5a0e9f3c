"""Reciprocal rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009).

A candidate's fused score is ``sum over strategies s of w_s / (k + r_s)``, where ``r_s`` is its
1-based rank in strategy ``s``'s list (strategies that did not return it add nothing) and ``k``
is the paper's smoothing constant (60 there; not the number of results shown). Ranks, not
scores, are fused, so strategies whose scores live on different scales combine without
calibration.

The result does not depend on the order of the input mapping: each sum runs over strategy
names in sorted order (floating-point addition is not associative) and ties break on the best
single rank, then the entity id. The lists are short (a depth of at most a few hundred), so
a dict accumulating per id, which also builds each candidate's provenance, is cheaper than
mapping string ids to array positions for numpy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ltrr.config import Config, section_params
from ltrr.errors import ConfigError
from ltrr.retrieve.base import Candidate
from ltrr.types import EntityId

#: The paper's k.
DEFAULT_K = 60


@dataclass(frozen=True, slots=True)
class FusionParams:
    """``[merge.fusion]``: the default fused subset of strategies, their weights and ``k``.

    This is the unsupervised baseline ``ltrr evaluate`` reports as ``fusion`` and the ranker
    falls back on before it has feedback: lexical + dense, as the RRF hybrid Qdrant published
    for SciFact.
    """

    strategies: tuple[str, ...] = ("lexical", "dense")
    weights: tuple[float, ...] = (1.0, 1.0)
    k: int = DEFAULT_K

    def __post_init__(self) -> None:
        if len(self.strategies) != len(self.weights):
            raise ConfigError(
                f"merge.fusion lists {len(self.strategies)} strategies "
                f"({', '.join(self.strategies)}) but {len(self.weights)} weights"
            )
        if any(w < 0 for w in self.weights):
            raise ConfigError(f"merge.fusion.weights must be >= 0, got {list(self.weights)}")

    @property
    def strategy_to_weight(self) -> dict[str, float]:
        return dict(zip(self.strategies, self.weights, strict=True))


def fusion_params(config: Config) -> FusionParams:
    """``[merge.fusion]`` of ``config``, or the defaults while that section is absent."""
    return section_params(config, "merge.fusion", FusionParams)


@dataclass(frozen=True, slots=True)
class Fused:
    """A merged candidate: fused score and ``{strategy: (1-based rank, strategy score)}``."""

    entity_id: EntityId
    score: float
    provenance: Mapping[str, tuple[int, float]]


def rrf(
    rankings: Mapping[str, Sequence[Candidate]],
    weights: Mapping[str, float] | None = None,
    *,
    k: float = DEFAULT_K,
    depth: int | None = None,
) -> list[Fused]:
    """Fuse ranked candidate lists by reciprocal rank.

    Parameters
    ----------
    rankings
        Strategy name -> its candidates, best first. An id listed twice in one list keeps
        its best rank.
    weights
        Strategy name -> ``w_s`` (default 1 for every strategy); a strategy missing from a
        given mapping is an error, so a typo cannot silently drop a list.
    k
        The smoothing constant: larger ``k`` flattens the advantage of top ranks.
    depth
        Keep at most this many fused candidates (default: all).

    Examples
    --------
    >>> a, b, c = (Candidate(EntityId(x), 1.0) for x in "abc")
    >>> fused = rrf({"lexical": [a, b, c], "dense": [c, a]})
    >>> [(f.entity_id, round(f.score, 6)) for f in fused]
    [('a', 0.032522), ('c', 0.032266), ('b', 0.016129)]
    >>> fused[1].provenance
    {'dense': (1, 1.0), 'lexical': (3, 1.0)}
    """
    if k < 0:
        raise ConfigError(f"RRF k must be >= 0, got {k}")
    if weights is None:
        weights = dict.fromkeys(rankings, 1.0)
    missing = [n for n in sorted(rankings) if n not in weights]
    if missing:
        raise ConfigError(
            f"no RRF weight for {', '.join(missing)}; weights given for {', '.join(weights)}"
        )
    values = {
        name: (weights[name] / (k + np.arange(1, len(ranked) + 1, dtype=np.float64))).tolist()
        for name, ranked in rankings.items()
    }
    return fuse(rankings, values, depth=depth)


def fuse(
    rankings: Mapping[str, Sequence[Candidate]],
    values: Mapping[str, Sequence[float]],
    *,
    depth: int | None = None,
) -> list[Fused]:
    """Fuse ranked lists by summing a per-strategy, per-rank value: ``values[s][r - 1]``.

    RRF is the case ``values[s][r - 1] = w_s / (k + r)``; a learned ranker supplies other
    values (``rank.fusion``). Sums run over strategy names in sorted order, ties break on the
    best single rank, then the entity id, so the result does not depend on mapping order.
    ``values[s]`` must be at least as long as ``rankings[s]``.
    """
    score: dict[EntityId, float] = {}
    provenance: dict[EntityId, dict[str, tuple[int, float]]] = {}
    best: dict[EntityId, int] = {}
    for name in sorted(rankings):
        value = values[name]
        for rank, candidate in enumerate(rankings[name], start=1):
            entity_id = candidate.entity_id
            seen = provenance.get(entity_id)
            if seen is None:
                provenance[entity_id] = {name: (rank, candidate.score)}
                score[entity_id] = value[rank - 1]
                best[entity_id] = rank
            elif name not in seen:
                seen[name] = (rank, candidate.score)
                score[entity_id] += value[rank - 1]
                best[entity_id] = min(best[entity_id], rank)
    order = sorted(score, key=lambda e: (-score[e], best[e], e))
    if depth is not None:
        order = order[:depth]
    return [Fused(e, score[e], provenance[e]) for e in order]

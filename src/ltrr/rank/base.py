"""The ``rank`` stage's contract: order the merged candidates, learn from what users wanted.

A ranker sees every strategy's ranked list (the merge stage's provenance) and returns the fused
order shown to the user. It learns from the same feedback as the policy: each request's lists
and its wanted item. Learned state is rebuilt by replaying the event log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ltrr.merge.rrf import Fused
from ltrr.rank.features import CandidateFeatures
from ltrr.retrieve.base import Candidate
from ltrr.types import Context, EntityId
from ltrr.understand.base import UnderstoodQuery


@dataclass(frozen=True, slots=True)
class RankFeedback:
    """One request's lesson: ``lists[s]`` = the ids strategy ``s`` returned, best first,
    ``wanted`` = an entity the request acted on, and ``scores[s]`` = the scores of ``lists[s]``
    (for rankers that use them; may be empty)."""

    query: UnderstoodQuery
    lists: Mapping[str, Sequence[EntityId]]
    wanted: EntityId | None
    scores: Mapping[str, Sequence[float]] = field(default_factory=dict)


@runtime_checkable
class Ranker(Protocol):
    """Orders merged candidates. ``rank`` never changes state; ``update`` returns ``None``."""

    name: str

    @property
    def n_updates(self) -> int: ...

    def rank(
        self,
        query: UnderstoodQuery,
        context: Context,
        rankings: Mapping[str, Sequence[Candidate]],
        depth: int | None = None,
        features: CandidateFeatures | None = None,
    ) -> list[Fused]:
        """Every candidate of ``rankings`` (or the best ``depth``), best first, with provenance.

        ``features`` are the candidates' feature rows (``rank.features``) when the caller
        computed them; rankers that order by lists alone ignore them."""
        ...

    def update(self, feedback: RankFeedback) -> None: ...

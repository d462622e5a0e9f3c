"""The ``rank`` stage's contract: order the merged candidates, learn from what users wanted.

A ranker sees every strategy's ranked list (the merge stage's provenance) and returns the fused
order shown to the user. It learns from the same semi-bandit feedback as the policy: for the
request's wanted item, the rank at which each strategy that ran held it (``None``: not within
the depth it ran to). Learned state is rebuilt by replaying the event log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ltrr.merge.rrf import Fused
from ltrr.retrieve.base import Candidate
from ltrr.types import Context
from ltrr.understand.base import UnderstoodQuery


@dataclass(frozen=True, slots=True)
class RankFeedback:
    """One request's lesson: ``depths[s]`` = depth ``s`` ran to, ``ranks[s]`` = the wanted
    item's 1-based rank in ``s``'s list, or ``None``."""

    query: UnderstoodQuery
    depths: Mapping[str, int]
    ranks: Mapping[str, int | None]


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
    ) -> list[Fused]:
        """Every candidate of ``rankings`` (or the best ``depth``), best first, with provenance."""
        ...

    def update(self, feedback: RankFeedback) -> None: ...

"""The Retriever contract (DESIGN.md) and its value types.

Every candidate generator is usable alone: it indexes entities (``add``/``remove``, also used
to catch up with catalog changes), answers ``retrieve`` with at most ``depth`` candidates
sorted by descending score, and saves to and loads from its own folder in the data directory.
``catalog_version`` records the catalog version the index reflects, so a mismatch is caught
(catch up with ``CatalogStore.changes_since``, or rebuild).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from ltrr.types import Context, Entity, EntityId
from ltrr.understand.base import UnderstoodQuery


@dataclass(frozen=True, slots=True)
class Candidate:
    """One retrieved entity and the strategy's score for it (rank = position in the list)."""

    entity_id: EntityId
    score: float


@runtime_checkable
class Retriever(Protocol):
    """A candidate generator. ``name`` is its stable strategy name ("lexical", "dense", ...)."""

    name: str
    catalog_version: int

    def retrieve(self, query: UnderstoodQuery, context: Context, depth: int) -> list[Candidate]:
        """At most ``depth`` candidates, best first; an empty query gives an empty list."""
        ...

    def add(self, entities: Sequence[Entity]) -> None:
        """Index ``entities``, replacing any already indexed under the same ids."""
        ...

    def remove(self, ids: Sequence[EntityId]) -> None:
        """Forget ``ids``; unknown ids are ignored."""
        ...

    def save(self, directory: Path) -> None:
        """Write the index into ``directory`` atomically (temporary folder, then rename)."""
        ...

    def __len__(self) -> int:
        """Number of indexed entities."""
        ...

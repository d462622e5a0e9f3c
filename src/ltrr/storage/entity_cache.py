"""The entities of recent result pages, kept in memory between catalog versions.

Every search shows a page of entities, read from SQLite and decoded from JSON (about 0.3 ms for
ten at 100k entities, more on a loaded machine); head queries show the same pages again and
again. The cache answers those from memory and holds only what the catalog version it was
filled at says: the first read after the served version changes (the indexes caught up with a
catalog change, here or in another worker) empties it, so a page never mixes an entity's old
record with the indexes' new state for longer than the indexes themselves lag.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Protocol

from ltrr.types import Entity, EntityId


class EntityReader(Protocol):
    def get_many(self, ids: Sequence[str]) -> dict[EntityId, Entity]: ...


class EntityCache:
    """``get_many`` through a least-recently-used map of at most ``size`` entities."""

    def __init__(self, reader: EntityReader, size: int = 20_000) -> None:
        self.reader = reader
        self.size = size
        self._entities: OrderedDict[EntityId, Entity] = OrderedDict()
        self._version: int | None = None

    def get_many(self, ids: Sequence[EntityId], version: int) -> dict[EntityId, Entity]:
        """The entities of ``ids`` that exist at catalog ``version`` (the served one)."""
        cache = self._entities
        if version != self._version:
            cache.clear()
            self._version = version
        missing = [e for e in ids if e not in cache]
        if missing:
            cache.update(self.reader.get_many(missing))
            while len(cache) > self.size:
                cache.popitem(last=False)
        out = {}
        for entity_id in ids:
            entity = cache.get(entity_id)
            if entity is not None:
                cache.move_to_end(entity_id)
                out[entity_id] = entity
        return out

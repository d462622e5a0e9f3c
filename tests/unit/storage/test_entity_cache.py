"""The page cache answers repeated pages from memory and forgets everything at a new version."""

from __future__ import annotations

from collections.abc import Sequence

from ltrr.storage.entity_cache import EntityCache
from ltrr.types import Entity, EntityId


class Reader:
    def __init__(self) -> None:
        self.rows = {EntityId(i): Entity(id=EntityId(i), type="track", title=i) for i in "abc"}
        self.reads: list[list[str]] = []

    def get_many(self, ids: Sequence[str]) -> dict[EntityId, Entity]:
        self.reads.append(list(ids))
        return {EntityId(i): self.rows[EntityId(i)] for i in ids if i in self.rows}


def test_repeated_pages_are_read_once_per_version_and_missing_ids_are_skipped() -> None:
    reader = Reader()
    cache = EntityCache(reader, size=2)
    ids = [EntityId("a"), EntityId("zz"), EntityId("b")]
    assert list(cache.get_many(ids, 1)) == ["a", "b"]
    assert list(cache.get_many(ids, 1)) == ["a", "b"]
    assert reader.reads == [["a", "zz", "b"], ["zz"]]  # only the unknown id is asked again
    reader.rows[EntityId("a")] = Entity(id=EntityId("a"), type="track", title="new")
    assert cache.get_many(ids, 1)[EntityId("a")].title == "a"  # same version: as served
    assert cache.get_many(ids, 2)[EntityId("a")].title == "new"  # a new version: read again
    cache.get_many([EntityId("c")], 2)
    assert len(cache._entities) == 2  # bounded: the least recently shown went

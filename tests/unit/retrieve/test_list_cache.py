"""The list cache: repeated (query, depth) lists of the catalog-only retrievers come from
memory, with the time they took to compute, and never outlive a catalog change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ltrr.config import Config
from ltrr.errors import ConfigError
from ltrr.retrieve.base import Candidate
from ltrr.retrieve.indexes import IndexSet
from ltrr.retrieve.list_cache import ListCache, ListCacheParams
from ltrr.storage.datadir import DataDir
from ltrr.types import Context, Entity, EntityId
from ltrr.understand.base import plain_query


def _e(i: str, title: str) -> Entity:
    return Entity(id=EntityId(i), type="track", title=title, popularity=1.0)


def _counting(indexes: IndexSet, name: str) -> list[int]:
    """Count the calls of retriever ``name``'s ``retrieve`` (the real one still answers)."""
    calls = [0]
    retriever = indexes.retrievers[name]
    real = retriever.retrieve

    def retrieve(*args: Any) -> list[Candidate]:
        calls[0] += 1
        return real(*args)

    retriever.retrieve = retrieve  # type: ignore[method-assign]
    return calls


def _catalog(tmp_path: Path, config: Config) -> DataDir:
    dd = DataDir(tmp_path, config, writer=True).open()
    with dd.catalog.change() as change:
        change.upsert([_e("a", "Love Story"), _e("b", "Night Drive"), _e("c", "Love Song")])
    return dd


def test_a_repeated_query_is_answered_from_the_cache_with_its_compute_time(
    tmp_path: Path, config: Config
) -> None:
    dd = _catalog(tmp_path, config)
    indexes = IndexSet.open(dd, ["lexical", "memory"])
    lexical, memory = _counting(indexes, "lexical"), _counting(indexes, "memory")
    query, context = plain_query("love"), Context()
    first, first_ms = indexes.retrieve(query, context, {"lexical": 5, "memory": 5})
    again, again_ms = indexes.retrieve(query, context, {"lexical": 5, "memory": 5})
    assert [c.entity_id for c in again["lexical"]] == [c.entity_id for c in first["lexical"]]
    assert {c.entity_id for c in first["lexical"]} == {"a", "c"}
    assert lexical == [1]  # lists of the query and the catalog alone: computed once
    assert memory == [2]  # learned from actions: always run
    assert again_ms["lexical"] == first_ms["lexical"]  # the time computing it took
    indexes.retrieve(query, context, {"lexical": 1})  # another depth is another list
    assert lexical == [2]
    probed = indexes.probe(query, context, _Probe("lexical", 1))
    assert probed is not None and len(probed.ranked) == 1 and lexical == [2]
    again["lexical"].clear()  # a caller's list is its own copy
    assert len(indexes.retrieve(query, context, {"lexical": 5})[0]["lexical"]) == 2
    dd.close()


class _Probe:
    def __init__(self, strategy: str, depth: int) -> None:
        self.strategy, self.depth = strategy, depth


def test_a_catalog_change_empties_the_cache(tmp_path: Path, config: Config) -> None:
    dd = _catalog(tmp_path, config)
    indexes = IndexSet.open(dd, ["lexical", "fuzzy"])
    query, context = plain_query("summer rain"), Context()
    before, _ = indexes.retrieve(query, context, {"lexical": 5, "fuzzy": 5})
    assert before == {"lexical": [], "fuzzy": []}
    with dd.catalog.change() as change:
        change.upsert([_e("d", "Summer Rain")])
    indexes.catch_up(dd.catalog)
    after, _ = indexes.retrieve(query, context, {"lexical": 5, "fuzzy": 5})
    assert [c.entity_id for c in after["lexical"]][:1] == ["d"]
    assert [c.entity_id for c in after["fuzzy"]][:1] == ["d"]
    dd.close()


def test_no_cache_when_configured_off(tmp_path: Path, config: Config) -> None:
    dd = DataDir(tmp_path, config.replaced("search.cache", candidates=0), writer=True).open()
    with dd.catalog.change() as change:
        change.upsert([_e("a", "Love Story")])
    indexes = IndexSet.open(dd, ["lexical"])
    assert indexes.cache is None
    calls = _counting(indexes, "lexical")
    for _ in range(2):
        indexes.retrieve(plain_query("love"), Context(), {"lexical": 5})
    assert calls == [2]
    dd.close()


def test_the_cache_keeps_at_most_its_candidates_least_recent_first() -> None:
    cache = ListCache(5)
    lists = {k: [Candidate(EntityId(f"{k}{i}"), 1.0) for i in range(2)] for k in "abc"}
    cache.put(("a",), lists["a"], 1.0)
    cache.put(("b",), lists["b"], 1.0)
    assert cache.get(("a",)) is not None  # a is now the most recent
    cache.put(("c",), lists["c"], 1.0)  # 6 > 5: the least recent (b) goes
    assert cache.get(("b",)) is None and cache.get(("a",)) is not None
    for n in range(10):  # empty lists count too: a flood of them cannot grow it without bound
        cache.put(("empty", n), [], 1.0)
    assert len(cache) <= 5
    cache.put(("big",), [Candidate(EntityId(str(i)), 1.0) for i in range(6)], 1.0)
    assert cache.get(("big",)) is None  # longer than the whole cache: not kept
    assert (cache.hits, cache.misses) == (2, 2)


def test_a_negative_size_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"search\.cache\.candidates must be >= 0, got -1"):
        ListCacheParams(candidates=-1)

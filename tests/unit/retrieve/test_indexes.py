"""IndexSet: indexes are built once, caught up with catalog changes, and rebuilt when stale."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import pytest

from ltrr.config import Config
from ltrr.retrieve.indexes import IndexSet
from ltrr.storage.catalog import CatalogStore, Changes
from ltrr.storage.datadir import DataDir
from ltrr.types import Context, Entity, EntityId
from ltrr.understand.base import plain_query

STRATEGIES = ["lexical", "fuzzy", "memory"]


def _e(i: str, title: str) -> Entity:
    return Entity(id=EntityId(i), type="track", title=title, popularity=1.0)


def _ids(indexes: IndexSet, name: str, text: str) -> list[str]:
    return [c.entity_id for c in indexes.retrievers[name].retrieve(plain_query(text), Context(), 5)]


def test_build_catch_up_and_reload(tmp_path: Path, config: Config) -> None:
    with DataDir(tmp_path, config, writer=True) as dd:
        with dd.catalog.change() as change:
            change.upsert([_e("a", "Love Story"), _e("b", "Night Drive")])
        first = IndexSet.open(dd, STRATEGIES)
        assert {s.how for s in first.status} == {"built"}
        with dd.catalog.change() as change:
            change.delete([EntityId("b")])
            change.upsert([_e("c", "Summer Rain"), _e("a", "Love Song")])
        second = IndexSet.open(dd, STRATEGIES)
        assert {s.how for s in second.status} == {"caught_up"}
        assert {s.n_changes for s in second.status} == {3}
        assert second.catalog_version == 2
        for name in STRATEGIES:
            assert _ids(second, name, "summer rain")[:1] == ["c"], name
            assert "b" not in _ids(second, name, "night drive"), name
        third = IndexSet.open(dd, STRATEGIES)
        assert {s.how for s in third.status} == {"loaded"}
        assert _ids(third, "lexical", "love song") == _ids(second, "lexical", "love song")


def test_reader_does_not_save(tmp_path: Path, config: Config) -> None:
    with DataDir(tmp_path, config, writer=True) as dd, dd.catalog.change() as change:
        change.upsert([_e("a", "Love Story")])
    with DataDir(tmp_path, config, writer=False) as reader:
        IndexSet.open(reader, ["lexical"])
    assert not (tmp_path / "indexes").exists()


def test_index_built_with_other_parameters_is_rebuilt(tmp_path: Path, config: Config) -> None:
    with DataDir(tmp_path, config, writer=True) as dd:
        with dd.catalog.change() as change:
            change.upsert([_e("a", "Running Songs")])
        IndexSet.open(dd, ["lexical"])
    other = Config({**config.values, "retrieve": {**config.values["retrieve"]}})
    other.values["retrieve"]["lexical"] = {**config.values["retrieve"]["lexical"], "stemmer": ""}
    with DataDir(tmp_path, other, writer=True) as dd:
        reopened = IndexSet.open(dd, ["lexical"])
    assert [s.how for s in reopened.status if s.name == "lexical"] == ["built"]


def test_the_ranker_text_index_is_built_caught_up_and_saved(tmp_path: Path, config: Config) -> None:
    with DataDir(tmp_path, config, writer=True) as dd:
        with dd.catalog.change() as change:
            change.upsert([_e("a", "Love Story"), _e("b", "Night Drive")])
        first = IndexSet.open(dd, ["lexical"])
        assert first.text is not None and (tmp_path / "indexes" / "text").is_dir()
        with dd.catalog.change() as change:
            change.delete([EntityId("b")])
            change.upsert([_e("c", "Love Song")])
        assert first.catch_up(dd.catalog) == 2
        rows = first.text.rows_of([EntityId("a"), EntityId("b"), EntityId("c")])
        assert rows[1] == -1
        assert first.text.text_match(rows, ["love", "song"])["title.overlap"][[0, 2]].tolist() == [
            0.5,
            1.0,
        ]
        first.save(tmp_path)
        second = IndexSet.open(dd, ["lexical"])
    assert [s.how for s in second.status if s.name == "text"] == ["loaded"]
    assert second.text is not None and len(second.text) == 2


class _CountingStore:
    """The data directory's catalog, counting look-ups; ``vanished`` ids are reported as
    upserted by ``changes_since`` but gone by the time they are fetched (deleted in between)."""

    def __init__(self, store: Any, vanished: tuple[EntityId, ...] = ()) -> None:
        self.store, self.vanished = store, vanished
        self.n_get, self.get_many_sizes = 0, list[int]()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def changes_since(self, version: int) -> Changes:
        changes: Changes = self.store.changes_since(version)
        return replace(changes, upserted=changes.upserted + self.vanished)

    def get(self, entity_id: str) -> Entity | None:
        self.n_get += 1
        return cast(Entity | None, self.store.get(entity_id))

    def get_many(self, ids: Sequence[str]) -> dict[EntityId, Entity]:
        self.get_many_sizes.append(len(ids))
        return cast(dict[EntityId, Entity], self.store.get_many(ids))


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_catch_up_fetches_in_batches_and_skips_vanished_ids(
    tmp_path: Path, config: Config, backend: str, request: pytest.FixtureRequest
) -> None:
    if backend == "postgres":
        url = request.getfixturevalue("postgres_catalog_url")
        config = config.replaced("storage", catalog_url=url)
    with DataDir(tmp_path, config, writer=True) as dd:
        with dd.catalog.change() as change:
            change.upsert([_e("a", "Love Story")])
        indexes = IndexSet.open(dd, ["lexical"])
        with dd.catalog.change() as change:
            change.upsert([_e(f"n{i:04d}", f"Night Drive {i}") for i in range(2500)])
        store = _CountingStore(dd.catalog, vanished=(EntityId("gone"),))
        assert indexes.catch_up(cast(CatalogStore, store)) == 2501
    # lexical, the understander's dictionaries and the ranker's text index: 2 batches each
    assert store.n_get == 0
    assert store.get_many_sizes == [2000, 501] * 3
    assert _ids(indexes, "lexical", "night drive 2499")[:1] == ["n2499"]
    assert indexes.text is not None
    assert indexes.text.rows_of([EntityId("gone")]).tolist() == [-1]

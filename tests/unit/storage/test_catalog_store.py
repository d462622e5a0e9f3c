"""The stored catalog: round trips, upserts, deletes, versions, rollback and incremental changes."""

from __future__ import annotations

import pytest

from ltrr.storage.datadir import DataDir
from ltrr.types import Entity, EntityId


def _entity(i: int, title: str = "Night", **kw: object) -> Entity:
    return Entity(
        id=EntityId(f"e{i}"),
        type="track",
        title=title,
        fields={"artist": "Ana"},
        attributes={"genre": {"pop": 0.5, "rock": 0.5}},
        popularity=float(i),
        related=(EntityId("a1"),),
        added_at_s=1.5,
        **kw,  # type: ignore[arg-type]
    )


def test_round_trip_keeps_every_field(data_dir: DataDir) -> None:
    store = data_dir.catalog
    entities = [_entity(i) for i in range(3)]
    with store.change() as change:
        change.upsert(entities)
    assert [store.get(e.id) for e in entities] == entities
    assert list(store.iter_entities(batch_size=2)) == entities
    assert store.get("nope") is None
    assert len(store) == 3 and "e1" in store and "zz" not in store
    assert store.count_by_type() == {"track": 3}
    assert store.count_by_attribute() == {"genre": 3}


def test_upsert_overwrites_and_each_change_bumps_version(data_dir: DataDir) -> None:
    store = data_dir.catalog
    assert store.version() == 0
    with store.change() as change:
        change.upsert([_entity(1), _entity(2)])
    with store.change() as change:
        change.upsert([_entity(1, title="Day")])
    assert store.version() == 2
    assert store.get("e1") == _entity(1, title="Day")
    assert store.changes_since(1).upserted == ("e1",)
    with store.change():
        pass
    assert store.version() == 2, "a change that wrote nothing keeps the version"


def test_delete_records_tombstones_and_reports_missing(data_dir: DataDir) -> None:
    store = data_dir.catalog
    with store.change() as change:
        change.upsert([_entity(i) for i in range(4)])
    with store.change() as change:
        missing = change.delete([EntityId("e1"), EntityId("e9")])
    assert missing == ["e9"]
    assert "e1" not in store and len(store) == 3
    changes = store.changes_since(1)
    assert (changes.upserted, changes.deleted, changes.version) == ((), ("e1",), 2)
    with store.change() as change:
        change.upsert([_entity(1)])
    assert store.changes_since(2).deleted == (), "re-adding an id clears its tombstone"
    assert store.changes_since(0).upserted == ("e0", "e1", "e2", "e3")


def test_failed_change_rolls_back(data_dir: DataDir) -> None:
    store = data_dir.catalog
    with store.change() as change:
        change.upsert([_entity(1)])
    with pytest.raises(RuntimeError), store.change() as change:
        change.clear()
        change.upsert([_entity(7)])
        raise RuntimeError("crash mid-load")
    assert [e.id for e in store.iter_entities()] == ["e1"]
    assert store.version() == 1
    assert store.changes_since(0).deleted == ()


def test_clear_then_upsert_replaces(data_dir: DataDir) -> None:
    store = data_dir.catalog
    with store.change() as change:
        change.upsert([_entity(1), _entity(2)])
    with store.change() as change:
        change.clear()
        change.upsert([_entity(2), _entity(3)])
        assert change.n_removed() == 1
    assert [e.id for e in store.iter_entities()] == ["e2", "e3"]
    assert store.changes_since(1).deleted == ("e1",)


def _entity_indexes(data_dir: DataDir) -> list[tuple[str, str]]:
    return data_dir.conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'entities' "
        "AND sql IS NOT NULL ORDER BY name"
    ).fetchall()


def test_indexes_built_at_end_come_back_the_same(data_dir: DataDir) -> None:
    store = data_dir.catalog
    before = _entity_indexes(data_dir)
    assert [name for name, _ in before] == ["entities_type", "entities_version"]
    with store.change() as change:
        assert change.is_empty()
        change.build_indexes_at_end()
        assert _entity_indexes(data_dir) == []
        change.upsert([_entity(i) for i in range(3)])
        assert not change.is_empty()
    assert _entity_indexes(data_dir) == before
    assert store.count_by_type() == {"track": 3}
    assert store.changes_since(0).upserted == ("e0", "e1", "e2")


def test_failed_change_restores_indexes_it_dropped(data_dir: DataDir) -> None:
    store = data_dir.catalog
    before = _entity_indexes(data_dir)
    with pytest.raises(RuntimeError), store.change() as change:
        change.build_indexes_at_end()
        change.upsert([_entity(1)])
        raise RuntimeError("crash mid-load")
    assert _entity_indexes(data_dir) == before
    assert len(store) == 0

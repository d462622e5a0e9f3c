"""The catalog contract: every backend (SQLite embedded, PostgreSQL for scale-out) runs the same
checks through the ``CatalogStore`` protocol, then the PostgreSQL wiring (config, data
directory, errors) on its own.

PostgreSQL is found at ``$LTRR_TEST_POSTGRES_URL`` (default the local server's ``test``
database); each test gets a fresh schema (conftest), dropped afterwards. Without a reachable
server the PostgreSQL cases are skipped with the reason, never failed.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from tests.conftest import POSTGRES_URL

from ltrr.catalog.ingest import ingest
from ltrr.catalog.sources import Parsed
from ltrr.config import Config, StorageConfig
from ltrr.errors import CatalogError, ConfigError, StorageError
from ltrr.storage.catalog import CatalogStore, Changes
from ltrr.storage.datadir import CATALOG_URL_ENV, DataDir, catalog_url
from ltrr.storage.postgres_catalog import PostgresCatalogStore
from ltrr.storage.sqlite import DB_NAME, connect
from ltrr.storage.sqlite_catalog import SqliteCatalogStore
from ltrr.types import Entity, EntityId


def _e(entity_id: str, title: str | None = None, **changes: Any) -> Entity:
    entity = Entity(
        id=EntityId(entity_id),
        type="track",
        title=title or f"title {entity_id}",
        fields={"artist": "Ann Doe", "text": "a song about élan"},
        attributes={"genre": {"pop": 1.0, "rock": 0.25}, "mood": {"calm": 0.5}},
        popularity=3.5,
        related=(EntityId("x"), EntityId("y")),
        added_at_s=1_700_000_000.25,
    )
    return dataclasses.replace(entity, **changes)


# -- backends -----------------------------------------------------------------------------------


@dataclasses.dataclass
class Backend:
    """One catalog, opened as often as a test wants (writers, readers), closed at the end."""

    name: str
    opener: Callable[[bool], tuple[CatalogStore, Callable[[], None]]]
    closers: list[Callable[[], None]] = dataclasses.field(default_factory=list)

    def open(self, *, readonly: bool = False) -> CatalogStore:
        store, close = self.opener(readonly)
        self.closers.append(close)
        return store


def _sqlite(tmp_path: Path) -> Backend:
    db = tmp_path / DB_NAME
    connect(db, StorageConfig(synchronous="NORMAL"), readonly=False).close()  # migrated

    def opener(readonly: bool) -> tuple[CatalogStore, Callable[[], None]]:
        conn = connect(db, StorageConfig(synchronous="NORMAL"), readonly=readonly)
        return SqliteCatalogStore(conn), conn.close

    return Backend("sqlite", opener)


def _postgres(url: str) -> Backend:
    def opener(readonly: bool) -> tuple[CatalogStore, Callable[[], None]]:
        store = PostgresCatalogStore(url, readonly=readonly)
        return store, store.close

    return Backend("postgres", opener)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    # the PostgreSQL case takes conftest's fresh schema (skipped, with the reason, without a server)
    if request.param == "sqlite":
        store = _sqlite(tmp_path)
    else:
        store = _postgres(request.getfixturevalue("postgres_catalog_url"))
    try:
        yield store
    finally:
        for close in reversed(store.closers):
            close()


@pytest.fixture
def store(backend: Backend) -> CatalogStore:
    return backend.open()


def _put(store: CatalogStore, *entities: Entity) -> int:
    with store.change() as change:
        change.upsert(list(entities))
    return store.version()


def _delete(store: CatalogStore, *ids: str) -> list[EntityId]:
    with store.change() as change:
        return change.delete([EntityId(i) for i in ids])


# -- the contract -------------------------------------------------------------------------------


def test_is_a_catalog_store(store: CatalogStore) -> None:
    assert isinstance(store, CatalogStore)


def test_a_new_catalog_is_empty_at_version_0(store: CatalogStore) -> None:
    assert store.version() == 0 and len(store) == 0
    assert store.get("a") is None and "a" not in store
    assert store.get_many(["a", "b"]) == {}
    assert list(store.iter_entities()) == []
    assert store.count_by_type() == {} and store.count_by_attribute() == {}
    assert store.changes_since(0) == Changes(0, 0, (), ())


def test_round_trip_keeps_every_field(store: CatalogStore) -> None:
    entities = [
        _e("a"),
        _e("b", title="Ünïcødé 🎵 «title»", popularity=0.0, added_at_s=None, fields={}),
        Entity(id=EntityId("c"), type="podcast", title="bare"),
    ]
    _put(store, *entities)
    for entity in entities:
        assert store.get(entity.id) == entity
        assert entity.id in store
    assert store.get_many(["c", "a", "b"]) == {e.id: e for e in entities}
    assert len(store) == 3


def test_versions_are_monotone_and_move_only_when_something_was_written(
    store: CatalogStore,
) -> None:
    assert _put(store, _e("a")) == 1
    assert _put(store, _e("b"), _e("c")) == 2
    with store.change() as change:
        assert change.version == 3
    assert store.version() == 2  # an empty change commits no version
    assert _delete(store, "nope") == ["nope"]
    assert store.version() == 2  # nor does one that deleted nothing
    assert _delete(store, "a") == []
    assert store.version() == 3


def test_a_failed_change_rolls_back_everything(store: CatalogStore) -> None:
    _put(store, _e("a"))
    with pytest.raises(RuntimeError, match="boom"), store.change() as change:
        change.upsert([_e("b"), _e("a", title="changed")])
        change.delete([EntityId("a")])
        raise RuntimeError("boom")
    assert store.version() == 1 and len(store) == 1
    assert store.get("a") == _e("a") and store.get("b") is None
    assert store.changes_since(1) == Changes(1, 1, (), ())
    assert _put(store, _e("b")) == 2  # the failed change's version is taken again


def test_upsert_of_an_existing_id_replaces_the_whole_entity(store: CatalogStore) -> None:
    _put(store, _e("a"))
    replacement = Entity(id=EntityId("a"), type="album", title="new title", popularity=9.0)
    _put(store, replacement)
    assert store.get("a") == replacement  # fields, attributes, related gone too
    assert len(store) == 1
    assert store.count_by_attribute() == {}
    assert store.changes_since(1).upserted == ("a",)


def test_the_last_of_a_repeated_id_in_one_batch_wins(store: CatalogStore) -> None:
    _put(store, _e("a", title="first"), _e("b"), _e("a", title="last"))
    assert store.get("a") == _e("a", title="last") and len(store) == 2


def test_get_many_leaves_out_unknown_ids(store: CatalogStore) -> None:
    _put(store, _e("a"), _e("b"))
    assert set(store.get_many(["zz", "a", "a", "", "b\x00", "b"])) == {"a", "b"}
    assert store.get_many([]) == {}
    assert store.get_many(["nope"]) == {}
    assert store.get("") is None and "" not in store and 7 not in store


def test_delete_reports_missing_ids_in_order(store: CatalogStore) -> None:
    _put(store, _e("a"), _e("b"), _e("c"))
    assert _delete(store, "q", "b", "b", "a", "z") == ["q", "b", "z"]
    assert [e.id for e in store.iter_entities()] == ["c"]
    assert store.changes_since(1) == Changes(1, 2, (), ("a", "b"))


def test_changes_since_is_exactly_what_changed_after_each_version(store: CatalogStore) -> None:
    """A random history of upserts, re-upserts, deletes and re-inserts against a model of which
    version last touched each id: every ``changes_since(v)`` must match it exactly."""
    rng = np.random.default_rng(7)
    ids = [f"e{i:02d}" for i in range(30)]
    present: dict[str, int] = {}  # id -> version of its last upsert
    tombstone: dict[str, int] = {}  # id -> version that deleted it (while absent)
    for version in range(1, 26):
        with store.change() as change:
            assert change.version == version
            ups = sorted(set(rng.choice(ids, size=int(rng.integers(1, 6))).tolist()))
            dels = [i for i in rng.choice(ids, size=3).tolist() if i in present and i not in ups]
            change.upsert([_e(i, title=f"{i} v{version}") for i in ups])
            change.delete([EntityId(i) for i in dict.fromkeys(dels)])
        for i in ups:
            present[i] = version
            tombstone.pop(i, None)
        for i in dels:
            present.pop(i, None)
            tombstone[i] = version
    assert store.version() == 25
    for since in range(26):
        assert store.changes_since(since) == Changes(
            since,
            25,
            tuple(sorted(i for i, v in present.items() if v > since)),
            tuple(sorted(i for i, v in tombstone.items() if v > since)),
        ), since
    assert {e.id: e.title for e in store.iter_entities()} == {
        i: f"{i} v{v}" for i, v in present.items()
    }


def test_a_replacement_tombstones_what_it_does_not_put_back(store: CatalogStore) -> None:
    _put(store, _e("a"), _e("b"), _e("c"))
    report = ingest(store, [Parsed(1, _e("b", title="kept")), Parsed(2, _e("d"))], replace=True)
    assert (report.n_upserted, report.n_deleted) == (2, 2)  # a and c removed for good
    assert (report.version_before, report.version_after) == (1, 2)
    assert store.changes_since(1) == Changes(1, 2, ("b", "d"), ("a", "c"))
    assert sorted(e.id for e in store.iter_entities()) == ["b", "d"]


def test_ingest_into_an_empty_catalog_then_counts(store: CatalogStore) -> None:
    records = [
        Parsed(1, _e("a")),
        Parsed(2, _e("b", type="artist", attributes={"genre": {"jazz": 1.0}})),
        Parsed(3, _e("c", type="artist", attributes={})),
    ]
    report = ingest(store, records)
    assert report.n_upserted == 3 and store.version() == 1
    assert store.count_by_type() == {"artist": 2, "track": 1}
    assert store.count_by_attribute() == {"genre": 2, "mood": 1}
    assert list(store.count_by_attribute()) == ["genre", "mood"]


def test_iter_entities_is_in_code_point_order_across_batches(store: CatalogStore) -> None:
    ids = ["b", "a", "Z", "é", "ß", "a b", "A", "🎵", "10", "9", "zz"]
    _put(store, *(_e(i) for i in ids))
    assert [e.id for e in store.iter_entities(batch_size=3)] == sorted(ids)
    assert store.changes_since(0).upserted == tuple(sorted(ids))


def test_a_large_batch(store: CatalogStore) -> None:
    n = 12_000
    records = (Parsed(i + 1, _e(f"id{i:06d}", popularity=float(i))) for i in range(n))
    report = ingest(store, records, batch_size=5000)
    assert report.n_upserted == n and store.version() == 1 and len(store) == n
    wanted = [f"id{i:06d}" for i in range(0, n + 500, 3)]  # the last 167 are unknown
    found = store.get_many(wanted)
    assert len(found) == len(range(0, n, 3))
    assert found[EntityId("id011997")].popularity == 11997.0
    assert sum(1 for _ in store.iter_entities(batch_size=5000)) == n
    assert len(store.changes_since(0).upserted) == n


def test_a_reader_catches_up_with_a_concurrent_writer(backend: Backend) -> None:
    """A replica polling ``changes_since`` while another connection writes: it sees versions
    in order, never half a change, and ends with exactly the writer's catalog."""
    writer, reader = backend.open(), backend.open(readonly=True)
    n_changes, done = 40, threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for v in range(1, n_changes + 1):
                with writer.change() as change:
                    change.upsert([_e(f"{v}-{i}", title=f"v{v}") for i in range(25)])
                    change.upsert([_e("shared", title=f"v{v}")])
                    if v % 3 == 0:
                        change.delete([EntityId(f"{v - 1}-{i}") for i in range(10)])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            done.set()

    replica: dict[str, Entity] = {}
    seen = [0]
    thread = threading.Thread(target=write)
    thread.start()
    while True:
        finished = done.is_set()
        changes = reader.changes_since(seen[-1])
        assert changes.version >= seen[-1]
        for entity_id in changes.deleted:
            replica.pop(entity_id, None)
        replica.update(reader.get_many(changes.upserted))
        # one snapshot: the shared entity is at least as new as the version reported
        if changes.version and "shared" in changes.upserted:
            assert int(replica["shared"].title[1:]) >= changes.version
        seen.append(changes.version)
        if finished:
            break
    thread.join()
    assert not errors
    assert seen[-1] == n_changes == writer.version()
    assert replica == {e.id: e for e in writer.iter_entities()}
    assert len(set(seen)) > 2, "the reader never saw the writer mid-way"


def test_concurrent_writers_get_distinct_versions_in_commit_order(backend: Backend) -> None:
    stores = [backend.open(), backend.open()]
    n_each = 15

    def write(k: int) -> None:
        for i in range(n_each):
            with stores[k].change() as change:
                change.upsert([_e(f"w{k}-{i}", title=str(change.version))])

    threads = [threading.Thread(target=write, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    versions = sorted(int(e.title) for e in stores[0].iter_entities())
    assert versions == list(range(1, 2 * n_each + 1))
    assert stores[1].version() == 2 * n_each
    for v in range(2 * n_each + 1):  # each version's change is visible exactly after it
        assert len(stores[1].changes_since(v).upserted) == 2 * n_each - v


# -- PostgreSQL: what only that backend has ----------------------------------------------------


def test_unreachable_server_is_a_storage_error_naming_the_url_without_password() -> None:
    url = "postgresql://ltrr:s3cret@127.0.0.1:1/ltrr?schema=cat"
    with pytest.raises(
        StorageError, match=r"catalog's PostgreSQL at postgresql://ltrr@127\.0\.0\.1:1"
    ):
        PostgresCatalogStore(url, connect_timeout_s=2)


@pytest.mark.parametrize(
    "url", ["mysql://u@h/db", "sqlite:///x.sqlite", "127.0.0.1:5432", "postgresql"]
)
def test_a_catalog_url_that_is_not_postgresql_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match=r"storage\.catalog_url must be empty"):
        StorageConfig(catalog_url=url)
    with pytest.raises(ConfigError, match=rf"\${CATALOG_URL_ENV}: storage\.catalog_url"):
        catalog_url(Config({"storage": {}}), {CATALOG_URL_ENV: url})


def test_the_environment_overrides_the_setting(config: Config) -> None:
    set_ = config.replaced("storage", catalog_url="postgresql://h/db")
    assert catalog_url(config, {}) == ""
    assert catalog_url(set_, {}) == "postgresql://h/db"
    assert catalog_url(set_, {CATALOG_URL_ENV: " postgres://e/db "}) == "postgres://e/db"
    assert catalog_url(set_, {CATALOG_URL_ENV: ""}) == "postgresql://h/db"


def _sql(statement: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        cursor = conn.execute(statement)
        return cursor.fetchall() if cursor.description else []


def test_versions_are_recorded_and_readers_refuse_others(
    postgres_catalog_url: str, postgres_schema: str
) -> None:
    with pytest.raises(StorageError, match="has no catalog: nothing was ingested"):
        PostgresCatalogStore(postgres_catalog_url, readonly=True)
    PostgresCatalogStore(postgres_catalog_url).close()
    assert _sql(f"SELECT * FROM {postgres_schema}.ltrr_schema_version") == [("catalog", 1)]
    _sql(f"UPDATE {postgres_schema}.ltrr_schema_version SET version = 2")
    for readonly in (True, False):
        with pytest.raises(StorageError, match="catalog schema version 2, written by a newer"):
            PostgresCatalogStore(postgres_catalog_url, readonly=readonly)


def test_a_reader_refuses_to_write_until_it_takes_a_writing_view(
    postgres_catalog_url: str,
) -> None:
    PostgresCatalogStore(postgres_catalog_url).close()
    with PostgresCatalogStore(postgres_catalog_url, readonly=True) as reader:
        with pytest.raises(StorageError, match="opened read-only"), reader.change():
            pass
        view = reader.writable()
        assert reader.writable() is view
        _put(view, _e("a"))
        assert reader.version() == 1 and reader.get("a") == _e("a")


def test_nul_characters_are_refused_by_field(postgres_catalog_url: str) -> None:
    with PostgresCatalogStore(postgres_catalog_url) as store:
        for bad, field in ((_e("a\x00"), "id"), (_e("a", title="t\x00"), "title")):
            with pytest.raises(CatalogError, match="NUL") as caught:
                _put(store, _e("ok"), bad)
            assert caught.value.field == field
        assert store.version() == 0 and len(store) == 0


def test_the_writer_reconnects_after_losing_its_connection(postgres_catalog_url: str) -> None:
    with PostgresCatalogStore(postgres_catalog_url) as store:
        _put(store, _e("a"))
        _sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'ltrr-catalog' AND pid <> pg_backend_pid()"
        )
        with pytest.raises(StorageError, match="catalog postgresql://"):
            _put(store, _e("b"))  # the broken connection fails this change, cleanly
        assert _put(store, _e("b")) == 2  # the next one reconnects
        assert set(store.get_many(["a", "b"])) == {"a", "b"}


# -- PostgreSQL: the data directory -------------------------------------------------------------


def _on_pg(config: Config, url: str) -> Config:
    return config.replaced("storage", catalog_url=url)


def test_data_directories_share_a_postgresql_catalog(
    tmp_path: Path, config: Config, postgres_catalog_url: str
) -> None:
    settings = _on_pg(config, postgres_catalog_url)
    with DataDir(tmp_path / "one", settings, writer=True) as one:
        assert isinstance(one.catalog, PostgresCatalogStore)
        _put(one.catalog, _e("a"))
    with (
        DataDir(tmp_path / "two", settings, writer=True),
        DataDir(tmp_path / "two", settings, writer=False) as two,
    ):
        assert two.catalog.get("a") == _e("a")  # another directory: the same catalog
    with DataDir(tmp_path / "two", settings, writer=False) as reader:
        with reader.writing() as handle:  # a service worker's turn to write
            assert handle.catalog is not reader.catalog
            _put(handle.catalog, _e("b"))
        assert reader.catalog.changes_since(1).upserted == ("b",)
        with reader.writing() as handle:
            _delete(handle.catalog, "a")
    with DataDir(tmp_path / "one", settings, writer=False) as one:
        assert [e.id for e in one.catalog.iter_entities()] == ["b"] and one.catalog.version() == 3


def test_the_data_directory_names_an_unreachable_catalog(tmp_path: Path, config: Config) -> None:
    settings = _on_pg(config, "postgresql://u:pw@127.0.0.1:1/db")
    with pytest.raises(StorageError, match=r"PostgreSQL at postgresql://u@127\.0\.0\.1:1/db"):
        DataDir(tmp_path, settings, writer=True).open()
    DataDir(tmp_path, config, writer=True).open().close()  # the lock was released


def test_indexes_of_one_catalog_are_not_served_from_another(
    tmp_path: Path, config: Config, postgres_catalog_url: str
) -> None:
    with DataDir(tmp_path, config, writer=True) as dd:
        _put(dd.catalog, _e("a"))
    (tmp_path / "indexes").mkdir()  # built from the directory's own catalog at version 1
    settings = _on_pg(config, postgres_catalog_url)
    for writer in (True, False):
        with pytest.raises(StorageError, match="indexes built from the catalog at sqlite:data-d"):
            DataDir(tmp_path, settings, writer=writer).open()
    (tmp_path / "indexes").rmdir()
    DataDir(tmp_path, settings, writer=True).open().close()  # records the new catalog
    (tmp_path / "indexes").mkdir()
    DataDir(tmp_path, settings, writer=False).open().close()
    with pytest.raises(StorageError, match=r"built from the catalog at postgresql://"):
        DataDir(tmp_path, config, writer=False).open()

"""Data directories: one writer at a time, readers beside it, schema migrations, isolation."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ltrr.config import Config
from ltrr.errors import LockedError, StorageError
from ltrr.storage.datadir import DataDir
from ltrr.storage.lock import WriterLock
from ltrr.storage.sqlite import DB_NAME, SCHEMA_VERSION
from ltrr.types import Entity, EntityId

GOLDEN = Path(__file__).resolve().parents[2] / "golden"


def _put(dd: DataDir, entity_id: str) -> None:
    with dd.catalog.change() as change:
        change.upsert([Entity(id=EntityId(entity_id), type="t", title=entity_id)])


def test_second_writer_gets_error_naming_holder(tmp_path: Path, config: Config) -> None:
    with DataDir(tmp_path, config, writer=True):
        with pytest.raises(LockedError, match=r"locked by another writer \(pid \d+ on "):
            DataDir(tmp_path, config, writer=True).open()
    with DataDir(tmp_path, config, writer=True):
        pass  # released on close


def test_lock_held_by_another_process(tmp_path: Path, config: Config) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import pathlib, time; from ltrr.config import load_config;"
            "from ltrr.storage.datadir import DataDir;"
            f"d = DataDir(pathlib.Path({str(tmp_path)!r}), load_config(), writer=True);"
            "d.open(); print('locked', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(LockedError, match=f"pid {holder.pid} "):
            DataDir(tmp_path, config, writer=True).open()
    finally:
        holder.kill()
        holder.wait()
    with DataDir(tmp_path, config, writer=True):
        pass  # the kernel released the dead holder's lock


def test_readers_run_beside_the_writer(tmp_path: Path, config: Config) -> None:
    with DataDir(tmp_path, config, writer=True) as writer:
        _put(writer, "a")
        with DataDir(tmp_path, config, writer=False) as reader, writer.catalog.change() as change:
            change.upsert([Entity(id=EntityId("b"), type="t", title="b")])
            assert len(reader.catalog) == 1, "uncommitted writes are invisible to readers"
        with DataDir(tmp_path, config, writer=False) as reader:
            assert len(reader.catalog) == 2
            with pytest.raises(sqlite3.OperationalError, match="readonly"):
                _put(reader, "c")


def test_reader_of_missing_catalog_gets_clear_error(tmp_path: Path, config: Config) -> None:
    with pytest.raises(StorageError, match=r"no catalog at .*run 'ltrr ingest'"):
        DataDir(tmp_path / "none", config, writer=False).open()


def test_two_data_directories_do_not_interfere(tmp_path: Path, config: Config) -> None:
    with (
        DataDir(tmp_path / "a", config, writer=True) as a,
        DataDir(tmp_path / "b", config, writer=True) as b,
    ):
        _put(a, "only-in-a")
        _put(b, "only-in-b")
        assert [e.id for e in a.catalog.iter_entities()] == ["only-in-a"]
        assert [e.id for e in b.catalog.iter_entities()] == ["only-in-b"]


def test_wal_mode(data_dir: DataDir) -> None:
    assert data_dir.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_golden_v1_database_migrates_and_reads(tmp_path: Path, config: Config) -> None:
    conn = sqlite3.connect(tmp_path / DB_NAME)
    conn.executescript((GOLDEN / "catalog-schema-v1.sql").read_text())
    conn.close()
    with pytest.raises(StorageError, match="schema version 1; run any writing command"):
        DataDir(tmp_path, config, writer=False).open()
    with DataDir(tmp_path, config, writer=True) as dd:
        assert dd.schema_version() == SCHEMA_VERSION
        store = dd.catalog
        assert store.version() == 3
        track = store.get("track:1")
        assert track is not None
        assert track.attributes == {"genre": {"pop": 0.8, "country": 0.2}}
        assert track.added_at_s == 1221177600.0
        with store.change() as change:
            change.delete([EntityId("artist:1")])
        assert store.changes_since(3).deleted == ("artist:1",)


def test_newer_schema_is_refused(tmp_path: Path, config: Config) -> None:
    conn = sqlite3.connect(tmp_path / DB_NAME)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StorageError, match="written by a newer ltrr"):
        DataDir(tmp_path, config, writer=True).open()
    lock = WriterLock(tmp_path)
    lock.acquire()  # the failed open released the lock it took
    lock.release()

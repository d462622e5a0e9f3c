"""The event log's tables are migration 3: old databases keep their events, new ones get them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ltrr.config import Config
from ltrr.errors import StorageError
from ltrr.log.events import Action, Impression
from ltrr.log.params import LogParams
from ltrr.log.sqlite_log import SqliteEventLog
from ltrr.storage.datadir import DataDir
from ltrr.storage.sqlite import DB_NAME, MIGRATIONS, SCHEMA_VERSION, migrate
from ltrr.types import EntityId

GOLDEN = Path(__file__).resolve().parents[2] / "golden"
FAST = LogParams(synchronous="NORMAL")


def _tables(path: Path) -> set[str]:
    conn = sqlite3.connect(path)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()


def _version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def _events(log: SqliteEventLog) -> list[str]:
    return [e.request_id if isinstance(e, Impression) else e.action_id for e in log.replay()]


def test_v2_database_with_log_tables_migrates_and_keeps_its_events(
    tmp_path: Path, config: Config
) -> None:
    """As ltrr wrote it before migration 3: schema version 2, the log's tables already there."""
    conn = sqlite3.connect(tmp_path / DB_NAME)
    conn.executescript((GOLDEN / "eventlog-schema-v2.sql").read_text())
    conn.close()
    with pytest.raises(StorageError, match="schema version 2; run any writing command"):
        SqliteEventLog(tmp_path / DB_NAME, readonly=True)
    with pytest.raises(StorageError, match="schema version 2; run any writing command"):
        DataDir(tmp_path, config, writer=False).open()
    with DataDir(tmp_path, config, writer=True) as dd:
        assert dd.schema_version() == SCHEMA_VERSION
        with SqliteEventLog.open(dd) as log:
            assert _events(log) == ["r1", "x1"]
            imp = log.impression("r1")
            assert imp is not None and imp.plan.depths == {"lexical": 10, "dense": 0}
            assert imp.strategy_results == {"lexical": [(EntityId("track:1"), 2.5)]}
            action = Action(
                action_id="x2",
                request_id="r1",
                user_id="u1",
                entity_id=EntityId("track:1"),
                kind="like",
                event_time_s=102.0,
            )
            assert log.log_action(action)
    with DataDir(tmp_path, config, writer=False) as dd, SqliteEventLog.open(dd) as reader:
        assert _events(reader) == ["r1", "x1", "x2"]
        assert reader.stats().n_actions_by_kind == {"click": 1, "like": 1}
    conn = sqlite3.connect(tmp_path / DB_NAME)
    assert conn.execute("SELECT seq FROM actions WHERE action_id = 'x2'").fetchone() == (3,)
    conn.close()


def test_log_file_created_on_its_own_before_the_migration_migrates(tmp_path: Path) -> None:
    """A log opened on a file of its own wrote its tables at version 0."""
    db = tmp_path / "events.sqlite"
    conn = sqlite3.connect(db)
    conn.executescript(MIGRATIONS[2])  # the same statements the log ran itself
    conn.execute(
        "INSERT INTO impressions VALUES (1, 'r1', NULL, NULL, 'q', '{}', "
        """'{"depths": {"lexical": 5}, "greedy": {"lexical": 5}}', '{}', '[]', 0, 0, '{}', """
        "10.0, 1)"
    )
    conn.commit()
    conn.close()
    assert _version(db) == 0
    with SqliteEventLog(db, is_known_entity=lambda e: True, params=FAST) as log:
        assert _events(log) == ["r1"]
    assert _version(db) == SCHEMA_VERSION
    assert {"meta", "entities", "tombstones", "impressions", "actions"} <= _tables(db)


def test_fresh_database_gets_the_log_tables_by_migration(tmp_path: Path, config: Config) -> None:
    conn = sqlite3.connect(tmp_path / "fresh.sqlite", isolation_level=None)
    assert migrate(conn) == SCHEMA_VERSION
    conn.close()
    assert {"impressions", "actions"} <= _tables(tmp_path / "fresh.sqlite")
    with DataDir(tmp_path / "d", config, writer=True):
        pass  # a data directory that never logged still has an (empty) event log
    with SqliteEventLog(tmp_path / "d" / DB_NAME, readonly=True) as reader:
        assert reader.stats().n_impressions == 0
        assert _events(reader) == []


def test_newer_database_is_refused_by_the_log(tmp_path: Path) -> None:
    db = tmp_path / DB_NAME
    with SqliteEventLog(db, params=FAST):
        pass
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StorageError, match="written by a newer ltrr"):
        SqliteEventLog(db, readonly=True)
    with pytest.raises(StorageError, match="written by a newer ltrr"):
        SqliteEventLog(db, params=FAST)


def test_action_checks_read_the_covering_index(tmp_path: Path) -> None:
    """Migration 6: the batch look-up of shown pages and the action insert's read of the event
    time are answered from ``impressions_page`` alone (no read of the few-KB table row)."""
    from ltrr.log.sqlite_reader import SHOWN_OF
    from ltrr.log.sqlite_schema import INSERT_ACT

    conn = sqlite3.connect(tmp_path / DB_NAME)
    migrate(conn)
    shown = conn.execute(
        f"EXPLAIN QUERY PLAN {SHOWN_OF} WHERE request_id IN (?, ?)", ("a", "b")
    ).fetchall()
    insert = conn.execute(f"EXPLAIN QUERY PLAN {INSERT_ACT}", (None,) * 11).fetchall()
    conn.close()
    for plan in (shown, insert):
        assert any("COVERING INDEX impressions_page" in row[-1] for row in plan), plan

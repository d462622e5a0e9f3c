"""What only the PostgreSQL log has: URLs, schemas and their versions, NUL characters, a lost
connection. The behaviour it shares with SQLite is tests/contracts/test_event_logs.py."""

from __future__ import annotations

import dataclasses
import os
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest

from ltrr.errors import ConfigError, StorageError
from ltrr.log.events import Action, EventError, Impression
from ltrr.log.postgres_log import PostgresEventLog
from ltrr.log.postgres_schema import check_schema_name, lock_key, redact, split_url
from ltrr.log.sqlite_log import SqliteEventLog
from ltrr.log.sqlite_reader import LogReader
from ltrr.select.base import Plan
from ltrr.types import Context, EntityId

PG_URL = os.environ.get("LTRR_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
PLAN = Plan(depths={"lexical": 2}, greedy={"lexical": 2}, epsilon=0.1, policy="ltrr")


def _imp(request_id: str = "r1", **changes: Any) -> Impression:
    imp = Impression(
        request_id=request_id,
        user_id="u1",
        session_id=None,
        query="love story",
        context=Context(),
        plan=PLAN,
        strategy_results={"lexical": [(EntityId("a"), 2.0), (EntityId("b"), 1.0)]},
        shown=(EntityId("a"), EntityId("b")),
        catalog_version=1,
        event_time_s=100.0,
    )
    return dataclasses.replace(imp, **changes)


def _act(action_id: str = "x1", request_id: str = "r1", **changes: Any) -> Action:
    action = Action(
        action_id=action_id,
        request_id=request_id,
        user_id=None,
        entity_id=EntityId("a"),
        kind="click",
        event_time_s=101.0,
    )
    return dataclasses.replace(action, **changes)


# -- without a server ---------------------------------------------------------------------------


def test_split_url_takes_the_schema_and_keeps_libpq_parameters() -> None:
    conninfo, schema = split_url("postgresql://u@h:5433/db?schema=logs&sslmode=disable")
    assert (conninfo, schema) == ("postgresql://u@h:5433/db?sslmode=disable", "logs")
    assert split_url("postgres://h/db") == ("postgres://h/db", None)
    with pytest.raises(ConfigError, match="postgresql://"):
        split_url("mysql://u:secret@h/db")


def test_redact_drops_passwords() -> None:
    assert redact("postgresql://u:s3cret@h:5432/db") == "postgresql://u@h:5432/db"
    assert "s3cret" not in redact("postgresql://h/db?password=s3cret&sslmode=require")
    assert redact("postgresql://h/db") == "postgresql://h/db"


@pytest.mark.parametrize("name", ["", "Logs", "a-b", "x;drop", "1abc", "a" * 64])
def test_schema_names_are_plain_identifiers(name: str) -> None:
    with pytest.raises(ConfigError, match="schema name"):
        check_schema_name(name)


def test_lock_keys_differ_by_schema_and_fit_a_bigint() -> None:
    keys = {lock_key("log-order", s) for s in ("public", "a", "b")}
    assert len(keys) == 3 and all(-(2**63) <= k < 2**63 for k in keys)


def test_unreachable_server_is_a_storage_error_naming_the_url_without_password() -> None:
    url = "postgresql://ltrr:s3cret@127.0.0.1:1/ltrr"
    with pytest.raises(StorageError, match=r"postgresql://ltrr@127\.0\.0\.1:1/ltrr") as caught:
        PostgresEventLog(url)
    assert "s3cret" not in str(caught.value)


# -- with a server ------------------------------------------------------------------------------


def _sql(statement: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        cursor = conn.execute(statement, args or None)
        return cursor.fetchall() if cursor.description else []


@pytest.fixture
def schema(postgres_schema: str) -> str:
    """A fresh schema of the test database (conftest: skipped without a server)."""
    return postgres_schema


def test_the_urls_schema_is_used_and_a_parameter_overrides_it(schema: str) -> None:
    with PostgresEventLog(f"{PG_URL}?schema={schema}") as log:
        assert log.schema == schema
        log.log_impression(_imp())
    assert _sql(f"SELECT request_id FROM {schema}.impressions") == [("r1",)]
    with PostgresEventLog(f"{PG_URL}?schema=public", schema=schema) as log:
        assert log.schema == schema and log.stats().n_impressions == 1


def test_the_schema_records_its_version(schema: str) -> None:
    PostgresEventLog(PG_URL, schema=schema).close()
    assert _sql(f"SELECT component, version FROM {schema}.ltrr_schema_version") == [
        ("event_log", 1)
    ]


def test_a_reader_refuses_an_older_schema_and_a_writer_upgrades_it(schema: str) -> None:
    PostgresEventLog(PG_URL, schema=schema).close()
    _sql(f"UPDATE {schema}.ltrr_schema_version SET version = 0")
    _sql(f"DROP TABLE {schema}.features, {schema}.actions, {schema}.impressions")
    _sql(f"DROP SEQUENCE {schema}.event_seq")
    with pytest.raises(StorageError, match="version 0; open it once with a writer"):
        PostgresEventLog(PG_URL, schema=schema, readonly=True)
    PostgresEventLog(PG_URL, schema=schema).close()
    PostgresEventLog(PG_URL, schema=schema, readonly=True).close()


def test_writers_opening_a_fresh_schema_together_migrate_once(schema: str) -> None:
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            PostgresEventLog(PG_URL, schema=schema).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (_imp(query="love\x00story"), "query"),
        (_imp(request_id="r\x00"), "request_id"),
        (_act(entity_id=EntityId("a\x00")), "entity_id"),
        (_act(action_id="x\x00"), "action_id"),
    ],
)
def test_nul_characters_are_refused_by_field(schema: str, event: Any, field: str) -> None:
    with PostgresEventLog(PG_URL, schema=schema, is_known_entity=lambda e: True) as log:
        log.log_impression(_imp())
        with pytest.raises(EventError, match=f"field '{field}'"):
            if isinstance(event, Impression):
                log.log_impression(event)
            else:
                log.log_action(event)
        assert log.log_action(_act("ok"))  # the batch it would have shared is unharmed
        assert log.stats().n_impressions == 1


def test_recent_lists_what_sqlites_reader_lists(schema: str, tmp_path: Path) -> None:
    db = tmp_path / "ltrr.sqlite"
    with (
        SqliteEventLog(db) as lite,
        PostgresEventLog(PG_URL, schema=schema) as pg,
    ):
        for log in (lite, pg):
            for i in range(3):
                log.log_impression(_imp(f"r{i}", event_time_s=100.0 + i))
            log.log_action(_act("x1", "r1"))
            log.log_action(_act("x2", "r1", entity_id=EntityId("b")))
        reader = LogReader(db, 1000)
        try:
            expected = reader.recent(2)
        finally:
            reader.close()
        assert pg.recent(2) == expected
        assert [r["request_id"] for r in expected] == ["r2", "r1"]
        assert expected[1]["n_actions"] == 2


def test_the_writer_reconnects_after_losing_its_connection(schema: str) -> None:
    with PostgresEventLog(PG_URL, schema=schema) as log:
        log.log_impression(_imp())
        log.flush()
        writer = log._pg_writer
        assert writer is not None and writer._conn is not None
        pid = writer._conn.info.backend_pid
        _sql("SELECT pg_terminate_backend(%s)", pid)
        assert log.log_action(_act()) is True  # retried on a new connection
        assert writer._conn is not None and writer._conn.info.backend_pid != pid
        assert [a.action_id for a in log.actions_for("r1")] == ["x1"]


def test_action_whose_impression_was_lost_is_refused(schema: str) -> None:
    # Checks saw the request, but its impression's batch never reached the database (the
    # writer's defensive path; reached here by queueing an action row directly).
    with PostgresEventLog(PG_URL, schema=schema) as log:
        row = ("x1", "gone", None, "a", "click", None, 1.0, 1.0, 1, "gone")
        job = log._writer().put(row, urgent=True)
        log._writer().wait(job)
        assert isinstance(job.error, EventError) and job.error.field == "request_id"
        assert not job.inserted
        assert log.stats().n_actions == 0

"""How the event log maps to PostgreSQL: the tables, their versioned migrations, the statements.

Rows are the SQLite log's rows (``log.sqlite_schema`` encodes and decodes both): nested parts
as JSON *text* (``text``, not ``jsonb``, so that a round trip returns the very text SQLite
stores, key order included), features as the same zlib-compressed float32 bytes (``bytea``).
``seq``, from one sequence shared by both tables, is the log order.

Every object lives in one schema (``public`` unless the URL's ``?schema=`` or a parameter
names another). The URL handling and the versioned migrations are shared with the catalog
(``storage.postgres``): this log is the ``event_log`` row of the schema's
``ltrr_schema_version``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from ltrr.log.sqlite_schema import ACT_COLS, IMP_COLS
from ltrr.storage.postgres import (
    URL_SCHEMES,
    Component,
    check_schema_name,
    identity,
    lock_key,
    redact,
    split_url,
)

__all__ = [
    "COMPONENT",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "URL_SCHEMES",
    "Statements",
    "check_current",
    "check_schema_name",
    "identity",
    "lock_key",
    "migrate",
    "redact",
    "split_url",
]

COMPONENT = "event_log"

#: MIGRATIONS[i] moves a schema's event log from version i to i + 1; ``{s}`` is the schema.
MIGRATIONS: tuple[str, ...] = (
    # 1: the tables of SQLite's migrations 3-5 in their final shape.
    """
    CREATE SEQUENCE {s}.event_seq AS bigint;
    CREATE TABLE {s}.impressions (
        seq bigint PRIMARY KEY,
        request_id text NOT NULL UNIQUE,
        user_id text,
        session_id text,
        query text NOT NULL,
        context text NOT NULL,
        plan text NOT NULL,
        strategy_results text NOT NULL,
        shown text NOT NULL,
        page_offset integer NOT NULL,
        catalog_version bigint NOT NULL,
        model_versions text NOT NULL,
        event_time_s double precision NOT NULL,
        schema_version integer NOT NULL,
        strategy_ms text NOT NULL DEFAULT '{}'
    );
    CREATE INDEX impressions_time ON {s}.impressions (event_time_s, seq);
    CREATE TABLE {s}.actions (
        seq bigint PRIMARY KEY,
        action_id text NOT NULL UNIQUE,
        request_id text NOT NULL,
        user_id text,
        entity_id text NOT NULL,
        kind text NOT NULL,
        value double precision,
        event_time_s double precision NOT NULL,
        replay_time_s double precision NOT NULL,
        schema_version integer NOT NULL
    );
    CREATE INDEX actions_request ON {s}.actions (request_id, event_time_s, seq);
    CREATE INDEX actions_replay ON {s}.actions (replay_time_s, seq);
    CREATE TABLE {s}.features (
        request_id text PRIMARY KEY,
        fingerprint text NOT NULL,
        n_rows integer NOT NULL,
        n_cols integer NOT NULL,
        ids text NOT NULL,
        x bytea NOT NULL
    );
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


def _typed(cols: str, types: dict[str, str]) -> str:
    return ", ".join(f"%s::{types[c.strip()]}" for c in cols.split(","))


_ACT_TYPES = {
    "seq": "bigint", "action_id": "text", "request_id": "text", "user_id": "text",
    "entity_id": "text", "kind": "text", "value": "float8", "event_time_s": "float8",
    "replay_time_s": "float8", "schema_version": "integer",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Statements:
    """The statements of one schema's log (names qualified, so no ``search_path`` matters).

    Inserts take their position from the sequence themselves (``nextval`` as the row is
    written, so positions follow statement order) and return it; the writer runs them only
    while it holds the log-order lock (``lock``).
    """

    schema: str
    ident: str
    lock: str
    max_seq: str
    insert_imp: str
    insert_act: str
    insert_features: str

    @classmethod
    def of(cls, schema: str) -> Statements:
        s = f'"{check_schema_name(schema)}"'
        seq = f"nextval('{s}.event_seq')"
        act_values = [seq, *_typed(ACT_COLS, _ACT_TYPES).split(", ")[1:]]
        act_values[8] = "greatest(%s::float8, event_time_s)"  # replay_time_s
        return cls(
            schema=schema,
            ident=s,
            lock=f"SELECT pg_advisory_xact_lock({lock_key('log-order', schema)})",
            max_seq=(
                f"SELECT coalesce(greatest((SELECT max(seq) FROM {s}.impressions), "
                f"(SELECT max(seq) FROM {s}.actions)), 0)"
            ),
            insert_imp=(
                f"INSERT INTO {s}.impressions ({IMP_COLS}) "
                f"VALUES ({', '.join([seq] + ['%s'] * 14)}) "
                "ON CONFLICT (request_id) DO NOTHING RETURNING seq"
            ),
            # As in SQLite: the replay time comes from the stored impression, inside the writing
            # transaction; no row when the action id exists or the impression does not.
            insert_act=(
                f"INSERT INTO {s}.actions ({ACT_COLS}) SELECT {', '.join(act_values)} "
                f"FROM {s}.impressions WHERE request_id = %s "
                "ON CONFLICT (action_id) DO NOTHING RETURNING seq"
            ),
            insert_features=(
                f"INSERT INTO {s}.features (request_id, fingerprint, n_rows, n_cols, ids, x) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (request_id) DO NOTHING"
            ),
        )


# -- versions ---------------------------------------------------------------------------------

_LOG = Component(COMPONENT, MIGRATIONS, "event-log", "event log: nothing was logged yet")


def migrate(conn: psycopg.Connection[Any], schema: str, where: str) -> int:
    """Create ``schema`` and move its log to ``SCHEMA_VERSION`` in one transaction; the
    version reached. ``conn`` is in autocommit mode; ``where`` names the log in errors."""
    return _LOG.migrate(conn, schema, where)


def check_current(conn: psycopg.Connection[Any], schema: str, where: str) -> None:
    """Refuse, for a reader, a schema without an event log or at another version."""
    _LOG.check_current(conn, schema, where)

"""How the event log maps to PostgreSQL: the tables, their versioned migrations, the statements.

Rows are the SQLite log's rows (``log.sqlite_schema`` encodes and decodes both): nested parts
as JSON *text* (``text``, not ``jsonb``, so that a round trip returns the very text SQLite
stores, key order included), features as the same zlib-compressed float32 bytes (``bytea``).
``seq``, from one sequence shared by both tables, is the log order.

Every object lives in one schema (``public`` unless the URL's ``?schema=`` or a parameter
names another), so that several logs, or tests, share a database without meeting. The schema's
version is a row of ``ltrr_schema_version`` (one row per component; this one is
``event_log``): a writer migrates on open, inside one transaction under an advisory lock so
that two writers starting together migrate once; a reader refuses any other version.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg

from ltrr.errors import ConfigError, StorageError
from ltrr.log.sqlite_schema import ACT_COLS, IMP_COLS

COMPONENT = "event_log"
URL_SCHEMES = ("postgresql", "postgres")
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")

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


def check_schema_name(schema: str) -> str:
    """``schema`` if it is a plain lower-case identifier (no quoting surprises), else raise."""
    if not isinstance(schema, str) or not _SCHEMA_NAME.fullmatch(schema):
        raise ConfigError(
            f"PostgreSQL schema name must match {_SCHEMA_NAME.pattern} "
            f"(lower-case letters, digits, '_'), got {schema!r}"
        )
    return schema


def split_url(url: str) -> tuple[str, str | None]:
    """``(conninfo, schema)``: the URL without ltrr's own ``schema`` query parameter, which
    libpq would refuse, and that parameter's value (``None`` when absent)."""
    parts = urlsplit(url)
    if parts.scheme not in URL_SCHEMES:
        raise ConfigError(
            f"a PostgreSQL URL starts with postgresql:// or postgres://, got {redact(url)!r}"
        )
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [v for k, v in query if k == "schema"]
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    return urlunsplit(parts._replace(query=rest)), (schemas[-1] if schemas else None)


def redact(url: str) -> str:
    """``url`` without its password (in the user part or a ``password`` parameter)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        netloc = f"{userinfo.split(':', 1)[0]}@{host}"
    query = urlencode(
        [
            (k, "***" if k == "password" else v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ]
    )
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def identity(conninfo: str, schema: str) -> str:
    """Which log ``conninfo`` and ``schema`` name, as ``postgresql://host[:port]/database?
    schema=NAME``: no user or password (they may change; the log does not), and the libpq
    parameters that pick the server or database kept."""
    parts = urlsplit(conninfo)
    where = [
        (k, v) for k, v in parse_qsl(parts.query) if k in ("host", "hostaddr", "port", "dbname")
    ]
    query = urlencode([*where, ("schema", schema)])
    return urlunsplit(("postgresql", parts.netloc.rsplit("@", 1)[-1], parts.path, query, ""))


def lock_key(purpose: str, schema: str) -> int:
    """A 64-bit advisory-lock key for ``purpose`` on ``schema`` (stable across processes)."""
    digest = hashlib.blake2b(f"ltrr:{purpose}:{schema}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


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


def _version(conn: psycopg.Connection[Any], ident: str) -> int | None:
    row = conn.execute(
        f"SELECT version FROM {ident}.ltrr_schema_version WHERE component = %s", (COMPONENT,)
    ).fetchone()
    return None if row is None else int(row[0])


def _refuse_newer(version: int, where: str) -> None:
    if version > SCHEMA_VERSION:
        raise StorageError(
            f"{where} has event-log schema version {version}, written by a newer ltrr; this "
            f"ltrr reads up to version {SCHEMA_VERSION}"
        )


def migrate(conn: psycopg.Connection[Any], schema: str, where: str) -> int:
    """Create ``schema`` and move its log to ``SCHEMA_VERSION`` in one transaction; the
    version reached. ``conn`` is in autocommit mode; ``where`` names the log in errors."""
    s = Statements.of(schema)
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key("migrate", schema),))
        found = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,))
        if found.fetchone() is None:  # CREATE SCHEMA IF NOT EXISTS needs CREATE on the database
            conn.execute(f"CREATE SCHEMA {s.ident}")
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {s.ident}.ltrr_schema_version "
            "(component text PRIMARY KEY, version integer NOT NULL)"
        )
        version = _version(conn, s.ident)
        if version is None:
            conn.execute(f"INSERT INTO {s.ident}.ltrr_schema_version VALUES (%s, 0)", (COMPONENT,))
            version = 0
        _refuse_newer(version, where)
        for step in range(version, SCHEMA_VERSION):
            conn.execute(MIGRATIONS[step].replace("{s}", s.ident))
        conn.execute(
            f"UPDATE {s.ident}.ltrr_schema_version SET version = %s WHERE component = %s",
            (SCHEMA_VERSION, COMPONENT),
        )
    return SCHEMA_VERSION


def check_current(conn: psycopg.Connection[Any], schema: str, where: str) -> None:
    """Refuse, for a reader, a schema without an event log or at another version."""
    ident = Statements.of(schema).ident
    table = conn.execute("SELECT to_regclass(%s)", (f"{ident}.ltrr_schema_version",)).fetchone()
    version = None if table is None or table[0] is None else _version(conn, ident)
    if version is None:
        raise StorageError(f"{where} has no event log: nothing was logged yet")
    _refuse_newer(version, where)
    if version < SCHEMA_VERSION:
        raise StorageError(
            f"{where} has event-log schema version {version}; open it once with a writer "
            f"to upgrade it to version {SCHEMA_VERSION}"
        )

"""What every PostgreSQL-backed store shares: URLs, connections, pools, versioned migrations.

Moved out of the event log (``log.postgres_schema``, ``log.postgres_writer``) when the catalog
got its PostgreSQL backend (``storage.postgres_catalog``), so both open their server, name it
in errors (never with a password) and version their tables the same way.

Every object of a store lives in one schema (``public`` unless the URL's ``?schema=`` or a
parameter names another), so that several stores, or tests, share a database without meeting.
Each component's version is one row of ``ltrr_schema_version`` in that schema (``event_log``,
``catalog``): a writer migrates on open, inside one transaction under an advisory lock so that
two writers starting together migrate once; a reader refuses any other version.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from ltrr.errors import ConfigError, StorageError

URL_SCHEMES = ("postgresql", "postgres")
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


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
    """Which store ``conninfo`` and ``schema`` name, as ``postgresql://host[:port]/database?
    schema=NAME``: no user or password (they may change; the store does not), and the libpq
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


# -- connections ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Server:
    """How to reach a store: libpq's ``conninfo``; ``url`` (password removed) and ``where``
    (with the schema) name it in errors; ``timeout_s`` bounds every connection attempt;
    ``what`` names the store in "cannot reach" errors, ``application`` in ``pg_stat_activity``.
    """

    conninfo: str
    url: str
    where: str
    timeout_s: int
    what: str = "event log"
    application: str = "ltrr-event-log"

    def unreachable(self, exc: BaseException | None = None) -> StorageError:
        detail = f": {exc}" if exc is not None else ""
        return StorageError(f"cannot reach the {self.what}'s PostgreSQL at {self.url}{detail}")

    def connect(self, synchronous_commit: str | None = None) -> psycopg.Connection[Any]:
        """An autocommit connection; a writer's sets ``synchronous_commit`` (``on``/``off``)."""
        try:
            conn = psycopg.connect(
                self.conninfo,
                autocommit=True,
                connect_timeout=self.timeout_s,
                application_name=self.application,
            )
        except psycopg.Error as exc:
            raise self.unreachable(exc) from exc
        if synchronous_commit is not None:
            conn.execute(f"SET synchronous_commit TO {synchronous_commit}")
        return conn

    def pool(self, size: int, name: str) -> ConnectionPool[psycopg.Connection[Any]]:
        """An open pool of autocommit read connections (at least one connected) whose
        transactions are read-only snapshots."""
        kwargs = {"autocommit": True, "connect_timeout": self.timeout_s}
        pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            self.conninfo,
            kwargs={**kwargs, "application_name": self.application},
            min_size=1,
            max_size=max(1, size),
            timeout=max(10.0, 2.0 * self.timeout_s),
            configure=snapshot_reads,
            num_workers=1,
            name=name,
            open=False,
        )
        try:
            pool.open(wait=True, timeout=2.0 * self.timeout_s)
        except PoolTimeout as exc:
            pool.close()
            raise self.unreachable() from exc
        return pool


def snapshot_reads(conn: psycopg.Connection[Any]) -> None:
    """A pooled connection's transactions (its multi-statement reads; single statements run
    in autocommit) begin as ``REPEATABLE READ READ ONLY``: one snapshot, no extra round trip."""
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True


# -- versions ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Component:
    """One component's tables in a schema: its row of ``ltrr_schema_version`` (``name``), its
    migrations (``migrations[i]`` moves it from version i to i + 1, ``{s}`` standing for the
    quoted schema), how errors name it (``label``, e.g. "event-log") and what a reader is told
    when the schema has none of it yet (``absent``)."""

    name: str
    migrations: tuple[str, ...]
    label: str
    absent: str

    @property
    def version(self) -> int:
        return len(self.migrations)

    def _stored(self, conn: psycopg.Connection[Any], ident: str) -> int | None:
        row = conn.execute(
            f"SELECT version FROM {ident}.ltrr_schema_version WHERE component = %s", (self.name,)
        ).fetchone()
        return None if row is None else int(row[0])

    def _refuse_newer(self, version: int, where: str) -> None:
        if version > self.version:
            raise StorageError(
                f"{where} has {self.label} schema version {version}, written by a newer ltrr; "
                f"this ltrr reads up to version {self.version}"
            )

    def migrate(self, conn: psycopg.Connection[Any], schema: str, where: str) -> int:
        """Create ``schema`` and move this component to its latest version in one transaction;
        the version reached. ``conn`` is in autocommit mode; ``where`` names the store."""
        ident = f'"{check_schema_name(schema)}"'
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key("migrate", schema),))
            found = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,))
            if found.fetchone() is None:  # CREATE SCHEMA IF NOT EXISTS needs CREATE on the db
                conn.execute(f"CREATE SCHEMA {ident}")
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {ident}.ltrr_schema_version "
                "(component text PRIMARY KEY, version integer NOT NULL)"
            )
            version = self._stored(conn, ident)
            if version is None:
                conn.execute(
                    f"INSERT INTO {ident}.ltrr_schema_version VALUES (%s, 0)", (self.name,)
                )
                version = 0
            self._refuse_newer(version, where)
            for step in range(version, self.version):
                conn.execute(self.migrations[step].replace("{s}", ident))
            conn.execute(
                f"UPDATE {ident}.ltrr_schema_version SET version = %s WHERE component = %s",
                (self.version, self.name),
            )
        return self.version

    def check_current(self, conn: psycopg.Connection[Any], schema: str, where: str) -> None:
        """Refuse, for a reader, a schema without this component or at another version."""
        ident = f'"{check_schema_name(schema)}"'
        table = conn.execute("SELECT to_regclass(%s)", (f"{ident}.ltrr_schema_version",)).fetchone()
        version = None if table is None or table[0] is None else self._stored(conn, ident)
        if version is None:
            raise StorageError(f"{where} has no {self.absent}")
        self._refuse_newer(version, where)
        if version < self.version:
            raise StorageError(
                f"{where} has {self.label} schema version {version}; open it once with a "
                f"writer to upgrade it to version {self.version}"
            )

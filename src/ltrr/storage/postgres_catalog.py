"""The catalog in a PostgreSQL schema, for scale-out: service replicas share one catalog and
each keeps its own indexes in step with it through ``changes_since``.

Same semantics as the embedded ``SqliteCatalogStore`` (``tests/contracts/test_catalogs.py``):

- A change is one transaction on the store's writer connection. Its first statement locks the
  single row of ``catalog_state`` (``SELECT ... FOR UPDATE``), as SQLite's ``BEGIN IMMEDIATE``
  takes the write lock up front: changes from every replica are serialised, each reads the
  version its predecessor committed, and versions follow commit order. PostgreSQL releases
  the row lock only once the commit is visible to new snapshots, so a reader that sees version
  v sees every row stamped up to v.
- Rows and tombstones carry the version that last wrote them; ``changes_since`` reads the
  version and both id lists from one ``REPEATABLE READ`` snapshot.
- Upserts go out as one ``INSERT ... SELECT FROM unnest(arrays) ON CONFLICT DO UPDATE`` per
  batch: one round trip, rows sent as typed arrays (no statement per row, no temporary
  table). The last of a repeated id wins, as with SQLite's ``executemany``.
- Ids are ``text COLLATE "C"``: byte order, which for UTF-8 is code-point order, the order
  SQLite's ``ORDER BY id`` gives; the primary key serves ``iter_entities`` in that order.
- ``text`` cannot hold NUL characters: an entity with one in its id, type or title is refused
  with a ``CatalogError`` naming the field (SQLite would store it); ids with one are unknown.
- ``build_indexes_at_end`` does nothing: dropping an index takes an ``ACCESS EXCLUSIVE`` lock
  until the commit, which would stop every replica's reads for the length of a load.

Reads borrow a pooled connection (autocommit; several statements run in one read-only
snapshot). Connection failures become ``StorageError`` naming the URL (without its password)
and schema. Tables: ``catalog_state``, ``catalog_entities``, ``catalog_tombstones``, versioned
as the ``catalog`` row of the schema's ``ltrr_schema_version`` (``storage.postgres``), so one
schema may hold the catalog and the event log side by side.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg_pool import PoolTimeout

from ltrr.errors import StorageError
from ltrr.storage.catalog import COLUMNS, Changes, entity_from_row
from ltrr.storage.postgres import (
    Server,
    check_schema_name,
    identity,
    redact,
    split_url,
)
from ltrr.storage.postgres_catalog_writes import (
    CATALOG,
    SCHEMA_VERSION,
    PgCatalogChange,
    Tables,
    texts,
    version_of,
)
from ltrr.types import Entity, EntityId

__all__ = ["CATALOG", "SCHEMA_VERSION", "PgCatalogChange", "PostgresCatalogStore"]

#: Ids sent per ``= ANY(array)`` look-up.
LOOKUP_IDS = 5000
_T = TypeVar("_T")


class PostgresCatalogStore:
    """``CatalogStore`` in a PostgreSQL schema.

    Parameters
    ----------
    url
        ``postgresql://user[:password]@host[:port]/database[?schema=name&...]``; every libpq
        parameter is passed on, except ``schema``, which names the schema to use.
    schema
        Overrides the URL's schema; default ``public``. A writer creates it if missing.
    readonly
        A reader checks the schema's version instead of migrating it, and refuses ``change``;
        ``writable`` gives it a writing view when it takes its turn to write.
    pool_size
        Most pooled read connections held at once.
    connect_timeout_s
        How long to wait for the server before a ``StorageError``.
    """

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        readonly: bool = False,
        pool_size: int = 4,
        connect_timeout_s: float = 5.0,
    ) -> None:
        conninfo, url_schema = split_url(url)
        self.schema = check_schema_name(schema or url_schema or "public")
        self.url = redact(url)
        #: Which catalog this is: server, database and schema, never the user or a password.
        self.identity = identity(conninfo, self.schema)
        self.where = f"{self.url} (schema {self.schema})"
        self.readonly = readonly
        self._t = Tables.of(self.schema)
        timeout_s = max(2, round(connect_timeout_s))  # libpq's minimum
        self._server = Server(conninfo, self.url, self.where, timeout_s, "catalog", "ltrr-catalog")
        self._write_lock = threading.Lock()
        self._writer: psycopg.Connection[Any] | None = None
        self._view: PostgresCatalogStore | None = None
        self._owner = True
        conn = self._server.connect()
        try:
            if readonly:
                CATALOG.check_current(conn, self.schema, self.where)
            else:
                CATALOG.migrate(conn, self.schema, self.where)
            self._pool = self._server.pool(pool_size, f"ltrr-catalog-{self.schema}")
        except BaseException:
            conn.close()
            raise
        if readonly:
            conn.close()
        else:
            self._writer = conn

    # -- opening and closing ------------------------------------------------------------------

    def writable(self) -> PostgresCatalogStore:
        """This store if it writes; else a writing view on the same pool (made once, its
        writer connection migrating the schema first): a reader's turn to write."""
        if not self.readonly:
            return self
        if self._view is None:
            view = object.__new__(PostgresCatalogStore)
            for name in ("schema", "url", "identity", "where", "_t", "_server", "_pool"):
                setattr(view, name, getattr(self, name))
            view.readonly, view._owner, view._view = False, False, None
            view._write_lock, view._writer = threading.Lock(), None
            conn = view._writer_connection()
            CATALOG.migrate(conn, self.schema, self.where)
            self._view = view
        return self._view

    def close(self) -> None:
        """Close the writer connection and, unless this is a view, the pool and the view."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._view is not None:
            self._view.close()
            self._view = None
        if self._owner and not self._pool.closed:
            self._pool.close()

    def __enter__(self) -> PostgresCatalogStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ------------------------------------------------------------------------------

    def _writer_connection(self) -> psycopg.Connection[Any]:
        """The writer connection, opened again if the last one broke (a server restart)."""
        conn = self._writer
        if conn is None or conn.closed or conn.broken:
            if conn is not None:
                conn.close()
            conn = self._writer = self._server.connect()
        return conn

    @contextlib.contextmanager
    def change(self) -> Iterator[PgCatalogChange]:
        """One atomic change (see the module's docstring for how versions stay in order)."""
        if self.readonly:
            raise StorageError(f"catalog {self.where} was opened read-only")
        with self._write_lock:
            conn = self._writer_connection()
            try:
                with conn.transaction():
                    row = conn.execute(f"SELECT version FROM {self._t.state} FOR UPDATE")
                    change = PgCatalogChange(conn, self._t, version_of(row.fetchone()) + 1)
                    yield change
                    if change.n_upserted or change.n_deleted:
                        conn.execute(f"UPDATE {self._t.state} SET version = %s", (change.version,))
            except psycopg.Error as exc:
                raise StorageError(f"catalog {self.where}: {exc}".strip()) from exc

    # -- reading ------------------------------------------------------------------------------

    def _read(self, query: Callable[[psycopg.Connection[Any]], _T]) -> _T:
        """``query`` on a pooled connection, run once more on another if the server had closed
        the one it got (a restart: the pool hands out connections without checking them, and
        a read is safe to repeat); failures become ``StorageError`` naming the store."""
        if self._pool.closed:
            raise StorageError(f"catalog {self.where} is closed")
        for retry in (False, True):
            conn: psycopg.Connection[Any] | None = None
            try:
                with self._pool.connection() as conn:
                    return query(conn)
            except psycopg.OperationalError as exc:
                if retry or conn is None or not conn.broken:
                    raise StorageError(f"catalog {self.where}: {exc}".strip()) from exc
            except PoolTimeout as exc:
                raise StorageError(f"catalog {self.where}: {exc}".strip()) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _one(self, sql: str, *args: Any) -> tuple[Any, ...] | None:
        return self._read(lambda conn: conn.execute(sql, args or None).fetchone())

    def _all(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        return self._read(lambda conn: conn.execute(sql, args or None).fetchall())

    def version(self) -> int:
        return version_of(self._one(f"SELECT version FROM {self._t.state}"))

    def get(self, entity_id: str) -> Entity | None:
        if not texts([entity_id]):
            return None
        row = self._one(f"SELECT {COLUMNS} FROM {self._t.entities} WHERE id = %s", entity_id)
        return None if row is None else entity_from_row(row)

    def get_many(self, ids: Sequence[str]) -> dict[EntityId, Entity]:
        """The entities of ``ids`` that exist, in one query per ``LOOKUP_IDS`` ids."""
        wanted = texts(ids)
        found: dict[EntityId, Entity] = {}
        sql = f"SELECT {COLUMNS} FROM {self._t.entities} WHERE id = ANY(%s::text[])"
        for start in range(0, len(wanted), LOOKUP_IDS):
            for row in self._all(sql, wanted[start : start + LOOKUP_IDS]):
                entity = entity_from_row(row)
                found[entity.id] = entity
        return found

    def __len__(self) -> int:
        row = self._one(f"SELECT count(*) FROM {self._t.entities}")
        return int(row[0]) if row else 0

    def __contains__(self, entity_id: object) -> bool:
        if not texts([entity_id]):
            return False
        return self._one(f"SELECT 1 FROM {self._t.entities} WHERE id = %s", entity_id) is not None

    def iter_entities(self, batch_size: int = 10_000) -> Iterator[Entity]:
        """Every entity in id order, from one snapshot, through a server-side cursor."""
        sql = f"SELECT {COLUMNS} FROM {self._t.entities} ORDER BY id"
        if self._pool.closed:
            raise StorageError(f"catalog {self.where} is closed")
        with (
            self._pool.connection() as conn,
            conn.transaction(),
            conn.cursor(name="ltrr_catalog_scan") as cursor,
        ):
            cursor.itersize = batch_size
            cursor.execute(sql)
            while rows := cursor.fetchmany(batch_size):
                yield from (entity_from_row(row) for row in rows)

    def count_by_type(self) -> dict[str, int]:
        rows = self._all(
            f"SELECT type, count(*) FROM {self._t.entities} GROUP BY type ORDER BY 2 DESC"
        )
        return {str(t): int(n) for t, n in rows}

    def count_by_attribute(self) -> dict[str, int]:
        """Attribute name -> number of entities carrying it (PostgreSQL's JSON functions)."""
        rows = self._all(
            f"SELECT key, count(*) FROM {self._t.entities}, "
            "json_object_keys((doc::json) -> 'a') AS key "
            'GROUP BY key ORDER BY 2 DESC, key COLLATE "C"'
        )
        return {str(k): int(n) for k, n in rows}

    def changes_since(self, version: int) -> Changes:
        """Ids upserted and deleted after ``version``, and the version, from one snapshot;
        sorted here so the planner is free to use the version indexes (as in SQLite)."""

        def read(conn: psycopg.Connection[Any]) -> Changes:
            with conn.transaction():
                row = conn.execute(f"SELECT version FROM {self._t.state}").fetchone()
                upserted = conn.execute(
                    f"SELECT id FROM {self._t.entities} WHERE version > %s", (version,)
                ).fetchall()
                deleted = conn.execute(
                    f"SELECT id FROM {self._t.tombstones} WHERE version > %s",
                    (version,),
                ).fetchall()
            return Changes(
                since_version=version,
                version=version_of(row),
                upserted=tuple(sorted(EntityId(r[0]) for r in upserted)),
                deleted=tuple(sorted(EntityId(r[0]) for r in deleted)),
            )

        return self._read(read)

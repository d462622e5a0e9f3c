"""The PostgreSQL catalog's tables, their versioned migrations, and the writes of one change.

Apart from ``storage.postgres_catalog`` (the store: connections, transactions, reads), which
explains the choices: the version row locked for the length of a change, ``COLLATE "C"`` ids,
upserts from arrays, no deferred index builds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from ltrr.errors import CatalogError, StorageError
from ltrr.storage.catalog import COLUMNS, EntityRow, entity_row
from ltrr.storage.postgres import Component, check_schema_name
from ltrr.types import Entity, EntityId

#: MIGRATIONS[i] moves a schema's catalog from version i to i + 1; ``{s}`` is the schema.
MIGRATIONS: tuple[str, ...] = (
    # 1: SQLite's migrations 1-2 (``storage.sqlite``): entities with the version that last
    # wrote them, tombstones of deleted ids, and the catalog version as a one-row table.
    """
    CREATE TABLE {s}.catalog_state (
        one boolean PRIMARY KEY DEFAULT true CHECK (one),
        version bigint NOT NULL
    );
    INSERT INTO {s}.catalog_state (version) VALUES (0);
    CREATE TABLE {s}.catalog_entities (
        id text COLLATE "C" PRIMARY KEY,
        type text NOT NULL,
        title text NOT NULL,
        doc text NOT NULL,
        popularity double precision NOT NULL,
        added_at_s double precision,
        version bigint NOT NULL
    );
    CREATE INDEX catalog_entities_type ON {s}.catalog_entities (type);
    CREATE INDEX catalog_entities_version ON {s}.catalog_entities (version);
    CREATE TABLE {s}.catalog_tombstones (
        id text COLLATE "C" PRIMARY KEY,
        version bigint NOT NULL
    );
    CREATE INDEX catalog_tombstones_version ON {s}.catalog_tombstones (version);
    """,
)
CATALOG = Component("catalog", MIGRATIONS, "catalog", "catalog: nothing was ingested into it yet")
SCHEMA_VERSION = CATALOG.version


@dataclass(frozen=True, slots=True)
class Tables:
    entities: str
    tombstones: str
    state: str

    @classmethod
    def of(cls, schema: str) -> Tables:
        s = f'"{check_schema_name(schema)}"'
        return cls(f"{s}.catalog_entities", f"{s}.catalog_tombstones", f"{s}.catalog_state")


def _nul_field(row: EntityRow) -> str | None:
    for name, value in zip(("id", "type", "title"), row[:3], strict=True):
        if "\x00" in value:
            return name
    return None


def version_of(row: tuple[Any, ...] | None) -> int:
    """The version in ``catalog_state``'s row (there is always one unless someone deleted it)."""
    if row is None:
        raise StorageError("catalog_state has no row: the catalog's tables were altered by hand")
    return int(row[0])


def texts(ids: Iterable[object]) -> list[str]:
    """The ids that can be stored (strings without NUL); any other is simply not there."""
    return [i for i in ids if isinstance(i, str) and "\x00" not in i]


class PgCatalogChange:
    """The writes of one PostgreSQL transaction; created by ``PostgresCatalogStore.change``."""

    def __init__(self, conn: psycopg.Connection[Any], tables: Tables, version: int) -> None:
        self._conn = conn
        self._t = tables
        self.version = version
        self.n_upserted = 0
        self.n_deleted = 0
        self._tombstones: bool | None = None  # whether any exist (looked up once)

    def is_empty(self) -> bool:
        return self._conn.execute(f"SELECT 1 FROM {self._t.entities} LIMIT 1").fetchone() is None

    def build_indexes_at_end(self) -> None:
        """Nothing: see the module's docstring (readers would wait for the whole load)."""

    def upsert(self, entities: Sequence[Entity]) -> None:
        self.upsert_rows([entity_row(e) for e in entities])

    def upsert_rows(self, rows: Sequence[EntityRow]) -> None:
        """Insert or overwrite ``rows`` in one statement (the last of a repeated id wins).

        Raises ``CatalogError`` naming the field for text PostgreSQL cannot store (NUL).
        """
        if not rows:
            return
        unique = list({row[0]: row for row in rows}.values())
        for row in unique:
            field = _nul_field(row)
            if field is not None:
                raise CatalogError(
                    f"{field} of {row[0]!r} contains a NUL character (\\x00), which "
                    "PostgreSQL cannot store",
                    field=field,
                )
        columns = [list(c) for c in zip(*unique, strict=True)]
        self._conn.execute(
            f"INSERT INTO {self._t.entities} ({COLUMNS}, version) "
            "SELECT *, %s::bigint FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], "
            "%s::float8[], %s::float8[]) "
            "ON CONFLICT (id) DO UPDATE SET type = excluded.type, title = excluded.title, "
            "doc = excluded.doc, popularity = excluded.popularity, "
            "added_at_s = excluded.added_at_s, version = excluded.version",
            (self.version, *columns),
        )
        if self._has_tombstones():
            self._conn.execute(
                f"DELETE FROM {self._t.tombstones} WHERE id = ANY(%s::text[])", (columns[0],)
            )
        self.n_upserted += len(rows)

    def _has_tombstones(self) -> bool:
        if self._tombstones is None:
            found = self._conn.execute(f"SELECT 1 FROM {self._t.tombstones} LIMIT 1").fetchone()
            self._tombstones = found is not None
        return self._tombstones

    def delete(self, ids: Iterable[EntityId]) -> list[EntityId]:
        """Remove ``ids`` (two statements); those that were not in the catalog, in order."""
        wanted = list(ids)
        cursor = self._conn.execute(
            f"DELETE FROM {self._t.entities} WHERE id = ANY(%s::text[]) RETURNING id",
            (texts(wanted),),
        )
        removed = {str(r[0]) for r in cursor.fetchall()}
        self._tombstone(sorted(removed))
        missing = []
        for entity_id in wanted:  # a repeated id is removed once, then missing (as in SQLite)
            if entity_id in removed:
                removed.discard(entity_id)
            else:
                missing.append(entity_id)
        return missing

    def _tombstone(self, ids: list[str]) -> None:
        if not ids:
            return
        self._conn.execute(
            f"INSERT INTO {self._t.tombstones} (id, version) SELECT unnest(%s::text[]), %s "
            "ON CONFLICT (id) DO UPDATE SET version = excluded.version",
            (ids, self.version),
        )
        self._tombstones = True
        self.n_deleted += len(ids)

    def n_removed(self) -> int:
        row = self._conn.execute(
            f"SELECT count(*) FROM {self._t.tombstones} WHERE version = %s", (self.version,)
        ).fetchone()
        return int(row[0]) if row else 0

    def clear(self) -> None:
        self._conn.execute(
            f"INSERT INTO {self._t.tombstones} (id, version) "
            f"SELECT id, %s FROM {self._t.entities} "
            "ON CONFLICT (id) DO UPDATE SET version = excluded.version",
            (self.version,),
        )
        self.n_deleted += self._conn.execute(f"DELETE FROM {self._t.entities}").rowcount
        self._tombstones = True

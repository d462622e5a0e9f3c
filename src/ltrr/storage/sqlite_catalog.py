"""The catalog in the data directory's SQLite database (the embedded default ``CatalogStore``).

Changes run in one ``BEGIN IMMEDIATE`` transaction, which takes SQLite's write lock up front:
changes are serialised and a failed load rolls back. The version is the ``catalog_version``
row of ``meta``; rows and tombstones carry the version that last wrote them
(``storage.sqlite``'s migrations 1-2).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

from ltrr.storage.catalog import COLUMNS, Changes, EntityRow, entity_from_row, entity_row
from ltrr.types import Entity, EntityId


class SqliteCatalogChange:
    """The writes of one SQLite transaction; created by ``SqliteCatalogStore.change``."""

    def __init__(self, conn: sqlite3.Connection, version: int) -> None:
        self._conn = conn
        self.version = version
        self.n_upserted = 0
        self.n_deleted = 0
        self._deferred_indexes: list[str] = []

    def is_empty(self) -> bool:
        """Whether the catalog holds no entity (as this change has left it so far)."""
        return self._conn.execute("SELECT 1 FROM entities LIMIT 1").fetchone() is None

    def build_indexes_at_end(self) -> None:
        """Drop the secondary indexes of ``entities`` now and build them again at the end.

        For a load that writes most of the catalog (into an empty one, or a replacement):
        one sort per index at the end costs less than keeping it in order row by row, which is
        about 40% of SQLite's work per upserted row. The definitions are read back from the
        schema, so the same indexes come back, before the commit; a rollback restores them
        with everything else. Upserts still find existing ids through the primary key.
        """
        if self._deferred_indexes:
            return
        indexes = self._conn.execute(
            "SELECT name, sql FROM sqlite_master "
            "WHERE type = 'index' AND tbl_name = 'entities' AND sql IS NOT NULL"
        ).fetchall()
        for name, _ in indexes:
            self._conn.execute(f'DROP INDEX "{name}"')
        self._deferred_indexes = [sql for _, sql in indexes]

    def end(self) -> None:
        """Build again what ``build_indexes_at_end`` dropped (``SqliteCatalogStore.change``
        calls it)."""
        for sql in self._deferred_indexes:
            self._conn.execute(sql)
        self._deferred_indexes = []

    def upsert(self, entities: Sequence[Entity]) -> None:
        """Insert or overwrite ``entities`` (one executemany; batch the calls)."""
        self.upsert_rows([entity_row(e) for e in entities])

    def upsert_rows(self, rows: Sequence[EntityRow]) -> None:
        """Insert or overwrite already validated rows (``entity_row``; batch the calls).

        The version is written into the statement rather than bound per row, and the
        tombstones of the upserted ids are only looked up when there are tombstones at all:
        a catalog that never deleted anything skips one index probe per row.
        """
        self._conn.executemany(
            f"INSERT INTO entities ({COLUMNS}, version) VALUES (?, ?, ?, ?, ?, ?, "
            f"{int(self.version)}) "
            "ON CONFLICT (id) DO UPDATE SET type = excluded.type, title = excluded.title, "
            "doc = excluded.doc, popularity = excluded.popularity, "
            "added_at_s = excluded.added_at_s, version = excluded.version",
            rows,
        )
        if self._conn.execute("SELECT 1 FROM tombstones LIMIT 1").fetchone() is not None:
            self._conn.executemany("DELETE FROM tombstones WHERE id = ?", [(r[0],) for r in rows])
        self.n_upserted += len(rows)

    def delete(self, ids: Iterable[EntityId]) -> list[EntityId]:
        """Remove ``ids``; return those that were not in the catalog."""
        missing = []
        for entity_id in ids:
            cursor = self._conn.execute("DELETE FROM entities WHERE id = ?", (entity_id,))
            if cursor.rowcount == 0:
                missing.append(entity_id)
                continue
            self._conn.execute(
                "INSERT OR REPLACE INTO tombstones (id, version) VALUES (?, ?)",
                (entity_id, self.version),
            )
            self.n_deleted += 1
        return missing

    def n_removed(self) -> int:
        """Ids this change removed for good (a replacement's re-inserted ids do not count)."""
        row = self._conn.execute(
            "SELECT count(*) FROM tombstones WHERE version = ?", (self.version,)
        ).fetchone()
        return int(row[0])

    def clear(self) -> None:
        """Remove every entity (the first step of a whole-catalog replacement)."""
        self._conn.execute(
            "INSERT OR REPLACE INTO tombstones (id, version) SELECT id, ? FROM entities",
            (self.version,),
        )
        self.n_deleted += self._conn.execute("DELETE FROM entities").rowcount


class SqliteCatalogStore:
    """Catalog reads and versioned writes over one SQLite connection."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def version(self) -> int:
        row = self._conn.execute("SELECT value FROM meta WHERE key = 'catalog_version'").fetchone()
        return int(row[0])

    @contextmanager
    def change(self) -> Iterator[SqliteCatalogChange]:
        """One atomic change: committed with a new version on success, rolled back on error.

        The version is incremented only if something was written, so a load that changed
        nothing does not force every index to re-check.
        """
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            change = SqliteCatalogChange(self._conn, self.version() + 1)
            yield change
            change.end()
            if change.n_upserted or change.n_deleted:
                self._conn.execute(
                    "UPDATE meta SET value = ? WHERE key = 'catalog_version'",
                    (str(change.version),),
                )
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def get(self, entity_id: str) -> Entity | None:
        row = self._conn.execute(
            f"SELECT {COLUMNS} FROM entities WHERE id = ?", (entity_id,)
        ).fetchone()
        return None if row is None else entity_from_row(row)

    def get_many(self, ids: Sequence[str]) -> dict[EntityId, Entity]:
        """The entities of ``ids`` that exist, in one query per 500 ids."""
        found: dict[EntityId, Entity] = {}
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self._conn.execute(
                f"SELECT {COLUMNS} FROM entities WHERE id IN ({marks})", chunk
            )
            for row in rows:
                entity = entity_from_row(row)
                found[entity.id] = entity
        return found

    def __len__(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM entities").fetchone()[0])

    def __contains__(self, entity_id: object) -> bool:
        row = self._conn.execute("SELECT 1 FROM entities WHERE id = ?", (entity_id,)).fetchone()
        return row is not None

    def iter_entities(self, batch_size: int = 10_000) -> Iterator[Entity]:
        """Every entity in id order, read in batches so a large catalog streams."""
        cursor = self._conn.execute(f"SELECT {COLUMNS} FROM entities ORDER BY id")
        while rows := cursor.fetchmany(batch_size):
            yield from (entity_from_row(row) for row in rows)

    def count_by_type(self) -> dict[str, int]:
        rows = self._conn.execute(
            "SELECT type, count(*) FROM entities GROUP BY type ORDER BY 2 DESC"
        )
        return {str(t): int(n) for t, n in rows}

    def count_by_attribute(self) -> dict[str, int]:
        """Attribute name -> number of entities carrying it (SQLite's JSON functions)."""
        rows = self._conn.execute(
            "SELECT key, count(*) FROM entities, json_each(entities.doc, '$.a') "
            "GROUP BY key ORDER BY 2 DESC, 1"
        )
        return {str(k): int(n) for k, n in rows}

    def changes_since(self, version: int) -> Changes:
        """Ids upserted and deleted after ``version``: what an index built then must replay.

        The version and both lists come from one read transaction: read in separate
        statements, a change committed between them made ``Changes.version`` claim more than
        the lists held, and a replica that advanced to it skipped that change for good.
        Sorted here, not by ``ORDER BY id``: with it SQLite walked the whole primary key
        instead of the version index, 1 ms per call at 10k entities, on every follow tick of
        every worker even when nothing changed (Python's ``sorted`` is code-point order, as
        SQLite's binary collation of UTF-8 is).
        """
        own = not self._conn.in_transaction  # inside a change: its own view already
        if own:
            self._conn.execute("BEGIN")
        try:
            current = self.version()
            upserted = self._conn.execute(
                "SELECT id FROM entities WHERE version > ?", (version,)
            ).fetchall()
            deleted = self._conn.execute(
                "SELECT id FROM tombstones WHERE version > ?", (version,)
            ).fetchall()
        finally:
            if own:
                self._conn.execute("COMMIT")
        return Changes(
            since_version=version,
            version=current,
            upserted=tuple(sorted(EntityId(r[0]) for r in upserted)),
            deleted=tuple(sorted(EntityId(r[0]) for r in deleted)),
        )

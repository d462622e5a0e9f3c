"""A data directory: everything ltrr stores for one catalog, and nothing shared with another.

Writers take the directory's lock before touching the database; readers open the database
read-only and need no lock, so searches run while an ingest is in progress (WAL).

The catalog is the database's own (``SqliteCatalogStore``) unless ``[storage] catalog_url`` or
``$LTRR_CATALOG_URL`` names a PostgreSQL schema (``PostgresCatalogStore``), which the data
directories of several service replicas share; each keeps its own indexes. Indexes and
snapshots record only the catalog *version* they were built at, so the directory also records
*which* catalog that was (the ``catalog_location`` row of ``meta``) and refuses to open on
another one while anything built from the first is there: version 3 of one catalog is not
version 3 of the other.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from ltrr.config import Config, storage_url
from ltrr.errors import LockedError, StorageError
from ltrr.storage.catalog import CatalogStore
from ltrr.storage.lock import WriterLock
from ltrr.storage.sqlite import DB_NAME, connect
from ltrr.storage.sqlite_catalog import SqliteCatalogStore

if TYPE_CHECKING:
    from ltrr.storage.postgres_catalog import PostgresCatalogStore

    _SQLITE: type[CatalogStore] = SqliteCatalogStore  # both satisfy the protocol (mypy checks)
    _POSTGRES: type[CatalogStore] = PostgresCatalogStore

DATA_ENV = "LTRR_DATA"
DEFAULT_DATA_DIR = "ltrr-data"
#: Overrides ``[storage] catalog_url`` when set and not empty.
CATALOG_URL_ENV = "LTRR_CATALOG_URL"
#: ``catalog_location`` of the directory's own SQLite catalog.
OWN_CATALOG = "sqlite:data-directory"
#: What is built from the catalog (``retrieve.indexes.INDEX_DIR``, ``learn.snapshot.SNAPSHOT_DIR``).
DERIVED = ("indexes", "snapshots")


def default_data_dir() -> Path:
    """``$LTRR_DATA`` if set, else ``./ltrr-data``."""
    return Path(os.environ.get(DATA_ENV) or DEFAULT_DATA_DIR)


def catalog_url(config: Config, environ: Mapping[str, str] | None = None) -> str:
    """Where the catalog lives: ``$LTRR_CATALOG_URL`` when set and not empty, else
    ``[storage] catalog_url``; ``""`` means the data directory's own database."""
    return storage_url(config, "catalog_url", CATALOG_URL_ENV, environ)


class DataDir:
    """An open data directory; use as a context manager so the lock is always released.

    ``catalog`` (internal: ``writing``) hands an already open catalog to a writer's handle
    instead of opening one, which the handle then leaves open.
    """

    def __init__(
        self,
        path: Path,
        config: Config,
        *,
        writer: bool,
        catalog: CatalogStore | None = None,
    ) -> None:
        self.path = path
        self.config = config
        self.writer = writer
        self._lock: WriterLock | None = None
        self._conn: sqlite3.Connection | None = None
        self._given_catalog = catalog
        self._catalog: CatalogStore | None = None
        self._pg: PostgresCatalogStore | None = None  # opened here, closed here

    def open(self) -> DataDir:
        if self.writer:
            try:
                self.path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageError(f"cannot create data directory {self.path}: {exc}") from exc
            self._lock = WriterLock(self.path)
            self._lock.acquire()
        try:
            self._conn = connect(self.path / DB_NAME, self.config.storage, readonly=not self.writer)
            self._catalog = self._open_catalog()
        except BaseException:
            self.close()
            raise
        return self

    def _open_catalog(self) -> CatalogStore:
        """The given catalog, the PostgreSQL one ``catalog_url`` names, or the database's own;
        checked against the catalog the directory's indexes were built from."""
        if self._given_catalog is not None:
            return self._given_catalog
        url = catalog_url(self.config)
        if not url:
            self._check_location(OWN_CATALOG)
            return SqliteCatalogStore(self.conn)
        from ltrr.storage.postgres_catalog import PostgresCatalogStore

        self._pg = PostgresCatalogStore(url, readonly=not self.writer)
        self._check_location(self._pg.identity)
        return self._pg

    def _check_location(self, location: str) -> None:
        """Refuse a catalog other than the one this directory's indexes and snapshots were
        built from; a writer records the catalog it opens."""
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'catalog_location'")
        found = row.fetchone()
        recorded = str(found[0]) if found else None
        built = [name for name in DERIVED if (self.path / name).exists()]
        previous = recorded or (OWN_CATALOG if built else None)
        if previous is not None and previous != location and built:
            raise StorageError(
                f"data directory {self.path} holds {' and '.join(built)} built from the catalog "
                f"at {previous}, but its catalog is now {location}; they record only a catalog "
                "version, which means nothing in another catalog. Use a fresh data directory "
                f"for this catalog, or remove {' and '.join(built)} from {self.path} to rebuild "
                "them from it"
            )
        if self.writer and recorded != location:
            self.conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('catalog_location', ?)",
                (location,),
            )

    def close(self) -> None:
        self._catalog = None
        if self._pg is not None:
            self._pg.close()
            self._pg = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> DataDir:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StorageError(f"data directory {self.path} is not open")
        return self._conn

    @property
    def catalog(self) -> CatalogStore:
        if self._catalog is None:
            raise StorageError(f"data directory {self.path} is not open")
        return self._catalog

    @contextmanager
    def writing(self, timeout_s: float = 30.0) -> Iterator[DataDir]:
        """A writer's handle on this (reader's) directory for one change, taking the writer lock
        for as long as the block runs and waiting up to ``timeout_s`` for another writer.

        Service workers read the catalog and take turns writing it: one catalog writer at a
        time, never one per process for the process's life.
        """
        if self.writer:
            yield self
            return
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                handle = DataDir(
                    self.path, self.config, writer=True, catalog=self._writable_catalog()
                ).open()
                break
            except LockedError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)
        try:
            yield handle
        finally:
            handle.close()

    def _writable_catalog(self) -> CatalogStore | None:
        """A writing view of this reader's PostgreSQL catalog (same pool), made once, for a
        writer's handle; ``None`` for the database's own catalog (the handle opens it)."""
        return None if self._pg is None else self._pg.writable()

    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

"""A data directory: everything ltrr stores for one catalog, and nothing shared with another.

Writers take the directory's lock before touching the database; readers open the database
read-only and need no lock, so searches run while an ingest is in progress (WAL).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from ltrr.config import Config
from ltrr.errors import LockedError, StorageError
from ltrr.storage.catalog import CatalogStore
from ltrr.storage.lock import WriterLock
from ltrr.storage.sqlite import DB_NAME, connect
from ltrr.storage.sqlite_catalog import SqliteCatalogStore

DATA_ENV = "LTRR_DATA"
DEFAULT_DATA_DIR = "ltrr-data"


def default_data_dir() -> Path:
    """``$LTRR_DATA`` if set, else ``./ltrr-data``."""
    return Path(os.environ.get(DATA_ENV) or DEFAULT_DATA_DIR)


class DataDir:
    """An open data directory; use as a context manager so the lock is always released."""

    def __init__(self, path: Path, config: Config, *, writer: bool) -> None:
        self.path = path
        self.config = config
        self.writer = writer
        self._lock: WriterLock | None = None
        self._conn: sqlite3.Connection | None = None

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
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
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
        return SqliteCatalogStore(self.conn)

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
                handle = DataDir(self.path, self.config, writer=True).open()
                break
            except LockedError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.05)
        try:
            yield handle
        finally:
            handle.close()

    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

"""The data directory's SQLite database: connections, pragmas and forward migrations.

WAL lets any number of readers run beside the one writer. The schema version lives in
``PRAGMA user_version``; each migration moves it up by one inside a transaction, so a database
written by an older ltrr is upgraded on open and one written by a newer ltrr is refused.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ltrr.config import StorageConfig
from ltrr.errors import StorageError

DB_NAME = "ltrr.sqlite"

#: MIGRATIONS[i] moves the schema from version i to i + 1.
MIGRATIONS: tuple[str, ...] = (
    # 1: the catalog. ``doc`` holds fields, attributes and related ids as JSON; ``version`` is
    # the catalog version that last wrote the row, so indexes can catch up incrementally.
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    INSERT INTO meta (key, value) VALUES ('catalog_version', '0');
    CREATE TABLE entities (
        id TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        title TEXT NOT NULL,
        doc TEXT NOT NULL,
        popularity REAL NOT NULL,
        added_at_s REAL,
        version INTEGER NOT NULL
    );
    CREATE INDEX entities_type ON entities (type);
    """,
    # 2: deletions are remembered with the version that made them, so an index built at an
    # older version learns what to remove without a full rebuild.
    """
    CREATE TABLE tombstones (id TEXT PRIMARY KEY, version INTEGER NOT NULL);
    CREATE INDEX entities_version ON entities (version);
    CREATE INDEX tombstones_version ON tombstones (version);
    """,
    # 3: the event log (``log.sqlite_schema`` maps events to these rows; ``seq``, shared by
    # both tables, is the log order). ``IF NOT EXISTS`` because before this migration the log
    # created the same tables itself, whatever the version: such a database keeps its events.
    """
    CREATE TABLE IF NOT EXISTS impressions (
        seq INTEGER PRIMARY KEY,
        request_id TEXT NOT NULL UNIQUE,
        user_id TEXT,
        session_id TEXT,
        query TEXT NOT NULL,
        context TEXT NOT NULL,
        plan TEXT NOT NULL,
        strategy_results TEXT NOT NULL,
        shown TEXT NOT NULL,
        page_offset INTEGER NOT NULL,
        catalog_version INTEGER NOT NULL,
        model_versions TEXT NOT NULL,
        event_time_s REAL NOT NULL,
        schema_version INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS impressions_time ON impressions (event_time_s, seq);
    CREATE TABLE IF NOT EXISTS actions (
        seq INTEGER PRIMARY KEY,
        action_id TEXT NOT NULL UNIQUE,
        request_id TEXT NOT NULL,
        user_id TEXT,
        entity_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        value REAL,
        event_time_s REAL NOT NULL,
        replay_time_s REAL NOT NULL,
        schema_version INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS actions_request ON actions (request_id, event_time_s, seq);
    CREATE INDEX IF NOT EXISTS actions_replay ON actions (replay_time_s, seq);
    """,
    # 4: the ranker's features of each impression's top candidates, as served (``rank.features``:
    # float32 rows, zlib-compressed, in served order), so that training reads exactly what
    # serving computed. Apart from ``impressions``: replay never reads them.
    """
    CREATE TABLE features (
        request_id TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        n_rows INTEGER NOT NULL,
        n_cols INTEGER NOT NULL,
        ids TEXT NOT NULL,
        x BLOB NOT NULL
    );
    """,
    # 5: what each strategy of an impression took, in ms (JSON ``{"lexical": 0.41}``): the
    # policy prices plans by these measured costs, learned from the log like the rest.
    """
    ALTER TABLE impressions ADD COLUMN strategy_ms TEXT NOT NULL DEFAULT '{}';
    """,
    # 6: what checking and storing an action reads of its impression (the shown page, the event
    # time), in an index of its own. An impression row is a few KB (its strategies' lists come
    # before ``shown`` and ``event_time_s``), so reading those two columns from the table walks
    # its overflow pages; from this covering index it reads ~200 bytes. Used by name
    # (``INDEXED BY``): the planner prefers the request id's unique index, which is not covering.
    """
    CREATE INDEX impressions_page ON impressions (request_id, event_time_s, shown);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


def connect(path: Path, config: StorageConfig, *, readonly: bool) -> sqlite3.Connection:
    """Open the database at ``path`` in WAL mode; writers also migrate it to ``SCHEMA_VERSION``.

    Transactions are explicit (``isolation_level=None``): callers ``BEGIN IMMEDIATE`` so that a
    write transaction takes the lock up front instead of failing half-way. A connection may be
    used from any thread (the service's pool), one at a time: its owner serialises the calls
    (``Engine`` holds a lock around every use).
    """
    try:
        if readonly:
            if not path.exists():
                raise StorageError(
                    f"no catalog at {path.parent}: run 'ltrr ingest' or 'ltrr demo' first"
                )
            conn = sqlite3.connect(
                f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
            )
        else:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(config.busy_timeout_ms)}")
        if not readonly:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {config.synchronous}")
            migrate(conn)
        else:
            check_current(conn, path)
    except sqlite3.DatabaseError as exc:
        raise StorageError(f"cannot open database {path}: {exc}") from exc
    return conn


def check_current(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse, for a reader, a database below ``SCHEMA_VERSION`` (a writer upgrades it) or above.

    Raises
    ------
    StorageError
        Naming the database's version and what to do.
    """
    version = _check_version(conn, path)
    if version < SCHEMA_VERSION:
        raise StorageError(
            f"{path} has schema version {version}; run any writing command once (e.g. "
            "'ltrr catalog migrate') to upgrade it"
        )


def _check_version(conn: sqlite3.Connection, path: Path) -> int:
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise StorageError(
            f"{path} has schema version {version}, written by a newer ltrr; this ltrr reads up "
            f"to version {SCHEMA_VERSION}"
        )
    return version


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Apply the migrations from the database's version up to ``target``; return the new one."""
    version = _check_version(conn, Path(conn.execute("PRAGMA database_list").fetchone()[2]))
    while version < target:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[version].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        version += 1
    return version

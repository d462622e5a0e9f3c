"""The event log in the data directory's SQLite database (WAL), with group commit.

Writes. One background writer thread owns a write connection and commits whatever is queued
in one transaction: impressions wait up to ``flush_interval_ms`` (or until ``max_batch`` are
queued) so that a burst of searches costs one commit; an action, or a ``flush``, makes the
writer commit at once, and actions arriving during that commit share the next one (classic
group commit: one fsync per batch, not per event). The queue is first in, first out, so an
action naming a request whose impression is still queued is committed in the same or a later
transaction than that impression: it waits for it and is never rejected as unknown.

Durability. ``log_action`` returns after its transaction commits under ``PRAGMA synchronous
= FULL`` (``[log] synchronous``): under WAL, FULL fsyncs the WAL at every commit, so an
acknowledged action survives a power loss or OS crash; NORMAL would survive only a crash of the
process (the WAL would sit in the OS cache until the next checkpoint). Group commit is what
makes FULL affordable: concurrent callers share one fsync.

Order. Every event gets a sequence number (``seq``, shared by both tables) when it is written:
the log order. ``replay`` yields impressions by ``(event_time_s, seq)`` and actions by
``(replay_time_s, seq)``, where ``replay_time_s`` is the action's event time, or its
impression's if that is later (a client clock behind the server's), so an action is never
replayed before the impression it answers.

Threads. ``log_action`` calls ``is_known_entity`` in the caller's thread; readers use a
connection per thread (point look-ups) or per iterator (scans), opened read-only.
"""

from __future__ import annotations

import atexit
import contextlib
import heapq
import sqlite3
import threading
from collections.abc import Callable, Container, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ltrr.config import Config
from ltrr.errors import ConfigError, StorageError
from ltrr.log.events import (
    Action,
    Event,
    EventError,
    Impression,
    LogStats,
    check_action,
    check_impression,
)
from ltrr.log.group_commit import GroupCommitQueue, Job
from ltrr.log.rewards import RewardMap
from ltrr.log.sqlite_schema import (
    ACT_COLS,
    IMP_COLS,
    INSERT_ACT,
    INSERT_IMP,
    SCHEMA,
    action_from_row,
    impression_from_row,
    impression_row,
)
from ltrr.storage.datadir import DataDir
from ltrr.storage.sqlite import DB_NAME
from ltrr.types import EntityId

_SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")


@dataclass(frozen=True, slots=True)
class LogParams:
    """``[log]``: group commit and durability of the event log."""

    flush_interval_ms: float = 5.0
    max_batch: int = 1000
    max_queue: int = 100_000
    synchronous: str = "FULL"
    max_id_chars: int = 512

    def __post_init__(self) -> None:
        if self.synchronous not in _SYNCHRONOUS:
            raise ConfigError(
                f"log.synchronous must be one of {', '.join(_SYNCHRONOUS)}, "
                f"got {self.synchronous!r}"
            )
        for name in ("max_batch", "max_queue", "max_id_chars"):
            if getattr(self, name) < 1:
                raise ConfigError(f"log.{name} must be >= 1, got {getattr(self, name)}")


def log_params(config: Config) -> LogParams:
    """``[log]``, or the defaults while the section is absent from the settings."""
    try:
        config.section("log")
    except ConfigError:
        return LogParams()
    return config.params("log", LogParams)


class SqliteEventLog:
    """``EventLog`` over ``path`` (the data directory's ``ltrr.sqlite``).

    Parameters
    ----------
    path
        The SQLite database file; the log's tables are created if absent.
    is_known_entity
        Catalog membership: a callable or a container (e.g. ``DataDir.catalog``). Checked in
        the caller's thread. ``None``: only entities the request showed or retrieved are known.
    rewards
        Its kinds are the action kinds accepted; kinds with a minimum value require a value.
    readonly
        Open for reading only (no writer thread); ``log_*`` then raise ``StorageError``.
    """

    def __init__(
        self,
        path: Path,
        *,
        is_known_entity: Callable[[EntityId], bool] | Container[str] | None = None,
        rewards: RewardMap | None = None,
        params: LogParams | None = None,
        busy_timeout_ms: int = 5000,
        readonly: bool = False,
    ) -> None:
        self.path = Path(path)
        self.params = params or LogParams()
        self.rewards = rewards or RewardMap()
        self.readonly = readonly
        self._busy_timeout_ms = int(busy_timeout_ms)
        self._is_known: Callable[[EntityId], bool] | None = (
            is_known_entity.__contains__
            if isinstance(is_known_entity, Container)
            else is_known_entity
        )
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._queue: GroupCommitQueue[Impression] | None = None
        self._closed = False
        if readonly:
            self._check_readable()
        else:
            self._open_writer()

    @classmethod
    def open(cls, data_dir: DataDir) -> SqliteEventLog:
        """The log of an open data directory: its settings, catalog and writer mode."""
        config = data_dir.config
        return cls(
            data_dir.path / DB_NAME,
            is_known_entity=data_dir.catalog,
            rewards=RewardMap.from_config(config),
            params=log_params(config),
            busy_timeout_ms=config.storage.busy_timeout_ms,
            readonly=not data_dir.writer,
        )

    # -- opening and closing ------------------------------------------------------------------

    def _open_writer(self) -> None:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self.params.synchronous}")
            conn.executescript(SCHEMA)
            row = conn.execute(
                "SELECT max(coalesce((SELECT max(seq) FROM impressions), 0), "
                "coalesce((SELECT max(seq) FROM actions), 0))"
            ).fetchone()
        except sqlite3.DatabaseError as exc:
            raise StorageError(f"cannot open the event log in {self.path}: {exc}") from exc
        self._conn = conn
        self._next_seq = int(row[0]) + 1
        p = self.params
        self._queue = GroupCommitQueue(
            self._commit,
            flush_interval_ms=p.flush_interval_ms,
            max_batch=p.max_batch,
            max_queue=p.max_queue,
            name="ltrr-event-log",
        )
        atexit.register(self.close)

    def _check_readable(self) -> None:
        if not self.path.exists():
            raise StorageError(f"no database at {self.path}: nothing was logged yet")
        names = {r[0] for r in self._reader().execute("SELECT name FROM sqlite_master")}
        if not {"impressions", "actions"} <= names:
            raise StorageError(f"{self.path} has no event log: nothing was logged yet")

    def close(self) -> None:
        """Commit what is queued, stop the writer, close every connection."""
        self._closed = True
        error = None
        if self._queue is not None:
            error = self._queue.close()
            atexit.unregister(self.close)
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        self._raise(error)

    def __enter__(self) -> SqliteEventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _raise(self, error: BaseException | None) -> None:
        if error is not None:
            raise StorageError(f"event log {self.path}: a queued write failed: {error}") from error

    def _writer(self) -> GroupCommitQueue[Impression]:
        if self._queue is None or self._queue.closed:
            state = "read-only" if self.readonly else "closed"
            raise StorageError(f"event log {self.path} is {state}")
        return self._queue

    # -- writing ------------------------------------------------------------------------------

    def log_impression(self, impression: Impression) -> None:
        check_impression(impression, max_id_chars=self.params.max_id_chars)
        queue = self._writer()
        if queue.pending(impression.request_id) is None:  # else the queued one wins
            queue.put(impression_row(impression), key=impression.request_id, payload=impression)
        # A request id already stored is dropped by the database (INSERT OR IGNORE).

    def log_action(self, action: Action) -> bool:
        rewards = self.rewards
        check_action(
            action,
            rewards.kinds,
            needs_value=rewards.kind_to_min_value.keys(),
            max_id_chars=self.params.max_id_chars,
        )
        queue = self._writer()
        if self._one("SELECT 1 FROM actions WHERE action_id = ?", action.action_id) is not None:
            return False
        self._check_request(action)
        time_s = float(action.event_time_s)
        row = (
            action.action_id,
            action.request_id,
            action.user_id,
            action.entity_id,
            action.kind,
            None if action.value is None else float(action.value),
            time_s,
            time_s,
            action.schema_version,
            action.request_id,
        )
        job = queue.put(row, urgent=True)
        queue.wait(job)
        if isinstance(job.error, EventError):
            raise job.error
        if job.error is not None:
            raise StorageError(f"action {action.action_id!r} was not stored: {job.error}")
        return job.inserted

    def _check_request(self, action: Action) -> None:
        """Raise ``EventError`` if the request of ``action`` or its entity is unknown."""
        # The queue first, then the database: an impression leaves the queue only once it is
        # committed, so one of the two look-ups sees it.
        queued = self._queue.pending(action.request_id) if self._queue else None
        sql = "SELECT 1 FROM impressions WHERE request_id = ?"
        if queued is None and self._one(sql, action.request_id) is None:
            raise EventError(
                "request_id",
                f"unknown request id {action.request_id!r}: no impression was logged for it",
            )
        if self._is_known is not None and self._is_known(action.entity_id):
            return
        impression = self.impression(action.request_id)
        if impression is None or action.entity_id not in impression.entity_ids():
            raise EventError(
                "entity_id",
                f"unknown entity id {action.entity_id!r}: not in the catalog and not shown or "
                f"retrieved for request {action.request_id!r}",
            )

    def flush(self) -> None:
        if self._queue is not None:
            self._raise(self._queue.flush())

    def _commit(self, batch: list[Job[Impression]]) -> None:
        """Write ``batch`` in one transaction, in queue order (runs on the writer thread)."""
        conn = self._conn
        if conn is None:
            raise StorageError(f"event log {self.path} is closed")
        seq = self._next_seq
        conn.execute("BEGIN IMMEDIATE")
        try:
            run: list[tuple[Any, ...]] = []
            for job in batch:
                if job.payload is not None:
                    run.append((seq, *job.row))
                else:
                    if run:
                        conn.executemany(INSERT_IMP, run)
                        run = []
                    job.inserted = conn.execute(INSERT_ACT, (seq, *job.row)).rowcount == 1
                    if not job.inserted:
                        job.error = self._not_inserted(conn, job.row)
                seq += 1
            if run:
                conn.executemany(INSERT_IMP, run)
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        self._next_seq = seq

    def _not_inserted(self, conn: sqlite3.Connection, row: tuple[Any, ...]) -> EventError | None:
        """Why an action row was not written: a duplicate id (no error), or its impression was
        lost (a failed earlier batch)."""
        action_id, request_id = row[0], row[1]
        if conn.execute("SELECT 1 FROM actions WHERE action_id = ?", (action_id,)).fetchone():
            return None
        return EventError(
            "request_id", f"unknown request id {request_id!r}: its impression was not stored"
        )

    # -- reading ------------------------------------------------------------------------------

    def _connect_ro(self) -> sqlite3.Connection:
        if self._closed:
            raise StorageError(f"event log {self.path} is closed")
        conn = sqlite3.connect(
            f"file:{self.path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
        return conn

    def _reader(self) -> sqlite3.Connection:
        """This thread's read-only connection for point look-ups (never left mid-statement)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or self._closed:
            conn = self._connect_ro()
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def _one(self, sql: str, *args: Any) -> tuple[Any, ...] | None:
        cursor = self._reader().execute(sql, args)
        try:
            row: tuple[Any, ...] | None = cursor.fetchone()
        finally:
            cursor.close()
        return row

    def _scan(self, sql: str, args: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        """Rows of ``sql`` read on a connection of their own (a consistent snapshot)."""
        conn = self._connect_ro()
        try:
            yield from conn.execute(sql, args)
        finally:
            conn.close()

    def _flush_if_writing(self) -> None:
        if not self.readonly:
            self.flush()

    def impression(self, request_id: str) -> Impression | None:
        """The stored impression of ``request_id``, else the queued one, else ``None``.

        The database is asked again after the queue, in case the impression was committed
        between the two look-ups.
        """
        sql = f"SELECT {IMP_COLS} FROM impressions WHERE request_id = ?"
        row = self._one(sql, request_id)
        if row is None:
            queued = self._queue.pending(request_id) if self._queue else None
            if queued is not None:
                return queued
            row = self._one(sql, request_id)
        return None if row is None else impression_from_row(row)

    def impressions(
        self, since: float | None = None, until: float | None = None
    ) -> Iterator[Impression]:
        self._flush_if_writing()
        lo = float("-inf") if since is None else since
        hi = float("inf") if until is None else until
        sql = (
            f"SELECT {IMP_COLS} FROM impressions WHERE event_time_s >= ? AND event_time_s < ? "
            "ORDER BY event_time_s, seq"
        )
        return map(impression_from_row, self._scan(sql, (lo, hi)))

    def actions_for(self, request_id: str) -> list[Action]:
        cursor = self._reader().execute(
            f"SELECT {ACT_COLS} FROM actions WHERE request_id = ? ORDER BY event_time_s, seq",
            (request_id,),
        )
        return [action_from_row(row) for row in cursor.fetchall()]

    def replay(self, since: float | None = None) -> Iterator[Event]:
        """Impressions and actions merged by (event time, log order), from ``since`` on.

        An action's time here is ``replay_time_s`` (never before its impression's). Events
        logged before the call are included (queued impressions are flushed first). With
        ``since``, an action may answer an impression from before ``since`` (not yielded:
        look it up with ``impression``).
        """
        self._flush_if_writing()
        return self._replay(float("-inf") if since is None else since)

    def _replay(self, lo: float) -> Iterator[Event]:
        conn = self._connect_ro()
        try:
            conn.execute("BEGIN")  # one snapshot for both tables
            imps = conn.execute(
                f"SELECT event_time_s, seq, 0, {IMP_COLS} FROM impressions "
                "WHERE event_time_s >= ? ORDER BY event_time_s, seq",
                (lo,),
            )
            acts = conn.execute(
                f"SELECT replay_time_s, seq, 1, {ACT_COLS} FROM actions "
                "WHERE replay_time_s >= ? ORDER BY replay_time_s, seq",
                (lo,),
            )
            for row in heapq.merge(imps, acts):
                yield impression_from_row(row[3:]) if row[2] == 0 else action_from_row(row[3:])
        finally:
            conn.close()

    def stats(self) -> LogStats:
        one = self._one
        n_imp, first_imp, last_imp = one(
            "SELECT count(*), min(event_time_s), max(event_time_s) FROM impressions"
        ) or (0, None, None)
        n_act, n_req, first_act, last_act = one(
            "SELECT count(*), count(DISTINCT request_id), min(event_time_s), "
            "max(event_time_s) FROM actions"
        ) or (0, 0, None, None)
        by_kind = self._reader().execute(
            "SELECT kind, count(*) FROM actions GROUP BY kind ORDER BY 2 DESC, 1"
        )
        times = [t for t in (first_imp, last_imp, first_act, last_act) if t is not None]
        n_queued = self._queue.n_queued() if self._queue else 0
        return LogStats(
            n_impressions=int(n_imp),
            n_actions=int(n_act),
            n_requests_with_actions=int(n_req),
            n_actions_by_kind={str(k): int(n) for k, n in by_kind.fetchall()},
            n_queued=n_queued,
            first_event_time_s=min(times) if times else None,
            last_event_time_s=max(times) if times else None,
        )

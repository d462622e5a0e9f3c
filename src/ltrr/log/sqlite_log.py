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

Order. Every event gets a sequence number (``seq``, shared by both tables) inside the
transaction that writes it, under the database's write lock: the log order, unique and
increasing in commit order even with several processes appending. Learning folds the log in
that order (``events_after``; ``learn.follow``). ``replay`` (time-ordered reading) yields
impressions by ``(event_time_s, seq)`` and actions by ``(replay_time_s, seq)``, where
``replay_time_s`` is the action's event time, or its impression's if that is later.

Writers. Service workers append from several processes. SQLite's busy handler polls for the
write lock with sleeps of 1, 2, 5, 10... ms, past the end of the commit it waits for; so each
commit also holds an ``flock`` on ``ltrr.sqlite-log.lock``, which hands the turn over at once
(2 processes x 16 durable callers: 2.0-2.4 times the actions/s). It dies with its process.

Threads. ``log_action`` calls ``is_known_entity`` in the caller's thread; reads go through
``log.sqlite_reader`` (read-only connections, one per thread or per scan).

Schema. The tables are migration 3 of ``storage.sqlite``: the writer migrates the database on
open, like every writer of the data directory; a reader refuses a database of another version.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import itertools
import os
import sqlite3
from collections.abc import Callable, Container, Iterator, Sequence
from pathlib import Path
from typing import Any

from ltrr.errors import StorageError
from ltrr.log.base import ActionReceipt
from ltrr.log.events import (
    Action,
    Event,
    EventError,
    Impression,
    ImpressionHead,
    LogStats,
    UnknownRequestError,
    check_action,
    check_impression,
)
from ltrr.log.group_commit import GroupCommitQueue, Job
from ltrr.log.pages import RecentPages
from ltrr.log.params import LogParams, log_params
from ltrr.log.request_checks import RequestChecks
from ltrr.log.rewards import RewardMap
from ltrr.log.sqlite_reader import ActedFeatures, LogReader
from ltrr.log.sqlite_schema import (
    INSERT_ACT,
    INSERT_FEATURES,
    INSERT_IMP,
    MAX_SEQ,
    action_row,
    features_row,
    impression_row,
)
from ltrr.storage.datadir import DataDir
from ltrr.storage.sqlite import DB_NAME, migrate
from ltrr.types import EntityId


class SqliteEventLog(RequestChecks[LogReader]):
    """``EventLog`` over ``path`` (the data directory's ``ltrr.sqlite``).

    Parameters
    ----------
    path
        The SQLite database file; a writer creates or migrates it (``storage.sqlite``).
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
        self._reads = LogReader(self.path, self._busy_timeout_ms)
        self._pages = RecentPages()  # of the heads the follower folded (``log.pages``)
        self._conn: sqlite3.Connection | None = None
        self._queue: GroupCommitQueue[Impression] | None = None
        if readonly:
            self._reads.check_readable()
        else:
            self._open_writer()

    @classmethod
    def open(cls, data_dir: DataDir, *, append: bool | None = None) -> SqliteEventLog:
        """The log of an open data directory: its settings, catalog and writer mode.

        ``append`` (default: whether the directory was opened as a writer) opens a writer
        connection even on a reader's directory: service workers read the catalog and append
        to one shared log, each event's position assigned by the database.
        """
        config = data_dir.config
        return cls(
            data_dir.path / DB_NAME,
            is_known_entity=data_dir.catalog,
            rewards=RewardMap.from_config(config),
            params=log_params(config),
            busy_timeout_ms=config.storage.busy_timeout_ms,
            readonly=not (data_dir.writer if append is None else append),
        )

    # -- opening and closing ------------------------------------------------------------------

    def _open_writer(self) -> None:
        conn = None
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self.params.synchronous}")
            migrate(conn)  # a newer schema is refused (StorageError)
        except BaseException as exc:
            if conn is not None:
                conn.close()
            if isinstance(exc, sqlite3.DatabaseError):
                raise StorageError(f"cannot open the event log in {self.path}: {exc}") from exc
            raise
        self._conn = conn
        self._turn = os.open(f"{self.path}-log.lock", os.O_CREAT | os.O_RDWR, 0o644)
        p = self.params
        self._queue = GroupCommitQueue(
            self._commit,
            flush_interval_ms=p.flush_interval_ms,
            max_batch=p.max_batch,
            max_queue=p.max_queue,
            name="ltrr-event-log",
        )
        atexit.register(self.close)

    def close(self) -> None:
        """Commit what is queued, stop the writer, close every connection."""
        self._reads.closed = True
        error = None
        if self._queue is not None:
            error = self._queue.close()
            atexit.unregister(self.close)
        if self._conn is not None:
            self._conn.close()
            self._conn = None
            os.close(self._turn)
        self._reads.close()
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
            # its row is encoded by the writer thread (``_commit``): off the request path
            queue.put((), key=impression.request_id, payload=impression)
        # A request id already stored is dropped by the database (INSERT OR IGNORE).

    def log_action(self, action: Action) -> bool:
        return self.submit_actions([action]).wait()[0]

    def log_actions(self, actions: Sequence[Action]) -> list[bool]:
        """Durably store ``actions`` in one commit; per action, ``False`` for a duplicate id.

        Every action is checked before any is queued: an ``EventError`` (its message naming
        the action's index) leaves the log unchanged.
        """
        return self.submit_actions(actions).wait()

    def submit_actions(
        self, actions: Sequence[Action], *, foreign_wait: bool = True
    ) -> ActionReceipt:
        """As ``ServingLog.submit_actions``; ``wait`` on the receipt. Split from the wait so a
        caller holding a lock (the engine's) releases it while the fsync runs, shared with other
        callers (group commit). The batch's stored ids and shown pages: one query each."""
        rewards = self.rewards
        ids = [a.action_id for a in actions if isinstance(a, Action)]
        stored = self._reads.stored_actions([i for i in ids if isinstance(i, str)])
        shown = self._shown_of({a.request_id for a in actions if isinstance(a, Action)})
        rows: list[tuple[Any, ...] | None] = []
        seen: set[str] = set()
        for i, action in enumerate(actions):
            try:
                check_action(
                    action,
                    rewards.kinds,
                    needs_value=rewards.kind_to_min_value.keys(),
                    max_id_chars=self.params.max_id_chars,
                )
                duplicate = action.action_id in seen or action.action_id in stored
                if not duplicate:
                    self._check_request(action, shown, foreign_wait)
            except EventError as exc:
                raise (exc.at(i) if len(actions) > 1 else exc) from None
            seen.add(action.action_id)
            rows.append(None if duplicate else action_row(action))
        queue = self._writer()
        queued = iter(queue.put_many([row for row in rows if row is not None]))
        jobs = [None if row is None else next(queued) for row in rows]
        return ActionReceipt(queue, list(actions), jobs)

    def _shown_of(self, request_ids: set[object]) -> dict[str, tuple[str, ...]]:
        """The shown page of each known request of ``request_ids``, queued or stored. The queue
        first, then the database (its pages recently folded remembered: ``log.pages``): an
        impression leaves the queue only once it is committed, so one look-up sees it."""
        ids = [r for r in request_ids if isinstance(r, str)]
        queued = self._queue.pending_many(ids) if self._queue else {}
        out: dict[str, tuple[str, ...]] = {r: tuple(imp.shown) for r, imp in queued.items()}
        out.update(self._pages.get_many([r for r in ids if r not in out]))
        out.update(self._reads.shown_of([r for r in ids if r not in out]))
        return out

    def _check_request(
        self, action: Action, shown: dict[str, tuple[str, ...]], foreign_wait: bool
    ) -> None:
        """Raise ``EventError`` if the request of ``action`` or its entity is unknown
        (``shown``: the batch's known requests and their pages, from ``_shown_of``)."""
        page = shown.get(action.request_id)
        if page is None and not self._stored(action.request_id, foreign_wait):
            raise UnknownRequestError(action.request_id)
        if page is not None and action.entity_id in page:  # shown: known, without a look-up
            return
        self._check_entity(action)

    def flush(self) -> None:
        if self._queue is not None:
            self._raise(self._queue.flush())

    def _commit(self, batch: list[Job[Impression]]) -> None:
        """Write ``batch`` in one transaction, in queue order (runs on the writer thread):
        each run of impressions, and each run of actions, by one ``executemany``."""
        conn = self._conn
        if conn is None:
            raise StorageError(f"event log {self.path} is closed")
        fcntl.flock(self._turn, fcntl.LOCK_EX)  # the writers' turn: see "Writers" above
        try:
            self._write(conn, batch)
        finally:
            fcntl.flock(self._turn, fcntl.LOCK_UN)

    def _write(self, conn: sqlite3.Connection, batch: list[Job[Impression]]) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Read under the write lock: several processes may append to one log.
            seq = int(conn.execute(MAX_SEQ).fetchone()[0]) + 1
            features: list[tuple[Any, ...]] = []  # rows and features encoded here, off the
            # request path
            for is_action, group in itertools.groupby(batch, lambda job: job.payload is None):
                jobs = list(group)
                for job in jobs:
                    job.seq = seq
                    seq += 1
                if is_action:
                    self._insert_actions(conn, jobs)
                    continue
                imps = [(job.seq, job.payload) for job in jobs if job.payload is not None]
                conn.executemany(INSERT_IMP, [(at, *impression_row(imp)) for at, imp in imps])
                features.extend(
                    features_row(imp.request_id, imp.features)
                    for _, imp in imps
                    if imp.features is not None
                )
            if features:
                conn.executemany(INSERT_FEATURES, features)
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise

    def _insert_actions(self, conn: sqlite3.Connection, jobs: list[Job[Impression]]) -> None:
        """Insert a run of action rows at their positions; set each job's ``inserted`` (and
        ``error`` when its impression was lost). One statement for the run; only when some row
        was not written (a duplicate id, a lost impression) are the rows told apart."""
        cursor = conn.executemany(INSERT_ACT, [(job.seq, *job.row) for job in jobs])
        if cursor.rowcount == len(jobs):
            for job in jobs:
                job.inserted = True
            return
        written = {
            row[0]
            for row in conn.execute(
                "SELECT seq FROM actions WHERE seq BETWEEN ? AND ?", (jobs[0].seq, jobs[-1].seq)
            )
        }
        for job in jobs:
            job.inserted = job.seq in written
            if not job.inserted:
                job.error = self._not_inserted(conn, job.row)

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

    def _flush_if_writing(self) -> None:
        if not self.readonly:
            self.flush()

    def impression(self, request_id: str) -> Impression | None:
        """The stored impression of ``request_id``, else the queued one, else ``None``.

        The database is asked again after the queue, in case the impression was committed
        between the two look-ups.
        """
        stored = self._reads.impression(request_id)
        if stored is None:
            queued = self._queue.pending(request_id) if self._queue else None
            if queued is not None:
                return queued
            stored = self._reads.impression(request_id)
        return stored

    def impressions(
        self, since: float | None = None, until: float | None = None
    ) -> Iterator[Impression]:
        self._flush_if_writing()
        lo = float("-inf") if since is None else since
        hi = float("inf") if until is None else until
        return self._reads.impressions(lo, hi)

    def actions_for(self, request_id: str) -> list[Action]:
        return self._reads.actions_for(request_id)

    def replay(self, since: float | None = None) -> Iterator[Event]:
        """Impressions and actions merged by (event time, log order), from ``since`` on.

        An action's time here is ``replay_time_s`` (never before its impression's). Events
        logged before the call are included (queued impressions are flushed first). With
        ``since``, an action may answer an impression from before ``since`` (not yielded:
        look it up with ``impression``).
        """
        self._flush_if_writing()
        return self._reads.replay(float("-inf") if since is None else since)

    def last_position(self) -> int:
        """The last committed log position (queued events flushed first when writing)."""
        self._flush_if_writing()
        return self._reads.last_position()

    def acted_features(self, limit: int = 20_000) -> Iterator[ActedFeatures]:
        """The latest ``limit`` impressions with logged features and actions, in log order
        (``ltrr train``)."""
        self._flush_if_writing()
        return self._reads.acted_features(limit)

    def events_after(
        self, seq: int, limit: int = 5000
    ) -> list[tuple[int, ImpressionHead | Action]]:
        """``(position, event)`` of up to ``limit`` committed events after ``seq``, in log order
        (impressions as their heads, whose pages are remembered for checking actions)."""
        self._pages.remember(events := self._reads.events_after(seq, limit))
        return events

    def actions_through(self, request_id: str, seq: int) -> list[Action]:
        return self._reads.actions_through(request_id, seq)

    def recent(self, n: int) -> list[dict[str, Any]]:
        """The ``n`` latest stored impressions, newest first, as the dashboard lists them."""
        return self._reads.recent(n)

    @property
    def identity(self) -> str:
        """Which log this is, as ``sqlite:///`` and the database's absolute path."""
        return f"sqlite:///{self.path.resolve()}"

    def n_queued(self) -> int:
        """Impressions waiting for the next group commit (cheap: no database read)."""
        return self._queue.n_queued() if self._queue else 0

    def stats(self) -> LogStats:
        return self._reads.stats(self.n_queued())

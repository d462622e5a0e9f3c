"""The event log on PostgreSQL, for scale-out: service replicas on several hosts append to one
log and learn from it, behind the same contract as the embedded ``SqliteEventLog``.

Writes. As in SQLite: one writer thread per log object owns one connection and commits, in one
transaction, whatever its ``GroupCommitQueue`` holds (impressions wait up to
``flush_interval_ms``; an action or a ``flush`` makes it commit at once). Rows go out as one
``executemany`` per run of impressions or of actions, pipelined: BEGIN and the lock below are
one round trip, the inserts and COMMIT a second. Impressions are idempotent on ``request_id``
and actions on ``action_id`` by ``UNIQUE`` constraints and ``ON CONFLICT DO NOTHING``;
``RETURNING seq`` tells which were new, and where. An action's ``replay_time_s`` is read from
its stored impression inside the same statement, so an action whose impression is missing
writes nothing.

Order. Every event gets a position from one sequence shared by both tables. A sequence alone is
not enough: two writers (two replicas) may take 7 and 8 and commit 8 first, and a follower that
read 8 would never look below it again, missing 7. So each commit first takes a
transaction-level advisory lock (``pg_advisory_xact_lock``, one key per schema); its rows take
their positions (``nextval``, in queue order) only under that lock, which is held until the
COMMIT is visible; PostgreSQL releases transaction locks only after a committed transaction has
become visible to new snapshots. Positions are therefore assigned in commit order: every
snapshot sees a prefix of the log (with gaps where a transaction rolled back), and a follower
that polls ``events_after(position)`` (one ``REPEATABLE READ`` snapshot for both tables) misses
nothing, whichever process appended. The price is that commits to one schema are serialised,
fsync included; group commit is what amortises it (one lock and one fsync per batch, not per
event). Followers poll: ``learn.follow`` already does so a few times a second, so LISTEN/NOTIFY
would only shave that interval and would need a connection held open per follower; it is not
used.

Durability. The writer's session runs with ``synchronous_commit = on`` (``off`` only for
``[log] synchronous = "OFF"``), so ``log_action`` returns after its COMMIT is flushed to the
server's WAL: an acknowledged action survives a crash of the client, of the server process or
of its host. (SQLite's NORMAL/FULL distinction has no counterpart: both mean ``on`` here.)

Checks are the SQLite log's (``check_impression``, ``check_action``, the unknown-request and
unknown-entity rules, waiting for a queued impression), plus one PostgreSQL needs: its
``text`` cannot hold NUL characters, so ids and queries with one are refused as an
``EventError`` naming the field instead of failing a whole group-committed batch.

Reads go through ``log.postgres_reader`` (a ``psycopg_pool.ConnectionPool``); the tables and
their migrations are in ``log.postgres_schema``.
"""

from __future__ import annotations

import atexit
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from typing import Any

import psycopg

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
from ltrr.log.group_commit import GroupCommitQueue
from ltrr.log.params import LogParams
from ltrr.log.postgres_reader import PgLogReader
from ltrr.log.postgres_schema import (
    Statements,
    check_current,
    identity,
    migrate,
    redact,
    split_url,
)
from ltrr.log.postgres_writer import PgLogWriter
from ltrr.log.request_checks import RequestChecks
from ltrr.log.rewards import RewardMap
from ltrr.log.sqlite_reader import ActedFeatures
from ltrr.log.sqlite_schema import action_row
from ltrr.storage.postgres import Server
from ltrr.types import EntityId


def _refuse_nul(event: Impression | Action, names: Sequence[str]) -> None:
    for name in names:
        value = getattr(event, name)
        if isinstance(value, str) and "\x00" in value:
            raise EventError(name, "contains a NUL character (\\x00), which PostgreSQL refuses")


def _texts(values: Iterable[object]) -> list[str]:
    """The values that can be looked up (strings without NUL); the rest fail the checks."""
    return [v for v in values if isinstance(v, str) and "\x00" not in v]


class PostgresEventLog(RequestChecks[PgLogReader]):
    """``EventLog`` (and ``ServingLog``) in a PostgreSQL schema.

    Parameters
    ----------
    url
        ``postgresql://user[:password]@host[:port]/database[?schema=name&...]``; every libpq
        parameter is passed on, except ``schema``, which names the schema to use.
    schema
        Overrides the URL's schema; default ``public``. A writer creates it if missing.
    is_known_entity, rewards, params, readonly
        As for ``SqliteEventLog``.
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
        is_known_entity: Callable[[EntityId], bool] | Container[str] | None = None,
        rewards: RewardMap | None = None,
        params: LogParams | None = None,
        readonly: bool = False,
        pool_size: int = 8,
        connect_timeout_s: float = 5.0,
    ) -> None:
        conninfo, url_schema = split_url(url)
        self.schema = schema or url_schema or "public"
        self._sql = Statements.of(self.schema)
        self.url = redact(url)
        #: Which log this is: server, database and schema, never the user or a password.
        self.identity = identity(conninfo, self.schema)
        self.where = f"{self.url} (schema {self.schema})"
        self.params = params or LogParams()
        self.rewards = rewards or RewardMap()
        self.readonly = readonly
        timeout_s = max(2, round(connect_timeout_s))  # libpq's minimum
        self._server = Server(conninfo, self.url, self.where, timeout_s)
        self._is_known: Callable[[EntityId], bool] | None = (
            is_known_entity.__contains__
            if isinstance(is_known_entity, Container)
            else is_known_entity
        )
        self._pg_writer: PgLogWriter | None = None
        self._queue: GroupCommitQueue[Impression] | None = None
        conn = self._server.connect()
        try:
            if readonly:
                check_current(conn, self.schema, self.where)
            else:
                migrate(conn, self.schema, self.where)
            pool = self._server.pool(pool_size, f"ltrr-log-{self.schema}")
            self._reads = PgLogReader(pool, self._sql, self.where)
        except BaseException:
            conn.close()
            raise
        if readonly:
            conn.close()
        else:
            self._start_writer(conn)

    # -- opening and closing ------------------------------------------------------------------

    def _start_writer(self, conn: psycopg.Connection[Any]) -> None:
        sync = "off" if self.params.synchronous == "OFF" else "on"
        conn.execute(f"SET synchronous_commit TO {sync}")
        self._pg_writer = PgLogWriter(self._server, self._sql, conn, sync)
        p = self.params
        self._queue = GroupCommitQueue(
            self._pg_writer.commit,
            flush_interval_ms=p.flush_interval_ms,
            max_batch=p.max_batch,
            max_queue=p.max_queue,
            name="ltrr-event-log-pg",
        )
        atexit.register(self.close)

    def close(self) -> None:
        """Commit what is queued, stop the writer, close the connections."""
        error = None
        if self._queue is not None:
            error = self._queue.close()
            atexit.unregister(self.close)
        if self._pg_writer is not None:
            self._pg_writer.close()
        if not self._reads.closed:
            self._reads.close()
        self._raise(error)

    def __enter__(self) -> PostgresEventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _raise(self, error: BaseException | None) -> None:
        if error is not None:
            raise StorageError(f"event log {self.where}: a queued write failed: {error}") from error

    def _writer(self) -> GroupCommitQueue[Impression]:
        if self._queue is None or self._queue.closed:
            state = "read-only" if self.readonly else "closed"
            raise StorageError(f"event log {self.where} is {state}")
        return self._queue

    # -- writing ------------------------------------------------------------------------------

    def log_impression(self, impression: Impression) -> None:
        check_impression(impression, max_id_chars=self.params.max_id_chars)
        _refuse_nul(impression, ("request_id", "user_id", "session_id", "query"))
        features = impression.features
        if features is not None and "\x00" in features.fingerprint + "".join(features.ids):
            raise EventError("features", "contains a NUL character (\\x00)")
        queue = self._writer()
        if queue.pending(impression.request_id) is None:  # else the queued one wins
            # its row is encoded by the writer thread: off the request path
            queue.put((), key=impression.request_id, payload=impression)

    def log_action(self, action: Action) -> bool:
        return self.submit_actions([action]).wait()[0]

    def log_actions(self, actions: Sequence[Action]) -> list[bool]:
        """As ``SqliteEventLog.log_actions``: all checked first, then stored durably."""
        return self.submit_actions(actions).wait()

    def submit_actions(
        self, actions: Sequence[Action], *, foreign_wait: bool = True
    ) -> ActionReceipt:
        """As ``SqliteEventLog.submit_actions``: check ``actions`` and queue them as one urgent
        batch; ``wait`` on the receipt (outside any lock the caller holds)."""
        rewards = self.rewards
        stored, requested = self._reads.stored(  # one round trip for the whole batch
            _texts(a.action_id for a in actions if isinstance(a, Action)),
            _texts(a.request_id for a in actions if isinstance(a, Action)),
        )
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
                _refuse_nul(action, ("action_id", "request_id", "user_id", "entity_id"))
                duplicate = action.action_id in seen or action.action_id in stored
                if not duplicate:
                    self._check_request(action, requested, foreign_wait)
            except EventError as exc:
                raise (exc.at(i) if len(actions) > 1 else exc) from None
            seen.add(action.action_id)
            rows.append(None if duplicate else action_row(action))
        queue = self._writer()
        jobs = [
            None if row is None else queue.put(row, urgent=i == len(rows) - 1)
            for i, row in enumerate(rows)
        ]
        if jobs and jobs[-1] is None:  # the last one was a duplicate: still commit the rest now
            queue.flush()
        return ActionReceipt(queue, list(actions), jobs)

    def _check_request(self, action: Action, stored: set[str], foreign_wait: bool) -> None:
        """Raise ``EventError`` if the request of ``action`` (queued, in ``stored``, or stored
        since) or its entity is unknown."""
        known = action.request_id in stored or (
            self._queue is not None and self._queue.pending(action.request_id) is not None
        )
        if not known and not self._stored(action.request_id, foreign_wait):
            raise UnknownRequestError(action.request_id)
        self._check_entity(action)

    def flush(self) -> None:
        if self._queue is not None:
            self._raise(self._queue.flush())

    # -- reading ------------------------------------------------------------------------------

    def _flush_if_writing(self) -> None:
        if not self.readonly:
            self.flush()

    def impression(self, request_id: str) -> Impression | None:
        """The stored impression of ``request_id``, else the queued one, else ``None``."""
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
        """As ``SqliteEventLog.replay``: by (event time, log order); actions at their replay
        time (never before their impression's)."""
        self._flush_if_writing()
        return self._reads.replay(float("-inf") if since is None else since)

    def last_position(self) -> int:
        self._flush_if_writing()
        return self._reads.last_position()

    def acted_features(self, limit: int = 20_000) -> Iterator[ActedFeatures]:
        self._flush_if_writing()
        return self._reads.acted_features(limit)

    def events_after(
        self, seq: int, limit: int = 5000
    ) -> list[tuple[int, ImpressionHead | Action]]:
        return self._reads.events_after(seq, limit)

    def actions_through(self, request_id: str, seq: int) -> list[Action]:
        return self._reads.actions_through(request_id, seq)

    def recent(self, n: int) -> list[dict[str, Any]]:
        """The ``n`` latest stored impressions, newest first, as the dashboard lists them."""
        return self._reads.recent(n)

    def n_queued(self) -> int:
        return self._queue.n_queued() if self._queue else 0

    def stats(self) -> LogStats:
        return self._reads.stats(self.n_queued())

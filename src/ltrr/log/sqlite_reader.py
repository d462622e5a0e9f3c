"""The read side of the SQLite event log: read-only connections and the queries on them.

A module of its own because reading shares nothing with the group-commit writer but the file:
``SqliteEventLog`` writes through one connection on its writer thread, and reads through this
class, which any number of threads (and processes) use beside the writer under WAL.

Threads. Point look-ups use a connection per thread, never left mid-statement; scans (replay,
impressions) get a connection of their own for the life of the iterator, so that a scan is one
consistent snapshot and a slow consumer never blocks another thread's look-ups.
"""

from __future__ import annotations

import heapq
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ltrr.errors import StorageError
from ltrr.log.events import Action, Event, Impression, ImpressionHead, LoggedFeatures, LogStats
from ltrr.log.sqlite_schema import (
    ACT_COLS,
    IMP_COLS,
    MAX_SEQ,
    action_from_row,
    features_from_row,
    impression_from_row,
    merged_events,
)
from ltrr.storage.sqlite import check_current


@dataclass(frozen=True, slots=True)
class ActedFeatures:
    """An impression's logged features, its page (``shown`` from 0-based ``offset``) and its
    actions: one training group before labelling."""

    request_id: str
    seq: int
    query: str
    shown: tuple[str, ...]
    offset: int
    features: LoggedFeatures
    actions: list[Action]


#: What checking an action reads of its request: the shown page, from the covering index
#: (migration 6), not the few-KB table row.
SHOWN_OF = "SELECT request_id, shown FROM impressions INDEXED BY impressions_page"


class LogReader:
    """Read-only access to the event log in the SQLite database at ``path``."""

    def __init__(self, path: Path, busy_timeout_ms: int) -> None:
        self.path = path
        self.closed = False
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()

    def check_readable(self) -> None:
        """Raise ``StorageError`` unless ``path`` holds an event log at this ltrr's version."""
        if not self.path.exists():
            raise StorageError(f"no database at {self.path}: nothing was logged yet")
        conn = self._conn()
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        if not {"impressions", "actions"} <= names:
            raise StorageError(f"{self.path} has no event log: nothing was logged yet")
        check_current(conn, self.path)

    def close(self) -> None:
        self.closed = True
        with self._conns_lock:
            for conn in self._conns:
                conn.close()
            self._conns.clear()

    # -- connections --------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self.closed:
            raise StorageError(f"event log {self.path} is closed")
        conn = sqlite3.connect(
            f"file:{self.path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
        return conn

    def _conn(self) -> sqlite3.Connection:
        """This thread's read-only connection for point look-ups (never left mid-statement)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or self.closed:
            conn = self._connect()
            self._local.conn = conn
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    def _one(self, sql: str, *args: Any) -> tuple[Any, ...] | None:
        cursor = self._conn().execute(sql, args)
        try:
            row: tuple[Any, ...] | None = cursor.fetchone()
        finally:
            cursor.close()
        return row

    def _scan(self, sql: str, args: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        """Rows of ``sql`` read on a connection of their own (a consistent snapshot)."""
        conn = self._connect()
        try:
            yield from conn.execute(sql, args)
        finally:
            conn.close()

    # -- queries ------------------------------------------------------------------------------

    def last_position(self) -> int:
        """The last log position written (0 for an empty log)."""
        row = self._one(MAX_SEQ)
        return int(row[0]) if row is not None else 0

    def has_action(self, action_id: str) -> bool:
        return self._one("SELECT 1 FROM actions WHERE action_id = ?", action_id) is not None

    def stored_actions(self, action_ids: Sequence[str]) -> set[str]:
        """Which of ``action_ids`` are stored (a batch's duplicates), in a query per 500 ids."""
        return {
            row[0] for row in self._in("SELECT action_id FROM actions", "action_id", action_ids)
        }

    def shown_of(self, request_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """The shown page of each stored impression of ``request_ids``, in a query per 500 ids:
        what checking a batch of actions needs of their requests (most act on a shown result).
        """
        rows = self._in(SHOWN_OF, "request_id", request_ids)
        loads = orjson.loads
        return {row[0]: tuple(loads(row[1])) for row in rows}

    def _in(self, select: str, column: str, values: Sequence[str]) -> list[tuple[Any, ...]]:
        conn = self._conn()
        out: list[tuple[Any, ...]] = []
        for lo in range(0, len(values), 500):
            chunk = values[lo : lo + 500]
            marks = ",".join("?" * len(chunk))
            out.extend(conn.execute(f"{select} WHERE {column} IN ({marks})", chunk).fetchall())
        return out

    def has_impression(self, request_id: str) -> bool:
        return self._one("SELECT 1 FROM impressions WHERE request_id = ?", request_id) is not None

    def impression(self, request_id: str) -> Impression | None:
        """The stored impression of ``request_id`` (queued ones are the writer's business)."""
        row = self._one(f"SELECT {IMP_COLS} FROM impressions WHERE request_id = ?", request_id)
        return None if row is None else impression_from_row(row)

    def impressions(self, lo: float, hi: float) -> Iterator[Impression]:
        """Impressions with ``lo <= event_time_s < hi`` by (event time, log order)."""
        sql = (
            f"SELECT {IMP_COLS} FROM impressions WHERE event_time_s >= ? AND event_time_s < ? "
            "ORDER BY event_time_s, seq"
        )
        return map(impression_from_row, self._scan(sql, (lo, hi)))

    def actions_for(self, request_id: str) -> list[Action]:
        cursor = self._conn().execute(
            f"SELECT {ACT_COLS} FROM actions WHERE request_id = ? ORDER BY event_time_s, seq",
            (request_id,),
        )
        return [action_from_row(row) for row in cursor.fetchall()]

    def events_after(self, seq: int, limit: int) -> list[tuple[int, ImpressionHead | Action]]:
        """Up to ``limit`` events with a log position above ``seq``, in log order; impressions
        as their heads (``impression`` reads a whole one).

        Positions are assigned under the database's write lock and committed with it, so an
        event never appears below a position already read: a follower that remembers the last
        position it applied misses nothing, whichever process appended.
        """
        conn = self._connect()
        try:
            conn.execute("BEGIN")  # one snapshot for both tables
            imps = conn.execute(
                "SELECT seq, 0, request_id, shown, event_time_s FROM impressions "
                "WHERE seq > ? ORDER BY seq LIMIT ?",
                (seq, limit),
            ).fetchall()
            acts = conn.execute(
                f"SELECT seq, 1, {ACT_COLS} FROM actions WHERE seq > ? ORDER BY seq LIMIT ?",
                (seq, limit),
            ).fetchall()
        finally:
            conn.close()
        return merged_events(imps, acts, limit)

    def actions_through(self, request_id: str, seq: int) -> list[Action]:
        """The actions on ``request_id`` up to log position ``seq``, in log order."""
        cursor = self._conn().execute(
            f"SELECT {ACT_COLS} FROM actions WHERE request_id = ? AND seq <= ? ORDER BY seq",
            (request_id, seq),
        )
        return [action_from_row(row) for row in cursor.fetchall()]

    def acted_features(self, limit: int) -> Iterator[ActedFeatures]:
        """The latest ``limit`` impressions with logged features and an action, in log order,
        with their pages and actions: the ranker's training data (a window, so a retrain
        reads a bounded part of a long log)."""
        conn = self._connect()
        try:
            conn.execute("BEGIN")  # one snapshot for both statements
            conn.execute(
                "CREATE TEMP TABLE IF NOT EXISTS recent (request_id TEXT PRIMARY KEY, seq INTEGER)"
            )
            conn.execute("DELETE FROM recent")
            conn.execute(
                "INSERT INTO recent SELECT i.request_id, i.seq FROM features f "
                "JOIN impressions i USING (request_id) WHERE EXISTS "
                "(SELECT 1 FROM actions a WHERE a.request_id = i.request_id) "
                "ORDER BY i.seq DESC LIMIT ?",
                (limit,),
            )
            actions: dict[str, list[Action]] = {}
            for row in conn.execute(
                f"SELECT {ACT_COLS} FROM actions WHERE request_id IN "
                "(SELECT request_id FROM recent) ORDER BY seq"
            ):
                action = action_from_row(row)
                actions.setdefault(action.request_id, []).append(action)
            rows = conn.execute(
                "SELECT f.request_id, f.fingerprint, f.n_rows, f.n_cols, f.ids, f.x, i.shown, "
                "i.page_offset, i.seq, i.query FROM recent r "
                "JOIN features f USING (request_id) JOIN impressions i USING (request_id) "
                "ORDER BY r.seq"
            )
            for row in rows:
                shown = tuple(orjson.loads(row[6]))
                yield ActedFeatures(row[0], int(row[8]), row[9], shown, int(row[7]),
                                    features_from_row(row), actions[row[0]])  # fmt: skip
            conn.execute("ROLLBACK")
        finally:
            conn.close()

    def replay(self, lo: float) -> Iterator[Event]:
        """Impressions by (event time, seq) merged with actions by (replay time, seq), from lo."""
        conn = self._connect()
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

    def recent(self, n: int) -> list[dict[str, Any]]:
        """The ``n`` latest stored impressions, newest first, as the dashboard lists them: the
        plan's depths, probability and policy, how many results were shown, how many actions
        answered it, and when it was served. Read with SQLite's JSON functions, not parsed."""
        cursor = self._conn().execute(
            "SELECT request_id, query, json_extract(plan, '$.depths'), "
            "json_extract(plan, '$.probability'), json_extract(plan, '$.policy'), "
            "json_array_length(shown), "
            "(SELECT count(*) FROM actions a WHERE a.request_id = i.request_id), event_time_s "
            "FROM impressions i ORDER BY seq DESC LIMIT ?",
            (n,),
        )
        keys = ("request_id", "query", "depths", "probability", "policy", "n_shown", "n_actions")
        out = []
        for row in cursor.fetchall():
            item = dict(zip(keys, row[:7], strict=True))
            item["depths"] = orjson.loads(row[2]) if row[2] else {}
            item["event_time_s"] = row[7]
            out.append(item)
        return out

    def stats(self, n_queued: int) -> LogStats:
        """Counts and time span of what is stored; ``n_queued`` is the writer's queue."""
        one = self._one
        n_imp, first_imp, last_imp = one(
            "SELECT count(*), min(event_time_s), max(event_time_s) FROM impressions"
        ) or (0, None, None)
        n_act, n_req, first_act, last_act = one(
            "SELECT count(*), count(DISTINCT request_id), min(event_time_s), "
            "max(event_time_s) FROM actions"
        ) or (0, 0, None, None)
        by_kind = self._conn().execute(
            "SELECT kind, count(*) FROM actions GROUP BY kind ORDER BY 2 DESC, 1"
        )
        times = [t for t in (first_imp, last_imp, first_act, last_act) if t is not None]
        return LogStats(
            n_impressions=int(n_imp),
            n_actions=int(n_act),
            n_requests_with_actions=int(n_req),
            n_actions_by_kind={str(k): int(n) for k, n in by_kind.fetchall()},
            n_queued=n_queued,
            first_event_time_s=min(times) if times else None,
            last_event_time_s=max(times) if times else None,
        )

"""The read side of the PostgreSQL event log: a connection pool and the queries on it.

The queries are the SQLite reader's (``log.sqlite_reader``), with one rule for consistency:
whatever reads more than one statement's worth (``events_after``, ``replay``,
``acted_features``) runs in one ``REPEATABLE READ`` transaction, so both tables are read from
one snapshot. Point look-ups borrow a pooled connection (autocommit) for one statement; scans
hold theirs, inside a transaction with server-side cursors, for the life of the iterator.
"""

from __future__ import annotations

import contextlib
import heapq
from collections.abc import Iterator, Sequence
from typing import Any

import orjson
import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from ltrr.errors import StorageError
from ltrr.log.events import Action, Event, Impression, ImpressionHead, LogStats
from ltrr.log.postgres_schema import Statements
from ltrr.log.sqlite_reader import ActedFeatures
from ltrr.log.sqlite_schema import (
    ACT_COLS,
    FEATURE_COLS,
    IMP_COLS,
    action_from_row,
    features_from_row,
    impression_from_row,
    merged_events,
)

#: Rows fetched per round trip by the scans' server-side cursors.
SCAN_ROWS = 2000


class PgLogReader:
    """Reads of the log in ``sql.schema`` through ``pool``; ``where`` names it in errors."""

    def __init__(self, pool: ConnectionPool[psycopg.Connection[Any]], sql: Statements, where: str):
        self.pool = pool
        self.sql = sql
        self.where = where
        self.closed = False

    def close(self) -> None:
        self.closed = True
        self.pool.close()

    # -- connections --------------------------------------------------------------------------

    @contextlib.contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection; connection failures become ``StorageError`` naming the log."""
        if self.closed:
            raise StorageError(f"event log {self.where} is closed")
        try:
            with self.pool.connection() as conn:
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as exc:
            raise StorageError(f"event log {self.where}: {exc}") from exc

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection inside one read-only ``REPEATABLE READ`` transaction (as the
        pool configures its connections: ``postgres_writer.Server.pool``)."""
        with self._conn() as conn, conn.transaction():
            yield conn

    def _one(self, sql: str, *args: Any) -> tuple[Any, ...] | None:
        with self._conn() as conn:
            return conn.execute(sql, args).fetchone()

    def _all(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with self._conn() as conn:
            return conn.execute(sql, args).fetchall()

    def _scan(self, sql: str, args: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        with self._snapshot() as conn, conn.cursor(name="ltrr_scan") as cursor:
            cursor.itersize = SCAN_ROWS
            yield from cursor.execute(sql, args)

    # -- queries ------------------------------------------------------------------------------

    def last_position(self) -> int:
        row = self._one(self.sql.max_seq)
        return int(row[0]) if row is not None else 0

    def stored(self, action_ids: list[str], request_ids: list[str]) -> tuple[set[str], set[str]]:
        """Which of ``action_ids`` and of ``request_ids`` (impressions) are stored: one round
        trip for a whole batch of actions."""
        if not action_ids and not request_ids:
            return set(), set()
        s = self.sql.ident
        rows = self._all(
            f"SELECT 0, action_id FROM {s}.actions WHERE action_id = ANY(%s) UNION ALL "
            f"SELECT 1, request_id FROM {s}.impressions WHERE request_id = ANY(%s)",
            action_ids,
            request_ids,
        )
        return {r[1] for r in rows if r[0] == 0}, {r[1] for r in rows if r[0] == 1}

    def has_impression(self, request_id: str) -> bool:
        sql = f"SELECT 1 FROM {self.sql.ident}.impressions WHERE request_id = %s"
        return self._one(sql, request_id) is not None

    def impression(self, request_id: str) -> Impression | None:
        sql = f"SELECT {IMP_COLS} FROM {self.sql.ident}.impressions WHERE request_id = %s"
        row = self._one(sql, request_id)
        return None if row is None else impression_from_row(row)

    def impressions(self, lo: float, hi: float) -> Iterator[Impression]:
        sql = (
            f"SELECT {IMP_COLS} FROM {self.sql.ident}.impressions "
            "WHERE event_time_s >= %s AND event_time_s < %s ORDER BY event_time_s, seq"
        )
        return map(impression_from_row, self._scan(sql, (lo, hi)))

    def actions_for(self, request_id: str) -> list[Action]:
        sql = (
            f"SELECT {ACT_COLS} FROM {self.sql.ident}.actions WHERE request_id = %s "
            "ORDER BY event_time_s, seq"
        )
        return [action_from_row(row) for row in self._all(sql, request_id)]

    def events_after(self, seq: int, limit: int) -> list[tuple[int, ImpressionHead | Action]]:
        """Up to ``limit`` events with a position above ``seq``, in log order, read from one
        snapshot (positions are assigned in commit order: see ``log.postgres_log``)."""
        s = self.sql.ident
        with self._snapshot() as conn:
            imps = conn.execute(
                f"SELECT seq, 0, request_id, shown, event_time_s FROM {s}.impressions "
                "WHERE seq > %s ORDER BY seq LIMIT %s",
                (seq, limit),
            ).fetchall()
            acts = conn.execute(
                f"SELECT seq, 1, {ACT_COLS} FROM {s}.actions WHERE seq > %s ORDER BY seq LIMIT %s",
                (seq, limit),
            ).fetchall()
        return merged_events(imps, acts, limit)

    def actions_through(self, request_id: str, seq: int) -> list[Action]:
        sql = (
            f"SELECT {ACT_COLS} FROM {self.sql.ident}.actions "
            "WHERE request_id = %s AND seq <= %s ORDER BY seq"
        )
        return [action_from_row(row) for row in self._all(sql, request_id, seq)]

    def acted_features(self, limit: int) -> Iterator[ActedFeatures]:
        """As ``LogReader.acted_features``: the latest ``limit`` acted-on impressions with
        features, in log order, from one snapshot."""
        s = self.sql.ident
        with self._snapshot() as conn:
            recent = conn.execute(
                f"SELECT i.request_id FROM {s}.features f JOIN {s}.impressions i "
                f"USING (request_id) WHERE EXISTS (SELECT 1 FROM {s}.actions a "
                "WHERE a.request_id = i.request_id) ORDER BY i.seq DESC LIMIT %s",
                (limit,),
            ).fetchall()
            ids = [r[0] for r in recent]
            actions: dict[str, list[Action]] = {}
            for row in conn.execute(
                f"SELECT {ACT_COLS} FROM {s}.actions WHERE request_id = ANY(%s) ORDER BY seq",
                (ids,),
            ):
                action = action_from_row(row)
                actions.setdefault(action.request_id, []).append(action)
            with conn.cursor(name="ltrr_acted") as cursor:
                cursor.itersize = SCAN_ROWS
                cursor.execute(
                    f"SELECT {', '.join('f.' + c for c in FEATURE_COLS.split(', '))}, i.shown, "
                    f"i.page_offset, i.seq, i.query FROM {s}.features f "
                    f"JOIN {s}.impressions i USING (request_id) "
                    "WHERE f.request_id = ANY(%s) ORDER BY i.seq",
                    (ids,),
                )
                for row in cursor:
                    shown = tuple(orjson.loads(row[6]))
                    yield ActedFeatures(row[0], int(row[8]), row[9], shown, int(row[7]),
                                        features_from_row(row), actions[row[0]])  # fmt: skip

    def replay(self, lo: float) -> Iterator[Event]:
        """Impressions by (event time, seq) merged with actions by (replay time, seq)."""
        s = self.sql.ident
        with (
            self._snapshot() as conn,
            conn.cursor(name="ltrr_replay_imps") as imps,
            conn.cursor(name="ltrr_replay_acts") as acts,
        ):
            imps.itersize = acts.itersize = SCAN_ROWS
            imps.execute(
                f"SELECT event_time_s, seq, 0, {IMP_COLS} FROM {s}.impressions "
                "WHERE event_time_s >= %s ORDER BY event_time_s, seq",
                (lo,),
            )
            acts.execute(
                f"SELECT replay_time_s, seq, 1, {ACT_COLS} FROM {s}.actions "
                "WHERE replay_time_s >= %s ORDER BY replay_time_s, seq",
                (lo,),
            )
            for row in heapq.merge(imps, acts):
                yield impression_from_row(row[3:]) if row[2] == 0 else action_from_row(row[3:])

    def recent(self, n: int) -> list[dict[str, Any]]:
        """As ``LogReader.recent``: the ``n`` latest stored impressions, newest first, for the
        dashboard (the plan's parts read with PostgreSQL's JSON operators)."""
        s = self.sql.ident
        rows = self._all(
            "SELECT request_id, query, plan::jsonb -> 'depths', "
            "(plan::jsonb ->> 'probability')::float8, plan::jsonb ->> 'policy', "
            "jsonb_array_length(shown::jsonb), "
            f"(SELECT count(*) FROM {s}.actions a WHERE a.request_id = i.request_id), "
            f"event_time_s FROM {s}.impressions i ORDER BY seq DESC LIMIT %s",
            n,
        )
        keys = ("request_id", "query", "depths", "probability", "policy", "n_shown", "n_actions")
        out = []
        for row in rows:
            item = dict(zip(keys, row[:7], strict=True))
            item["depths"] = row[2] or {}
            item["n_actions"] = int(row[6])
            item["event_time_s"] = row[7]
            out.append(item)
        return out

    def stats(self, n_queued: int) -> LogStats:
        s = self.sql.ident
        with self._snapshot() as conn:
            n_imp, first_imp, last_imp = conn.execute(
                f"SELECT count(*), min(event_time_s), max(event_time_s) FROM {s}.impressions"
            ).fetchone() or (0, None, None)
            n_act, n_req, first_act, last_act = conn.execute(
                "SELECT count(*), count(DISTINCT request_id), min(event_time_s), "
                f"max(event_time_s) FROM {s}.actions"
            ).fetchone() or (0, 0, None, None)
            by_kind = conn.execute(
                f"SELECT kind, count(*) FROM {s}.actions GROUP BY kind ORDER BY 2 DESC, 1"
            ).fetchall()
        times = [t for t in (first_imp, last_imp, first_act, last_act) if t is not None]
        return LogStats(
            n_impressions=int(n_imp),
            n_actions=int(n_act),
            n_requests_with_actions=int(n_req),
            n_actions_by_kind={str(k): int(n) for k, n in by_kind},
            n_queued=n_queued,
            first_event_time_s=min(times) if times else None,
            last_event_time_s=max(times) if times else None,
        )

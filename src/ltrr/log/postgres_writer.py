"""The write side of the PostgreSQL event log: one connection, one transaction per batch.

``PgLogWriter.commit`` is the ``GroupCommitQueue``'s commit: it runs on the queue's thread,
takes the log-order lock, and inserts the batch in queue order, one pipelined ``executemany``
per run of impressions or actions, each row taking its position as it is written (why the
lock: ``log.postgres_log``). ``Server`` (``storage.postgres``, shared with the catalog) is
where the log lives: the connection string, how errors name it, how to open connections to it.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any

import psycopg

from ltrr.log.events import EventError, Impression
from ltrr.log.group_commit import Job
from ltrr.log.postgres_schema import Statements
from ltrr.log.sqlite_schema import features_row, impression_row
from ltrr.storage.postgres import Server

logger = logging.getLogger(__name__)


class PgLogWriter:
    """Commits batches of queued rows (the queue's thread only) through one connection."""

    def __init__(
        self, server: Server, sql: Statements, conn: psycopg.Connection[Any], sync: str
    ) -> None:
        self.server = server
        self.sql = sql
        self.sync = sync
        self._conn: psycopg.Connection[Any] | None = conn
        self._locked = False  # whether the batch being written holds the log-order lock

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> psycopg.Connection[Any]:
        """The connection, opened again if the last one broke (a server restart)."""
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            if conn is not None:
                conn.close()
            conn = self._conn = self.server.connect(self.sync)
        return conn

    def commit(self, batch: list[Job[Impression]]) -> None:
        """Write ``batch`` in one transaction, positions in queue order.

        A connection lost before the log-order lock was granted (a server restart, an idle
        connection dropped by a firewall) is opened again and the batch retried once: nothing
        of it can have been committed. A loss later, at COMMIT perhaps, is reported instead.
        """
        conn = self._connection()
        self._locked = False
        try:
            runs = self._write(conn, batch)
        except psycopg.OperationalError as exc:
            if not conn.broken or self._locked:
                raise
            logger.warning(
                "event log %s: connection lost (%s); reconnecting", self.server.where, exc
            )
            runs = self._write(self._connection(), batch)
        self._mark(self._connection(), runs)

    def _write(
        self, conn: psycopg.Connection[Any], batch: list[Job[Impression]]
    ) -> list[tuple[psycopg.Cursor[Any], list[Job[Impression]]]]:
        """Lock the log order, then insert the batch in queue order, each run of impressions
        or of actions one ``executemany``, the features after them, and COMMIT.

        Pipelined: BEGIN and the lock are one round trip; the inserts and COMMIT a second. A
        cursor per run, since pipelined results arrive later: they are read after COMMIT.
        """
        sql = self.sql
        runs = []
        features = [
            features_row(job.payload.request_id, job.payload.features)  # off the request path
            for job in batch
            if job.payload is not None and job.payload.features is not None
        ]
        with conn.pipeline(), conn.transaction():
            conn.execute(sql.lock).fetchone()  # the sync: wait until the lock is granted
            self._locked = True
            for is_action, group in itertools.groupby(batch, key=lambda job: job.payload is None):
                jobs = list(group)
                cur = conn.cursor()
                query = sql.insert_act if is_action else sql.insert_imp
                rows = [j.row if j.payload is None else impression_row(j.payload) for j in jobs]
                cur.executemany(query, rows, returning=True)
                runs.append((cur, jobs))
            if features:
                conn.cursor().executemany(sql.insert_features, features)
        return runs

    def _mark(
        self,
        conn: psycopg.Connection[Any],
        runs: list[tuple[psycopg.Cursor[Any], list[Job[Impression]]]],
    ) -> None:
        """Set each job's position and whether it was new; an action neither new nor stored
        lost its impression (in a failed earlier batch): an ``EventError``, as in SQLite."""
        lost: list[Job[Impression]] = []
        for cur, jobs in runs:
            for job, _ in zip(jobs, cur.results(), strict=True):
                row = cur.fetchone()
                job.inserted = row is not None
                job.seq = int(row[0]) if row is not None else 0
                if row is None and job.payload is None:
                    lost.append(job)
        if not lost:
            return
        found = conn.execute(
            f"SELECT action_id FROM {self.sql.ident}.actions WHERE action_id = ANY(%s)",
            ([job.row[0] for job in lost],),
        )
        stored = {r[0] for r in found.fetchall()}
        for job in lost:
            if job.row[0] not in stored:
                job.error = EventError(
                    "request_id",
                    f"unknown request id {job.row[1]!r}: its impression was not stored",
                )

"""The write side of the PostgreSQL event log: one connection, one transaction per batch.

``PgLogWriter.commit`` is the ``GroupCommitQueue``'s commit: it runs on the queue's thread,
takes the log-order lock and the batch's positions, and inserts the batch with one pipelined
``executemany`` per table (why the lock: ``log.postgres_log``). ``Server`` is where the log
lives: the connection string, how errors name it, and how to open connections to it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from ltrr.errors import StorageError
from ltrr.log.events import EventError, Impression
from ltrr.log.group_commit import Job
from ltrr.log.postgres_schema import Statements
from ltrr.log.sqlite_schema import features_row

logger = logging.getLogger(__name__)
APPLICATION = "ltrr-event-log"


@dataclass(frozen=True, slots=True)
class Server:
    """How to reach the log: libpq's ``conninfo``; ``url`` (password removed) and ``where``
    (with the schema) name it in errors; ``timeout_s`` bounds every connection attempt."""

    conninfo: str
    url: str
    where: str
    timeout_s: int

    def connect(self, synchronous_commit: str | None = None) -> psycopg.Connection[Any]:
        """An autocommit connection; a writer's sets ``synchronous_commit`` (``on``/``off``)."""
        try:
            conn = psycopg.connect(
                self.conninfo,
                autocommit=True,
                connect_timeout=self.timeout_s,
                application_name=APPLICATION,
            )
        except psycopg.Error as exc:
            raise StorageError(
                f"cannot reach the event log's PostgreSQL at {self.url}: {exc}"
            ) from exc
        if synchronous_commit is not None:
            conn.execute(f"SET synchronous_commit TO {synchronous_commit}")
        return conn

    def pool(self, size: int, name: str) -> ConnectionPool[psycopg.Connection[Any]]:
        """An open pool of autocommit read connections (at least one connected)."""
        kwargs = {"autocommit": True, "connect_timeout": self.timeout_s}
        pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            self.conninfo,
            kwargs={**kwargs, "application_name": APPLICATION},
            min_size=1,
            max_size=max(1, size),
            timeout=max(10.0, 2.0 * self.timeout_s),
            num_workers=1,
            name=name,
            open=False,
        )
        try:
            pool.open(wait=True, timeout=2.0 * self.timeout_s)
        except PoolTimeout as exc:
            pool.close()
            raise StorageError(f"cannot reach the event log's PostgreSQL at {self.url}") from exc
        return pool


class PgLogWriter:
    """Commits batches of queued rows (the queue's thread only) through one connection."""

    def __init__(
        self, server: Server, sql: Statements, conn: psycopg.Connection[Any], sync: str
    ) -> None:
        self.server = server
        self.sql = sql
        self.sync = sync
        self._conn: psycopg.Connection[Any] | None = conn

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

        A connection lost before the batch took its positions (a server restart, an idle
        connection dropped by a firewall) is opened again and the batch retried once: nothing
        of it can have been committed. A loss later, at COMMIT perhaps, is reported instead.
        """
        conn = self._connection()
        try:
            self._write(conn, batch)
        except psycopg.OperationalError as exc:
            if not conn.broken or batch[0].seq:
                raise
            logger.warning(
                "event log %s: connection lost (%s); reconnecting", self.server.where, exc
            )
            self._write(self._connection(), batch)

    def _write(self, conn: psycopg.Connection[Any], batch: list[Job[Impression]]) -> None:
        """Lock the log order, take ``len(batch)`` positions, insert impressions, their
        features, then actions (which read their impression's time)."""
        sql = self.sql
        imps, features, acts = [], [], []
        with conn.transaction(), conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (sql.lock_key,))
            row = cur.execute(sql.take_seqs, (len(batch),)).fetchone()
            seq = int(row[0]) - len(batch) + 1 if row is not None else 0
            for job in batch:
                job.seq = seq
                seq += 1
                if job.payload is None:
                    acts.append(job)
                    continue
                imps.append((job.seq, *job.row))
                if job.payload.features is not None:  # encoded here, off the request path
                    features.append(features_row(job.payload.request_id, job.payload.features))
            if imps:
                cur.executemany(sql.insert_imp, imps)
            if features:
                cur.executemany(sql.insert_features, features)
            if acts:
                self._insert_actions(cur, acts)

    def _insert_actions(self, cur: psycopg.Cursor[Any], jobs: list[Job[Impression]]) -> None:
        """Insert action rows; mark each new, duplicate, or lost (its impression was in a
        failed earlier batch: an ``EventError``, as the SQLite log reports it)."""
        cur.executemany(self.sql.insert_act, [(j.seq, *j.row) for j in jobs], returning=True)
        for job, _ in zip(jobs, cur.results(), strict=True):
            job.inserted = cur.fetchone() is not None
        lost = [job.row[0] for job in jobs if not job.inserted]
        if not lost:
            return
        cur.execute(
            f"SELECT action_id FROM {self.sql.ident}.actions WHERE action_id = ANY(%s)", (lost,)
        )
        stored = {r[0] for r in cur.fetchall()}
        for job in jobs:
            if not job.inserted and job.row[0] not in stored:
                job.error = EventError(
                    "request_id",
                    f"unknown request id {job.row[1]!r}: its impression was not stored",
                )

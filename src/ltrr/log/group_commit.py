"""A group-commit queue: many writers, one background thread, one transaction per batch.

Producers ``put`` rows; the writer thread hands every queued row, in queue order, to one
``commit`` call. A batch is due when someone waits for it (an *urgent* put, e.g. an action
whose caller blocks until it is durable, or a ``flush``), when ``max_batch`` rows are queued,
or ``flush_interval_ms`` after its oldest row was queued. Rows arriving while a commit runs
share the next one, so N concurrent durable writers pay about one fsync per batch instead of
N (the technique of DeWitt et al. 1984, "Implementation techniques for main memory database
systems", as in every database's WAL).

Each row may carry a key and a payload (an impression and its request id); ``pending(key)``
returns the payload of a queued row until its batch is committed, so readers never see a gap
between "queued" and "committed".
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

logger = logging.getLogger(__name__)
_T = TypeVar("_T")


class Job(Generic[_T]):
    """One queued row; ``commit`` sets ``inserted`` and ``seq`` (its log position), the queue
    sets ``error`` on failure."""

    __slots__ = (
        "enqueued_s", "error", "inserted", "key", "payload", "row", "seq", "ticket", "urgent",
    )  # fmt: skip

    def __init__(
        self, ticket: int, row: tuple[Any, ...], key: str | None, payload: _T | None, urgent: bool
    ) -> None:
        self.ticket = ticket
        self.row = row
        self.key = key
        self.payload = payload
        self.urgent = urgent
        self.enqueued_s = time.monotonic()
        self.inserted = False
        self.seq = 0
        self.error: BaseException | None = None


class GroupCommitQueue(Generic[_T]):
    """Queue rows for ``commit(batch)``, run by one daemon thread until ``close``.

    ``commit`` writes a batch atomically (all rows or none) and raises on failure; the error
    is then given to every job of the batch, and kept for the next ``flush`` when the batch
    held non-urgent rows (whose producers did not wait to hear of it).
    """

    def __init__(
        self,
        commit: Callable[[list[Job[_T]]], None],
        *,
        flush_interval_ms: float,
        max_batch: int,
        max_queue: int,
        name: str = "ltrr-group-commit",
    ) -> None:
        self._commit = commit
        self._interval_s = flush_interval_ms / 1000.0
        self._max_batch = max_batch
        self._max_queue = max_queue
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._done = threading.Condition(self._lock)
        self._queue: deque[Job[_T]] = deque()
        self._pending: dict[str, _T] = {}
        self._next_ticket = 1
        self._done_ticket = 0
        self._wanted_ticket = 0
        self._error: BaseException | None = None
        self._closing = False
        #: ``when_done`` callbacks by ticket (a min-heap; the count breaks ties).
        self._callbacks: list[tuple[int, int, Callable[[], None]]] = []
        self._callback_ids = itertools.count()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def closed(self) -> bool:
        return self._closing

    def n_queued(self) -> int:
        with self._lock:
            return len(self._queue)

    def pending(self, key: str) -> _T | None:
        """The payload queued under ``key`` and not yet committed, else ``None``."""
        with self._lock:
            return self._pending.get(key)

    def pending_many(self, keys: list[str]) -> dict[str, _T]:
        """``pending`` of each of ``keys`` that is queued, under one acquisition of the lock."""
        with self._lock:
            pending = self._pending
            return {k: pending[k] for k in keys if k in pending}

    def put(
        self,
        row: tuple[Any, ...],
        *,
        key: str | None = None,
        payload: _T | None = None,
        urgent: bool = False,
    ) -> Job[_T]:
        """Queue ``row``; blocks while ``max_queue`` rows are queued. Raises once closed."""
        with self._lock:
            if self._closing:
                raise RuntimeError("the group-commit queue is closed")
            while len(self._queue) >= self._max_queue:
                self._done.wait()
            job = Job(self._next_ticket, row, key, payload, urgent)
            self._next_ticket += 1
            self._queue.append(job)
            if key is not None and payload is not None:
                self._pending.setdefault(key, payload)
            if urgent:
                self._wanted_ticket = job.ticket
                self._work.notify()
            elif len(self._queue) == 1 or len(self._queue) >= self._max_batch:
                self._work.notify()
            return job

    def put_many(self, rows: list[tuple[Any, ...]]) -> list[Job[_T]]:
        """Queue ``rows`` in order under one acquisition of the lock, the last one urgent (a
        batch of actions whose caller waits); blocks while ``max_queue`` rows are queued."""
        jobs: list[Job[_T]] = []
        with self._lock:
            for i, row in enumerate(rows):
                if self._closing:
                    raise RuntimeError("the group-commit queue is closed")
                while len(self._queue) >= self._max_queue:
                    self._work.notify()
                    self._done.wait()
                job: Job[_T] = Job(self._next_ticket, row, None, None, i == len(rows) - 1)
                self._next_ticket += 1
                self._queue.append(job)
                jobs.append(job)
                if len(self._queue) == 1 or len(self._queue) >= self._max_batch:
                    self._work.notify()
            if jobs:
                self._wanted_ticket = jobs[-1].ticket
                self._work.notify()
        return jobs

    def wait(self, job: Job[_T]) -> None:
        """Block until ``job``'s batch is committed (or failed: see ``job.error``)."""
        with self._lock:
            while self._done_ticket < job.ticket:
                self._done.wait()

    def when_done(self, job: Job[_T], callback: Callable[[], None]) -> None:
        """Call ``callback`` once ``job``'s batch is committed (or failed): at once if it is,
        else on the writer thread after the commit, outside the queue's lock. An event loop
        awaits a durable write this way without a thread blocked in ``wait``."""
        with self._lock:
            if self._done_ticket < job.ticket:
                heapq.heappush(self._callbacks, (job.ticket, next(self._callback_ids), callback))
                return
        callback()

    def flush(self) -> BaseException | None:
        """Block until every row queued before the call is committed; return (and clear) the
        error of a failed batch since the last flush, if any."""
        with self._lock:
            target = self._next_ticket - 1
            if target > self._done_ticket:
                self._wanted_ticket = max(self._wanted_ticket, target)
                self._work.notify()
            while self._done_ticket < target:
                self._done.wait()
            error, self._error = self._error, None
        return error

    def close(self) -> BaseException | None:
        """Commit what is queued, stop the thread; return the pending error, if any."""
        with self._lock:
            self._closing = True
            self._work.notify()
        self._thread.join()
        with self._lock:
            error, self._error = self._error, None
        return error

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._closing:
                    self._work.wait()
                if not self._queue:
                    return
                self._gather()
                n = min(len(self._queue), self._max_batch)
                batch = [self._queue.popleft() for _ in range(n)]
            self._write(batch)
            with self._lock:
                for job in batch:
                    if job.key is not None and self._pending.get(job.key) is job.payload:
                        del self._pending[job.key]
                self._done_ticket = batch[-1].ticket
                self._done.notify_all()
                due = []
                while self._callbacks and self._callbacks[0][0] <= self._done_ticket:
                    due.append(heapq.heappop(self._callbacks)[2])
            for callback in due:
                try:
                    callback()
                except Exception:  # a waiter's callback must never stop the writer
                    logger.exception("a commit callback failed")

    def _gather(self) -> None:
        """Wait (lock held) until the batch is due: someone waits, it is full, or time is up."""
        deadline = self._queue[0].enqueued_s + self._interval_s
        while (
            not self._closing
            and self._wanted_ticket <= self._done_ticket
            and len(self._queue) < self._max_batch
        ):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._work.wait(remaining)

    def _write(self, batch: list[Job[_T]]) -> None:
        try:
            self._commit(batch)
        except BaseException as exc:  # a write error must reach every waiter, never kill them
            logger.error("%d queued writes failed: %s", len(batch), exc)
            for job in batch:
                job.error, job.inserted = exc, False
            with self._lock:
                if not all(job.urgent for job in batch):
                    self._error = exc

"""The group-commit queue: batching, urgency, order, back-pressure and failures."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ltrr.log.group_commit import GroupCommitQueue, Job


class Sink:
    """A commit function that records batches (and can be told to fail or stall)."""

    def __init__(self) -> None:
        self.batches: list[list[tuple[Any, ...]]] = []
        self.fail = False
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, batch: list[Job[str]]) -> None:
        self.gate.wait()
        if self.fail:
            raise OSError("disk full")
        self.batches.append([job.row for job in batch])
        for job in batch:
            job.inserted = True


@pytest.fixture
def sink() -> Sink:
    return Sink()


def _queue(sink: Sink, **kw: Any) -> GroupCommitQueue[str]:
    params = {"flush_interval_ms": 5.0, "max_batch": 100, "max_queue": 10_000} | kw
    return GroupCommitQueue(sink, **params)


@pytest.fixture
def queue(sink: Sink) -> Iterator[GroupCommitQueue[str]]:
    q = _queue(sink, flush_interval_ms=60_000.0)
    yield q
    q.close()


def test_rows_are_batched_in_order(sink: Sink, queue: GroupCommitQueue[str]) -> None:
    for i in range(250):
        queue.put((i,))
    assert queue.flush() is None
    rows = [row for batch in sink.batches for row in batch]
    assert rows == [(i,) for i in range(250)]
    assert len(sink.batches) == 3  # max_batch 100: 100 + 100 + 50, not 250 commits


def test_urgent_put_commits_without_waiting_for_the_interval(
    sink: Sink, queue: GroupCommitQueue[str]
) -> None:
    queue.put(("impression",), key="r1", payload="imp")
    started = time.monotonic()
    job = queue.put(("action",), urgent=True)
    queue.wait(job)
    assert time.monotonic() - started < 5.0  # the interval is 60 s
    assert job.inserted and job.error is None
    assert sink.batches == [[("impression",), ("action",)]]


def test_put_many_queues_in_order_and_commits_at_once(
    sink: Sink, queue: GroupCommitQueue[str]
) -> None:
    queue.put(("impression",), key="r1", payload="imp")
    jobs = queue.put_many([("a1",), ("a2",), ("a3",)])
    assert [job.urgent for job in jobs] == [False, False, True]
    queue.wait(jobs[-1])  # the interval is 60 s: the last row's urgency commits them
    assert sink.batches == [[("impression",), ("a1",), ("a2",), ("a3",)]]
    assert queue.pending_many(["r1", "r2"]) == {}
    assert queue.put_many([]) == []


def test_pending_payload_is_visible_until_committed(
    sink: Sink, queue: GroupCommitQueue[str]
) -> None:
    queue.put(("imp",), key="r1", payload="imp-1")
    assert queue.pending("r1") == "imp-1"
    assert queue.n_queued() == 1
    queue.flush()
    assert queue.pending("r1") is None
    assert queue.n_queued() == 0


def test_the_interval_alone_commits(sink: Sink) -> None:
    q = _queue(sink, flush_interval_ms=1.0)
    try:
        q.put(("x",))
        deadline = time.monotonic() + 5.0
        while not sink.batches and time.monotonic() < deadline:
            time.sleep(0.001)
        assert sink.batches == [[("x",)]]
    finally:
        q.close()


def test_concurrent_urgent_writers_share_commits(sink: Sink) -> None:
    q = _queue(sink, flush_interval_ms=60_000.0, max_batch=1000)
    sink.gate.clear()  # stall the first commit so that the others pile up behind it
    jobs: list[Job[str]] = []

    def write(i: int) -> None:
        job = q.put((i,), urgent=True)
        jobs.append(job)
        q.wait(job)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    time.sleep(0.05)
    sink.gate.set()
    for t in threads:
        t.join()
    q.close()
    assert sorted(row[0] for batch in sink.batches for row in batch) == list(range(20))
    assert len(sink.batches) < 20
    assert all(job.inserted for job in jobs)


def test_failure_reaches_waiters_and_next_flush(sink: Sink, queue: GroupCommitQueue[str]) -> None:
    sink.fail = True
    queue.put(("imp",), key="r1", payload="imp")
    job = queue.put(("action",), urgent=True)
    queue.wait(job)
    assert isinstance(job.error, OSError) and not job.inserted
    assert isinstance(queue.flush(), OSError)
    assert queue.flush() is None  # reported once
    sink.fail = False
    queue.put(("later",))
    assert queue.flush() is None
    assert sink.batches == [[("later",)]]


def test_full_queue_blocks_until_drained(sink: Sink) -> None:
    q = _queue(sink, flush_interval_ms=60_000.0, max_batch=2, max_queue=2)
    sink.gate.clear()
    q.put((1,))
    q.put((2,))  # the writer takes this batch of 2 and stalls in commit
    time.sleep(0.02)
    q.put((3,))
    q.put((4,))  # the queue is full again
    done = threading.Event()

    def fifth() -> None:
        q.put((5,))
        done.set()

    threading.Thread(target=fifth).start()
    assert not done.wait(0.1)
    sink.gate.set()
    assert done.wait(5.0)
    assert q.close() is None
    assert [row for batch in sink.batches for row in batch] == [(i,) for i in range(1, 6)]


def test_put_after_close_fails(sink: Sink) -> None:
    q = _queue(sink)
    q.put((1,))
    q.close()
    assert sink.batches == [[(1,)]]  # close commits what is queued
    with pytest.raises(RuntimeError, match="closed"):
        q.put((2,))


def test_when_done_calls_back_after_the_commit_or_at_once(
    sink: Sink, queue: GroupCommitQueue[str]
) -> None:
    """An async caller's wake-up: after its batch is committed (never before), on the writer
    thread; at once for a job already committed; a failing callback stops nothing."""
    sink.gate.clear()  # the commit stalls until the gate opens
    seen: list[tuple[str, bool, str]] = []
    job = queue.put(("action",), urgent=True)
    queue.when_done(job, lambda: 1 / 0)  # type: ignore[arg-type]
    queue.when_done(
        job, lambda: seen.append(("late", job.inserted, threading.current_thread().name))
    )
    time.sleep(0.05)
    assert seen == []  # not committed yet
    sink.gate.set()
    queue.wait(job)
    deadline = time.monotonic() + 5
    while not seen and time.monotonic() < deadline:
        time.sleep(0.001)
    assert seen == [("late", True, "ltrr-group-commit")]
    queue.when_done(
        job, lambda: seen.append(("now", job.inserted, threading.current_thread().name))
    )
    assert seen[-1] == ("now", True, threading.current_thread().name)
    after = queue.put(("after",), urgent=True)
    queue.wait(after)
    assert after.inserted  # the writer survived the failing callback

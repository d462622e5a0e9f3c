"""The engine's lock counts the threads blocked on it, and the service's loop lets them go first
(``service.deps.call_engine``): a follower waiting with a slice of learning is never starved
by a loop that finds the lock free between two requests."""

from __future__ import annotations

import asyncio
import threading
import time

from ltrr.engine_lock import EngineLock
from ltrr.service.deps import call_engine


def _blocked(lock: EngineLock, then: list[str], hold_s: float = 0.05) -> threading.Thread:
    """A thread that blocks on ``lock``, notes "thread" when it has it, and holds it a while."""

    def run() -> None:
        with lock:
            then.append("thread")
            time.sleep(hold_s)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 10
    while not lock.contended and time.monotonic() < deadline:
        time.sleep(0.001)
    return thread


def test_contended_while_a_thread_is_blocked_and_reentrant_for_the_holder() -> None:
    lock = EngineLock()
    assert not lock.contended
    with lock:
        with lock:  # re-entrant: the holder takes it again without blocking
            assert lock.acquire(blocking=False)
            lock.release()
        order: list[str] = []
        thread = _blocked(lock, order)
        assert lock.contended and order == []  # blocked behind this thread
    thread.join(10)
    assert order == ["thread"] and not lock.contended
    assert lock.acquire(blocking=False)  # free again
    lock.release()


class _Engine:
    def __init__(self) -> None:
        self.lock = EngineLock()


def test_the_loop_lets_a_blocked_thread_go_first() -> None:
    engine = _Engine()
    order: list[str] = []
    held, release = threading.Event(), threading.Event()

    def hold() -> None:  # a catalog change, say
        with engine.lock:
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    thread = _blocked(engine.lock, order)  # the follower, blocked behind it

    async def search() -> None:
        call = lambda: order.append("search")  # noqa: E731
        task = asyncio.ensure_future(call_engine(engine, call))  # type: ignore[arg-type]
        await asyncio.sleep(0.02)
        assert not task.done()  # the loop waits while the lock is held...
        release.set()
        await task

    asyncio.run(search())
    holder.join(10)
    thread.join(10)
    assert order == ["thread", "search"]  # ...and while a blocked thread is waiting for it

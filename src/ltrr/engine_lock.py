"""The engine's lock: re-entrant, and it says when a thread is blocked waiting for it.

One engine answers searches, queues feedback and folds the log (the service's follower thread),
each under this lock. The service answers on its event loop and takes the lock only when it is
free (``service.deps.call_engine``), so that no request ever waits in a thread pool: a pool
thread blocked on the lock is one more thread contending for the GIL, and once one search ran
in the pool the next found the lock held and went there too (measured at 100k with 2 workers:
one worker ended with its searches on 7 pool threads, each taking the GIL from the others).
But a loop that finds the lock free between every two requests would keep a blocked thread
(the follower, with a slice of learning) out for as long as requests keep coming: learning
would stall exactly when traffic is heaviest. ``contended`` lets the loop step aside until the
blocked threads have had their turn.
"""

from __future__ import annotations

import threading
from types import TracebackType


class EngineLock:
    """A ``threading.RLock`` that counts the threads blocked in ``acquire``."""

    __slots__ = ("_lock", "_waiting")

    def __init__(self) -> None:
        self._lock = threading.RLock()
        # One item per blocked thread; list.append and list.pop are atomic under the GIL,
        # where ``n += 1`` on an attribute is not.
        self._waiting: list[None] = []

    @property
    def contended(self) -> bool:
        """Whether some thread is blocked waiting for the lock."""
        return bool(self._waiting)

    def acquire(self, blocking: bool = True, timeout: float = -1.0) -> bool:
        if self._lock.acquire(blocking=False):  # free, or held by this thread (re-entrant)
            return True
        if not blocking:
            return False
        self._waiting.append(None)
        try:
            return self._lock.acquire(True, timeout)
        finally:
            self._waiting.pop()

    def release(self) -> None:
        self._lock.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

"""Actions on another process's impressions: waited for outside the engine's lock.

With several service workers (or replicas) appending to one log, a click can reach a worker
before the worker that served the search has committed its impression. The log's check then
waits up to ``[log] foreign_wait_ms`` for it. That wait must not hold the engine's lock (every
search of the worker would wait behind it) nor, in the service, block the event loop (every
request of the worker would): a feedback request naming a request id that never existed
stalled a worker for two seconds. So the check runs under the lock without waiting, and the
wait, when one is needed, runs outside it: blocking here (``submit``), awaited in the service
(``service.routes_feedback``), where the cheap ``has_request`` is polled between tries.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

from ltrr.log.base import ActionReceipt, ServingLog
from ltrr.log.events import Action, UnknownRequestError

#: How often a waiting caller looks for the impression again.
POLL_S = 0.005


def stored(has_impression: Callable[[str], bool], request_id: str, wait_s: float) -> bool:
    """Whether ``has_impression(request_id)``, looked at every ``POLL_S`` for up to ``wait_s``
    (0: once)."""
    deadline = time.monotonic() + wait_s
    while not has_impression(request_id):
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_S)
    return True


def deadline_of(log: ServingLog) -> float:
    """When a wait that starts now gives up (``time.monotonic`` seconds)."""
    return time.monotonic() + log.params.foreign_wait_ms / 1000


def submit(
    log: ServingLog, lock: AbstractContextManager[object], actions: Sequence[Action], *, wait: bool
) -> ActionReceipt:
    """``log.submit_actions(actions)`` under ``lock``, an unknown request waited for outside
    it (``wait``) or raised at once (``UnknownRequestError``)."""
    deadline = deadline_of(log)
    while True:
        try:
            with lock:
                return log.submit_actions(actions, foreign_wait=False)
        except UnknownRequestError as exc:
            left_s = deadline - time.monotonic()
            if not wait or not stored(log.has_request, exc.request_id, max(left_s, 0.0)):
                raise

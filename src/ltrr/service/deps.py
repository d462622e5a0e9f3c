"""What routes get injected: the engine, built once in the app's lifespan (tests override it).

The getters are ``async`` although they only read an attribute: FastAPI runs a plain ``def``
dependency in its thread pool, and those hops cost more per search than the routing itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request

from ltrr.engine import Engine
from ltrr.service.metrics import Metrics
from ltrr.service.settings import ServiceParams


async def engine(request: Request) -> Engine:
    found: Engine = request.app.state.engine
    return found


async def metrics(request: Request) -> Metrics:
    found: Metrics = request.app.state.metrics
    return found


async def params(request: Request) -> ServiceParams:
    found: ServiceParams = request.app.state.params
    return found


_T = TypeVar("_T")
#: How often a request waiting for the engine's lock looks again, in seconds.
LOCK_POLL_S = 0.0005


async def call_engine(engine: Engine, call: Callable[[], _T]) -> _T:
    """``call()`` (a method of ``engine`` that takes its lock) on the event loop, once the lock
    is free and no thread is blocked waiting for it (``engine_lock``).

    A search or the queueing of feedback is a few milliseconds of CPU under the engine's lock,
    so the loop runs it itself: a hop to a pool thread and back cost more than the routing,
    and under load the pool's threads queued on the lock and fought the loop for the GIL (a
    convoy). While the lock is held (the follower folding a slice of events, a catalog change)
    or wanted by a blocked thread, the request waits on the loop (``asyncio.sleep``), which
    goes on serving other requests' I/O.
    """
    lock = engine.lock
    while lock.contended or not lock.acquire(blocking=False):
        await asyncio.sleep(LOCK_POLL_S)
    try:
        return call()  # re-entrant: the call takes the lock again
    finally:
        lock.release()


EngineDep = Annotated[Engine, Depends(engine)]
MetricsDep = Annotated[Metrics, Depends(metrics)]
ParamsDep = Annotated[ServiceParams, Depends(params)]

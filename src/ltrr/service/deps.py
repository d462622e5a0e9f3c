"""What routes get injected: the engine, built once in the app's lifespan (tests override it).

The getters are ``async`` although they only read an attribute: FastAPI runs a plain ``def``
dependency in its thread pool, and those hops cost more per search than the routing itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

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


async def call_engine(engine: Engine, call: Callable[[], _T]) -> _T:
    """``call()`` (a method of ``engine`` that takes its lock) on the event loop when the lock
    is free, else in the thread pool.

    A search or the queueing of feedback is a few milliseconds of CPU under the engine's lock;
    the hop to FastAPI's thread pool and back cost more than the routing, with the loop and
    the pool's thread passing the GIL to each other. When the lock is held (the log follower
    folding a page of events, a catalog change), the call waits in the pool instead, so the
    loop never blocks on it.
    """
    if engine.lock.acquire(blocking=False):  # re-entrant: the call takes it again
        try:
            return call()
        finally:
            engine.lock.release()
    return await run_in_threadpool(call)


EngineDep = Annotated[Engine, Depends(engine)]
MetricsDep = Annotated[Metrics, Depends(metrics)]
ParamsDep = Annotated[ServiceParams, Depends(params)]

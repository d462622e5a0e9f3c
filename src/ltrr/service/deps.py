"""What routes get injected: the engine, built once in the app's lifespan (tests override it).

The getters are ``async`` although they only read an attribute: FastAPI runs a plain ``def``
dependency in its thread pool, and those hops cost more per search than the routing itself.
"""

from __future__ import annotations

from typing import Annotated

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


EngineDep = Annotated[Engine, Depends(engine)]
MetricsDep = Annotated[Metrics, Depends(metrics)]
ParamsDep = Annotated[ServiceParams, Depends(params)]

"""What routes get injected: the engine, built once in the app's lifespan (tests override it)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ltrr.engine import Engine
from ltrr.service.metrics import Metrics
from ltrr.service.settings import ServiceParams


def engine(request: Request) -> Engine:
    found: Engine = request.app.state.engine
    return found


def metrics(request: Request) -> Metrics:
    found: Metrics = request.app.state.metrics
    return found


def params(request: Request) -> ServiceParams:
    found: ServiceParams = request.app.state.params
    return found


EngineDep = Annotated[Engine, Depends(engine)]
MetricsDep = Annotated[Metrics, Depends(metrics)]
ParamsDep = Annotated[ServiceParams, Depends(params)]

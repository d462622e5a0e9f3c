"""Operations: ``/healthz`` (the process answers), ``/readyz`` (indexes loaded), ``/metrics``
(Prometheus) and ``GET /v1/stats`` (what the engine learned: the same fold the policy's lessons
go through, ``learn.stats``)."""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST

from ltrr.service.auth import require, scope_of
from ltrr.service.deps import EngineDep, MetricsDep, ParamsDep
from ltrr.service.schemas import error_responses

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"model": dict[str, str], "description": "Still starting"}})
def readyz(request: Request, response: Response) -> dict[str, Any]:
    engine = getattr(request.app.state, "engine", None)
    if engine is None:
        response.status_code = 503
        return {"status": "starting"}
    return {
        "status": "ready",
        "catalog_version": engine.indexes.catalog_version,
        "indexes": [s.name for s in engine.indexes.status],
    }


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(metrics: MetricsDep) -> Response:
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)


@router.get(
    "/v1/stats",
    tags=["stats"],
    dependencies=[require("search")],
    responses=error_responses(401, 403, 422),
)
def stats(
    request: Request,
    engine: EngineDep,
    params: ParamsDep,
    metrics: MetricsDep,
    detail: bool = Query(False, description="Time series by intent (admin scope)"),
) -> dict[str, Any]:
    """Counts, model versions, per-strategy found-rate and reward, this worker's latency
    percentiles per route; with ``detail`` the plan mix and found-rate by intent over time."""
    if detail and scope_of(request.headers.get("x-api-key"), params) != "admin":
        raise HTTPException(
            403, detail={"field": "X-API-Key", "message": "stats detail needs an admin key"}
        )
    # The log's counts scan its tables on a reader connection: not under the engine's lock,
    # which searches wait on.
    log = engine.log.stats().to_dict() if engine.log is not None else None
    with engine.lock:
        learned = engine.learner.lessons.stats.to_dict()
        out: dict[str, Any] = {
            "log": log,
            "learned": {
                **asdict(engine.learner.counts),
                "n_policy_updates": engine.learner.n_policy_updates,
            },
            "model_versions": {
                "policy": f"{engine.policy.name}@{engine.learner.n_policy_updates}",
                "ranker": f"{engine.ranker.name}@{engine.ranker.n_updates}",
                "learned_ranker": engine.ranking.describe(),
            },
            "catalog_version": engine.indexes.catalog_version,
            # What the policy prices each (strategy, depth) at, ms (measured; select.costs).
            "plan_cost_ms": getattr(engine.policy, "cost_ms", dict)(),
            "worker": {
                "pid": os.getpid(),
                "log_position": engine.follower.position if engine.follower else None,
                "follow_interval_ms": params.follow_interval_ms,
            },
        }
    over_time = learned.pop("over_time")
    out["lessons"] = learned
    out["latency_ms"] = metrics.route_latency_ms()
    if detail:
        out["over_time"] = over_time
    return out

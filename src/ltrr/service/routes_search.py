"""``POST /v1/search``: the understood query, the plan with its probability and model
versions, results with provenance, the candidate count and latency per stage."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter

from ltrr.engine import Engine
from ltrr.service.auth import require
from ltrr.service.deps import EngineDep, MetricsDep, ParamsDep, call_engine
from ltrr.service.encoding import JSON
from ltrr.service.limits import check_at_most
from ltrr.service.metrics import Metrics
from ltrr.service.schemas import SearchRequest, error_responses
from ltrr.service.settings import ServiceParams
from ltrr.types import Context

router = APIRouter(prefix="/v1", tags=["search"], responses=error_responses(400, 401, 413, 422))


# The answer is encoded directly (``JSON``): a returned dict would be validated against the
# ``dict[str, Any]`` model field by field first, for nothing (the schema is in ``response_model``).
# The route is ``async``: ``call_engine`` searches on the event loop when the engine is free.
@router.post("/search", dependencies=[require("search")], response_model=dict[str, Any])
async def search(
    body: SearchRequest, engine: EngineDep, metrics: MetricsDep, params: ParamsDep
) -> JSON:
    """Search the catalog; the search is logged, and its ``request_id`` takes feedback."""
    return await answer(body, engine, metrics, params)


async def answer(
    body: SearchRequest, engine: Engine, metrics: Metrics, params: ServiceParams
) -> JSON:
    """The route's answer (``service.fast_path`` calls it too, for a well-formed request)."""
    check_at_most(body.offset, params.max_offset, "offset", "max_offset")
    c = body.context
    context = (
        Context()
        if c is None
        else Context(
            user_id=c.user_id, session_id=c.session_id, segment=c.segment, locale=c.locale,
            device=c.device, hour=c.hour, taste=dict(c.taste),
        )
    )  # fmt: skip
    run = partial(
        engine.search, body.query, context, k=body.k, offset=body.offset,
        filters=body.filters or None, strategies=body.strategies, depth=body.depth,
    )  # fmt: skip
    response = await call_engine(engine, run)
    for strategy, ms in response.strategy_latency_ms.items():
        metrics.strategy_latency.labels(strategy).observe(ms / 1000)
    return JSON(response.to_dict())

"""``POST /v1/feedback`` and ``POST /v1/feedback/batch``: answered only once the actions are
durable (group commit); a repeated action id is acknowledged as a duplicate and learned once."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter

from ltrr.log.events import Action
from ltrr.service.auth import require
from ltrr.service.deps import EngineDep, MetricsDep, ParamsDep
from ltrr.service.encoding import JSON
from ltrr.service.limits import check_at_most
from ltrr.service.schemas import FeedbackBatch, FeedbackRequest, error_responses
from ltrr.types import EntityId

router = APIRouter(prefix="/v1", tags=["feedback"], responses=error_responses(400, 401, 413, 422))


def _action(body: FeedbackRequest, now_s: float) -> Action:
    return Action(
        action_id=body.action_id,
        request_id=body.request_id,
        user_id=body.user_id,
        entity_id=EntityId(body.entity_id),
        kind=body.kind,
        value=body.value,
        event_time_s=now_s if body.event_time_s is None else body.event_time_s,
    )


def _record(
    engine: EngineDep, metrics: MetricsDep, bodies: Sequence[FeedbackRequest]
) -> list[dict[str, str]]:
    now_s = time.time()
    started = time.perf_counter()
    stored = engine.feedback_many([_action(b, now_s) for b in bodies])
    metrics.durable.observe(time.perf_counter() - started)
    return [
        {"action_id": b.action_id, "status": "stored" if new else "duplicate"}
        for b, new in zip(bodies, stored, strict=True)
    ]


# The answers are encoded directly (``JSON``), as search's are: a returned dict would be
# validated against its model field by field first, for nothing (the schema is in
# ``response_model``); under wrk that was 8% of a worker's GIL time.
@router.post("/feedback", dependencies=[require("search")], response_model=dict[str, str])
def feedback(body: FeedbackRequest, engine: EngineDep, metrics: MetricsDep) -> JSON:
    """Record one action (durable when answered) and learn from it."""
    return JSON(_record(engine, metrics, [body])[0])


@router.post("/feedback/batch", dependencies=[require("search")], response_model=dict[str, Any])
def feedback_batch(
    body: FeedbackBatch, engine: EngineDep, metrics: MetricsDep, params: ParamsDep
) -> JSON:
    """Record up to ``[service] max_batch`` actions in one commit; a bad one is named and
    nothing is stored."""
    check_at_most(len(body.actions), params.max_batch, "actions", "max_batch")
    results = _record(engine, metrics, body.actions)
    n_stored = sum(r["status"] == "stored" for r in results)
    return JSON({"results": results, "n_stored": n_stored, "n_duplicates": len(results) - n_stored})

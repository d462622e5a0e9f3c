"""``POST /v1/feedback`` and ``POST /v1/feedback/batch``: answered only once the actions are
durable (group commit); a repeated action id is acknowledged as a duplicate and learned once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter

from ltrr.engine import Engine
from ltrr.log import foreign
from ltrr.log.base import ActionReceipt
from ltrr.log.events import Action, UnknownRequestError
from ltrr.service.auth import require
from ltrr.service.deps import EngineDep, MetricsDep, ParamsDep, call_engine
from ltrr.service.encoding import JSON
from ltrr.service.limits import check_at_most
from ltrr.service.metrics import Metrics
from ltrr.service.schemas import FeedbackBatch, FeedbackRequest, error_responses
from ltrr.service.settings import ServiceParams
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


async def _record(
    engine: Engine, metrics: Metrics, bodies: Sequence[FeedbackRequest]
) -> list[dict[str, str]]:
    """Queue the actions and await their commit on the event loop: no thread of the pool
    waits out the fsync, so a worker holds hundreds of durable waits for the cost of futures.
    A bad action raises before anything is queued (the engine checks the batch first)."""
    now_s = time.time()
    started = time.perf_counter()
    actions = [_action(b, now_s) for b in bodies]
    receipt = await _submitted(engine, actions)
    loop = asyncio.get_running_loop()
    durable: asyncio.Future[None] = loop.create_future()

    def wake() -> None:  # on the log's writer thread
        loop.call_soon_threadsafe(_done, durable)

    receipt.when_durable(wake)
    await durable
    stored = engine.feedback_learned(receipt)  # durable now: returns without blocking
    metrics.durable.observe(time.perf_counter() - started)
    return [
        {"action_id": b.action_id, "status": "stored" if new else "duplicate"}
        for b, new in zip(bodies, stored, strict=True)
    ]


async def _submitted(engine: Engine, actions: list[Action]) -> ActionReceipt:
    """``engine.feedback_submitted(actions)``; a request another worker has not committed yet
    is awaited (``log.foreign``) with the event loop free, then the batch is tried again."""
    deadline = None
    while True:
        try:
            return await call_engine(engine, lambda: engine.feedback_submitted(actions, wait=False))
        except UnknownRequestError as exc:
            log = engine.log
            if log is None:
                raise
            deadline = foreign.deadline_of(log) if deadline is None else deadline
            while not log.has_request(exc.request_id):
                if time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(foreign.POLL_S)


def _done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


# The answers are encoded directly (``JSON``), as search's are: a returned dict would be
# validated against its model field by field first, for nothing (the schema is in
# ``response_model``); under wrk that was 8% of a worker's GIL time.
@router.post("/feedback", dependencies=[require("search")], response_model=dict[str, str])
async def feedback(
    body: FeedbackRequest, engine: EngineDep, metrics: MetricsDep, params: ParamsDep
) -> JSON:
    """Record one action (durable when answered) and learn from it."""
    return await answer_one(body, engine, metrics, params)


@router.post("/feedback/batch", dependencies=[require("search")], response_model=dict[str, Any])
async def feedback_batch(
    body: FeedbackBatch, engine: EngineDep, metrics: MetricsDep, params: ParamsDep
) -> JSON:
    """Record up to ``[service] max_batch`` actions in one commit; a bad one is named and
    nothing is stored."""
    return await answer_batch(body, engine, metrics, params)


# The routes' answers, which ``service.fast_path`` calls too for a well-formed request.
async def answer_one(
    body: FeedbackRequest, engine: Engine, metrics: Metrics, params: ServiceParams
) -> JSON:
    return JSON((await _record(engine, metrics, [body]))[0])


async def answer_batch(
    body: FeedbackBatch, engine: Engine, metrics: Metrics, params: ServiceParams
) -> JSON:
    check_at_most(len(body.actions), params.max_batch, "actions", "max_batch")
    results = await _record(engine, metrics, body.actions)
    n_stored = sum(r["status"] == "stored" for r in results)
    return JSON({"results": results, "n_stored": n_stored, "n_duplicates": len(results) - n_stored})

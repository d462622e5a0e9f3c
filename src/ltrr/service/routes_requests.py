"""``GET /v1/requests/recent``: the latest searches as the log stored them, with their plans
(what the dashboard lists). Read from the log, so every worker answers the same."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from ltrr.service.auth import require
from ltrr.service.deps import EngineDep
from ltrr.service.schemas import error_responses

router = APIRouter(prefix="/v1/requests", tags=["stats"], responses=error_responses(401, 422))


@router.get("/recent", dependencies=[require("search")])
def recent(engine: EngineDep, n: int = Query(20, ge=1, le=200)) -> list[dict[str, Any]]:
    """The ``n`` latest stored impressions, newest first: request id, query, plan depths,
    probability and policy, results shown, actions so far, event time. Searches still queued
    for the next group commit appear a few milliseconds later."""
    log = engine.log
    return [] if log is None else log.recent(n)

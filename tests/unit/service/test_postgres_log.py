"""The HTTP service over an engine whose event log is on PostgreSQL (``[log] url``): a search and
its feedback are stored there, and ``GET /v1/requests/recent`` reads them back through the log's
protocol. Skipped, with the reason, when no PostgreSQL server answers."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from ltrr.config import load_config
from ltrr.engine import Engine
from ltrr.log.postgres_log import PostgresEventLog
from ltrr.service.app import create_app
from ltrr.service.settings import ServiceParams

STRATEGIES = ["lexical", "fuzzy", "memory"]


def _recent(client: TestClient, request_id: str) -> dict[str, Any]:
    """The request's row of the recent list, once its impression is committed."""
    deadline = time.monotonic() + 5
    while True:
        rows = client.get("/v1/requests/recent", params={"n": 5}).json()
        found = [r for r in rows if r["request_id"] == request_id]
        if found or time.monotonic() > deadline:
            assert found, rows
            row: dict[str, Any] = found[0]
            return row
        time.sleep(0.02)


def test_search_then_feedback_shows_in_the_request_on_postgresql(
    data: Path, postgres_log_url: str
) -> None:
    config = load_config().replaced("log", url=postgres_log_url)
    app = create_app(
        lambda: Engine.open(data, config, strategies=STRATEGIES, writer=True), ServiceParams()
    )
    with TestClient(app) as client:
        body = client.post("/v1/search", json={"query": "summer rain", "k": 3}).json()
        request_id, shown = body["request_id"], [r["id"] for r in body["results"]]
        assert shown
        assert _recent(client, request_id)["n_actions"] == 0
        action = {"action_id": "a1", "request_id": request_id, "entity_id": shown[-1]}
        assert client.post("/v1/feedback", json=action).status_code == 200
        row = _recent(client, request_id)
        assert row["n_actions"] == 1
        assert row["query"] == "summer rain" and row["n_shown"] == len(shown)
        stats = client.get("/v1/stats").json()
        assert stats["log"]["n_actions"] == 1
    with PostgresEventLog(postgres_log_url, readonly=True) as log:
        assert [a.entity_id for a in log.actions_for(request_id)] == [shown[-1]]

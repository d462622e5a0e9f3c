"""Every route fuzzed from the service's own OpenAPI document (schemathesis).

Valid requests (the positive mode) and invalid ones (the negative mode) alike must never get a
5xx, and every response must match the document: a documented status, its content type and
its JSON schema (errors included). Positive cases are aimed at real request and entity ids some
of the time, so feedback reaches the log and the learner instead of stopping at "unknown".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, BaseSchema, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ltrr.config import load_config
from ltrr.engine import Engine
from ltrr.service.app import create_app
from ltrr.service.settings import ServiceParams

from .conftest import STRATEGIES

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
#: Examples per route and mode: 9 routes take input; a run sends over 1,000 distinct cases.
N_EXAMPLES = 160
N_REQUESTS = 8
ENTITY_IDS = [f"t{i:02d}" for i in range(1, 21)]


@pytest.fixture
def app_for(data: Path, tmp_path: Path) -> Callable[[ServiceParams], FastAPI]:
    """The conftest's app with a short ``[log] foreign_wait_ms``: fuzzed feedback names random
    request ids, and each waited the default 2 s for another worker's commit that never comes
    here (290 s a test, for nothing the checks look at)."""
    settings_file = tmp_path / "fuzz.toml"
    settings_file.write_text("[log]\nforeign_wait_ms = 20.0\n")

    def make(params: ServiceParams) -> FastAPI:
        return create_app(
            lambda: Engine.open(
                data, load_config(settings_file), strategies=STRATEGIES, writer=True
            ),
            params,
        )

    return make


@contextmanager
def _served(app: FastAPI) -> Iterator[BaseSchema]:
    """The app's schema; schemathesis runs the app's lifespan (the engine) until the end."""
    try:
        yield schemathesis.openapi.from_asgi("/openapi.json", app)
    finally:
        asgi.shutdown_lifespans()  # the engine is closed, its writer lock released


def _seed_requests(data: Path) -> list[str]:
    """Searches logged before the app opens: request ids that take feedback."""
    ids = [f"fuzz-r{i}" for i in range(N_REQUESTS)]
    queries = ["love story", "night drive", "summer rain", "blue monday"]
    with Engine.open(
        data, load_config(), strategies=["lexical", "fuzzy", "memory"], writer=True
    ) as e:
        for i, request_id in enumerate(ids):
            e.search(queries[i % len(queries)], request_id=request_id)
    return ids


def _aim(case: Case, request_id: str, entity_id: str) -> None:
    """Point a valid case at a logged request and a catalog entity."""
    body = case.body
    targets = body.get("actions", [body]) if isinstance(body, dict) else []
    for target in targets if isinstance(targets, list) else []:
        if isinstance(target, dict) and "request_id" in target:
            target["request_id"] = request_id
            target["entity_id"] = entity_id
    if case.path_parameters and "entity_id" in case.path_parameters:
        case.path_parameters["entity_id"] = entity_id


@dataclass
class Tally:
    """Distinct cases sent and the statuses they got, by operation."""

    sent: dict[str, set[str]] = field(default_factory=dict)
    statuses: dict[str, Counter[int]] = field(default_factory=dict)

    def add(self, case: Case, key: str | None, status: int) -> None:
        label = case.operation.label
        request = (case.path_parameters, case.query, case.body, key)
        self.sent.setdefault(label, set()).add(repr(request))
        self.statuses.setdefault(label, Counter())[status] += 1

    @property
    def n_cases(self) -> int:
        return sum(len(s) for s in self.sent.values())

    def report(self, name: str) -> str:
        lines = [f"{name}: {self.n_cases} distinct cases"]
        for label in sorted(self.sent):
            by_status = ", ".join(f"{k}: {n}" for k, n in sorted(self.statuses[label].items()))
            lines.append(f"  {label}: {len(self.sent[label])} ({by_status})")
        return "\n".join(lines)


def _fuzz_operation(
    operation: APIOperation,
    mode: GenerationMode,
    request_ids: list[str],
    keys: list[str | None],
    tally: Tally,
) -> None:
    @given(
        case=operation.as_strategy(mode),
        aim=st.booleans(),
        request_id=st.sampled_from(request_ids),
        entity_id=st.sampled_from(ENTITY_IDS),
        key=st.sampled_from(keys),
    )
    @settings(
        max_examples=N_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Case, aim: bool, request_id: str, entity_id: str, key: str | None) -> None:
        if aim and mode is GenerationMode.POSITIVE:
            _aim(case, request_id, entity_id)
        headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "x-api-key"}
        if key is not None:
            headers["X-API-Key"] = key
        case.headers = headers
        response = case.call()
        tally.add(case, key, response.status_code)
        case.validate_response(response, checks=CHECKS)

    try:
        run()
    except Unsatisfiable:  # no invalid input exists: a route without parameters
        assert mode is GenerationMode.NEGATIVE


def _fuzz(schema: BaseSchema, request_ids: list[str], keys: list[str | None]) -> Tally:
    """Every operation in both modes."""
    tally = Tally()
    for result in schema.get_all_operations():
        for mode in MODES:
            _fuzz_operation(result.ok(), mode, request_ids, keys, tally)
    return tally


def test_no_route_answers_5xx_or_off_schema_without_keys(
    data: Path, app_for: Callable[[ServiceParams], FastAPI]
) -> None:
    request_ids = _seed_requests(data)
    with _served(app_for(ServiceParams())) as schema:
        tally = _fuzz(schema, request_ids, keys=[None])
    print(tally.report("keyless"))
    assert set(tally.sent) == {
        "POST /v1/search",
        "POST /v1/feedback",
        "POST /v1/feedback/batch",
        "POST /v1/catalog/upsert",
        "POST /v1/catalog/delete",
        "GET /v1/catalog/entities/{entity_id}",
        "GET /v1/catalog/lookup",
        "GET /v1/requests/recent",
        "GET /v1/stats",
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
    }
    assert tally.n_cases >= 1000
    for label in ("POST /v1/search", "POST /v1/feedback", "POST /v1/feedback/batch"):
        assert tally.statuses[label][200] > 0, label  # valid input got through to the engine


def test_no_route_answers_5xx_or_off_schema_with_keys(
    data: Path, app_for: Callable[[ServiceParams], FastAPI], api_keys: dict[str, Any]
) -> None:
    """Keys configured: the admin and search keys, an unknown one and none at all are sent
    (valid keys twice as often, so most cases get past the key check)."""
    request_ids = _seed_requests(data)
    params = ServiceParams(search_keys=(api_keys["search"],), admin_keys=(api_keys["admin"],))
    keys = [api_keys[name] for name in ("admin", "admin", "search", "search", "wrong", "none")]
    with _served(app_for(params)) as schema:
        tally = _fuzz(schema, request_ids, keys)
    print(tally.report("with keys"))
    assert tally.n_cases >= 1000
    assert all(tally.statuses[label][401] > 0 for label in tally.sent if "/v1/" in label)

"""The fast path (``service.fast_path``) answers well-formed search and feedback requests without
FastAPI's dependency solving, and hands every other request to the app: each answer, error or
not, is the one the app gives with the fast path off."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import fastapi.routing
import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ltrr.service.settings import ServiceParams

from .conftest import KEYED, SEARCH_KEY

Exchange = tuple[str, str, bytes, dict[str, str]]


def _steps(request_id: str, entity_id: str, run: str) -> list[tuple[str, Exchange]]:
    """(name, (method, path, body, headers)) in order; the request and entity are real, action
    ids are ``run``'s own (the two apps share one log)."""
    key = {"X-API-Key": SEARCH_KEY, "Content-Type": "application/json"}

    def fb(**fields: Any) -> bytes:
        return orjson.dumps({"request_id": request_id, "entity_id": entity_id, **fields})

    return [
        ("stored", ("POST", "/v1/feedback", fb(action_id=run + "a1"), key)),
        ("duplicate", ("POST", "/v1/feedback", fb(action_id=run + "a1"), key)),
        ("charset", ("POST", "/v1/feedback", fb(action_id=run + "a2"),
                     {**key, "Content-Type": "application/json; charset=utf-8"})),
        ("no content type", ("POST", "/v1/feedback", fb(action_id=run + "a3"),
                             {"X-API-Key": SEARCH_KEY})),
        ("unknown request", ("POST", "/v1/feedback",
                             orjson.dumps({"action_id": run + "a4", "request_id": "nope",
                                           "entity_id": entity_id}), key)),
        ("unknown entity", ("POST", "/v1/feedback", fb(action_id=run + "a5", entity_id="zz"), key)),
        ("bad kind", ("POST", "/v1/feedback", fb(action_id=run + "a6", kind=5), key)),
        ("unknown kind", ("POST", "/v1/feedback", fb(action_id=run + "a7", kind="teleport"), key)),
        ("extra field", ("POST", "/v1/feedback", fb(action_id=run + "a8", colour="red"), key)),
        ("negative value", ("POST", "/v1/feedback", fb(action_id=run + "a9", value=-1), key)),
        ("not json", ("POST", "/v1/feedback", b'{"action_id": ', key)),
        ("empty", ("POST", "/v1/feedback", b"", key)),
        ("text body", ("POST", "/v1/feedback", fb(action_id=run + "a10"),
                       {**key, "Content-Type": "text/plain"})),
        ("no key", ("POST", "/v1/feedback", fb(action_id=run + "a11"),
                    {"Content-Type": "application/json"})),
        ("wrong key", ("POST", "/v1/feedback", fb(action_id=run + "a12"),
                       {**key, "X-API-Key": "wrong-key-0123456789"})),
        ("batch with a bad action", ("POST", "/v1/feedback/batch", orjson.dumps({"actions": [
            {"action_id": run + "b1", "request_id": request_id, "entity_id": entity_id},
            {"action_id": run + "b2", "request_id": request_id, "entity_id": "zz"}]}), key)),
        ("batch", ("POST", "/v1/feedback/batch", orjson.dumps({"actions": [
            {"action_id": run + "b1", "request_id": request_id, "entity_id": entity_id},
            {"action_id": run + "a1", "request_id": request_id, "entity_id": entity_id}]}), key)),
        ("search", ("POST", "/v1/search", orjson.dumps({"query": "love story", "k": 3}), key)),
        ("search offset", ("POST", "/v1/search",
                           orjson.dumps({"query": "love", "offset": 5000}), key)),
        ("search strategy", ("POST", "/v1/search",
                             orjson.dumps({"query": "love", "strategies": ["telepathy"]}), key)),
        ("search k", ("POST", "/v1/search", orjson.dumps({"query": "love", "k": 0}), key)),
    ]  # fmt: skip


def _comparable(status: int, body: dict[str, Any], run: str, request_id: str) -> tuple[int, Any]:
    """What must not depend on the path taken (a search's ids and timings may, and the action
    ids and the first search's request id are the run's own)."""
    if "error" in body or "status" in body or "n_stored" in body:
        return status, orjson.loads(
            orjson.dumps(body).decode().replace(f'"{run}', '"').replace(request_id, "R")
        )
    return status, sorted(body)


def _run(app: FastAPI, solved: list[str], run: str) -> dict[str, tuple[int, Any]]:
    out = {}
    with TestClient(app, raise_server_exceptions=False) as client:
        first = client.post(
            "/v1/search", json={"query": "love story", "k": 3}, headers={"X-API-Key": SEARCH_KEY}
        ).json()
        request_id, entity_id = first["request_id"], first["results"][0]["id"]
        for name, (method, path, body, headers) in _steps(request_id, entity_id, run):
            before = len(solved)
            response = client.request(method, path, content=body, headers=headers)
            out[name] = _comparable(response.status_code, response.json(), run, request_id)
            out[name + " solved dependencies"] = len(solved) > before  # type: ignore[assignment]
        counted = client.get("/metrics").text
        for route, status in (("/v1/feedback", 200), ("/v1/feedback", 422), ("/v1/search", 200)):
            series = f'ltrr_http_requests_total{{route="{route}",status="{status}"}}'
            out[f"metrics {route} {status}"] = next(
                (line.split()[-1] for line in counted.splitlines() if line.startswith(series)), ""
            )  # type: ignore[assignment]
    return out


def test_every_answer_matches_the_app_without_the_fast_path(
    app_for: Callable[[ServiceParams], FastAPI],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
) -> None:
    solved: list[str] = []
    solve = fastapi.routing.solve_dependencies

    async def counting(*args: Any, **kwargs: Any) -> Any:
        solved.append("x")
        return await solve(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counting)
    slow = _run(app_for(replace(KEYED, fast_path=False)), solved, "slow-")
    fast = _run(app_for(KEYED), solved, "fast-")
    answers = [k for k in slow if not k.endswith("solved dependencies")]
    steps = [k for k in answers if not k.startswith("metrics ")]
    assert slow["metrics /v1/feedback 200"] not in ("", "0.0")  # the same series, both ways
    assert {k: fast[k] for k in answers} == {k: slow[k] for k in answers}
    # without the fast path every request solves its dependencies (but a body that is not
    # JSON, refused before)
    assert [k for k in steps if not slow[k + " solved dependencies"]] == ["not json"]
    # with it, exactly the well-formed ones (keyed JSON that validates) do not
    passed_on = {k for k in steps if fast[k + " solved dependencies"]} | {"not json"}
    assert passed_on == {
        "bad kind", "extra field", "negative value", "not json", "empty", "text body",
        "no key", "wrong key", "search k", "no content type", "search offset",
    }  # fmt: skip
    # and the answers are the ones expected (not merely equal)
    assert fast["stored"] == (200, {"action_id": "a1", "status": "stored"})
    assert fast["duplicate"] == (200, {"action_id": "a1", "status": "duplicate"})
    assert fast["unknown request"][1]["error"]["field"] == "request_id"
    assert fast["unknown entity"][1]["error"]["field"] == "entity_id"
    assert fast["batch with a bad action"][1]["error"]["field"] == "actions[1].entity_id"
    assert fast["batch"][1]["n_stored"] == 1 and fast["batch"][1]["n_duplicates"] == 1
    assert fast["search offset"][1]["error"]["field"] == "offset"
    assert fast["search strategy"][1]["error"]["field"] == "strategies"
    assert fast["no key"][0] == 401 and fast["text body"][0] == 422

"""A table of bad inputs per route: each is refused with the expected status and an error that
names the offending field (``{"error": {"status", "field", "message"}}``), and nothing is
written. A 5xx is never the answer to bad input."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ltrr.service.settings import ServiceParams

#: Stands for the request id of a logged search (filled in by the test).
RID = "<request-id>"
MAX_BODY = ServiceParams().max_body_bytes


def _action(i: int = 0, **changes: Any) -> dict[str, Any]:
    return {"action_id": f"a{i}", "request_id": RID, "entity_id": "t01", **changes}


def _record(i: int = 0, **changes: Any) -> dict[str, Any]:
    return {"id": f"new-{i}", "type": "track", "title": f"New {i}", **changes}


def _nested(depth: int) -> bytes:
    return b'{"query": "x", "context": ' + b"[" * depth + b"]" * depth + b"}"


# (route, body: a JSON value or raw bytes, status, error.field)
SEARCH = "/v1/search"
FEEDBACK = "/v1/feedback"
BATCH = "/v1/feedback/batch"
UPSERT = "/v1/catalog/upsert"
DELETE = "/v1/catalog/delete"
CASES: dict[str, tuple[str, Any, int, str | None]] = {
    # search
    "search: empty body": (SEARCH, b"", 422, "body"),
    "search: not JSON": (SEARCH, b'{"query": ', 422, "body"),
    "search: a JSON array": (SEARCH, [], 422, "body"),
    "search: JSON null": (SEARCH, None, 422, "body"),
    "search: no query": (SEARCH, {}, 422, "query"),
    "search: query a number": (SEARCH, {"query": 5}, 422, "query"),
    "search: empty query": (SEARCH, {"query": ""}, 422, "query"),
    "search: query too long": (SEARCH, {"query": "x" * 513}, 422, "query"),
    "search: unknown field": (SEARCH, {"query": "x", "colour": "red"}, 422, "colour"),
    "search: invalid UTF-8": (SEARCH, b'{"query": "\xff\xfe"}', 400, "body"),
    "search: lone surrogate": (SEARCH, {"query": "love \ud800"}, 422, "query"),
    "search: NUL": (SEARCH, {"query": "love\x00"}, 422, "query"),
    "search: surrogate in a filter": (
        SEARCH, {"query": "x", "filters": {"type": ["\udfff"]}}, 422, "filters.type[0]",
    ),
    "search: k a string": (SEARCH, {"query": "x", "k": "ten"}, 422, "k"),
    "search: k zero": (SEARCH, {"query": "x", "k": 0}, 422, "k"),
    "search: huge k": (SEARCH, {"query": "x", "k": 10**30}, 422, "k"),
    "search: k infinite": (SEARCH, b'{"query": "x", "k": 1e400}', 422, "k"),
    "search: negative offset": (SEARCH, {"query": "x", "offset": -1}, 422, "offset"),
    "search: offset too deep": (SEARCH, {"query": "x", "offset": 1001}, 422, "offset"),
    "search: unknown strategy": (SEARCH, {"query": "x", "strategies": ["x"]}, 422, "strategies"),
    "search: no strategies": (SEARCH, {"query": "x", "strategies": []}, 422, "strategies"),
    "search: depth zero": (SEARCH, {"query": "x", "depth": 0}, 422, "depth"),
    "search: hour 24": (SEARCH, {"query": "x", "context": {"hour": 24}}, 422, "context.hour"),
    "search: taste weight > 1": (
        SEARCH, {"query": "x", "context": {"taste": {"jazz": 2.0}}}, 422, "context.taste.jazz",
    ),
    "search: 51 filter values": (
        SEARCH, {"query": "x", "filters": {"type": ["track"] * 51}}, 422, "filters.type",
    ),
    "search: nested 5,000 deep": (SEARCH, _nested(5000), 400, "body"),
    "search: oversize body": (SEARCH, {"query": "x" * (MAX_BODY + 1)}, 413, "body"),
    # feedback
    "feedback: empty body": (FEEDBACK, b"", 422, "body"),
    "feedback: no action id": (FEEDBACK, {"request_id": RID, "entity_id": "t01"}, 422, "action_id"),
    "feedback: value a string": (FEEDBACK, _action(value="a lot"), 422, "value"),
    "feedback: negative value": (FEEDBACK, _action(value=-1.0), 422, "value"),
    "feedback: NaN time": (FEEDBACK, b'{"action_id": "a", "request_id": "r", '
                           b'"entity_id": "t01", "event_time_s": NaN}', 422, "event_time_s"),
    "feedback: unknown field": (FEEDBACK, _action(colour="red"), 422, "colour"),
    "feedback: bad action kind": (FEEDBACK, _action(kind="teleport"), 422, "kind"),
    "feedback: dwell without value": (FEEDBACK, _action(kind="dwell"), 422, "value"),
    "feedback: unknown request id": (FEEDBACK, _action(request_id="nope"), 422, "request_id"),
    "feedback: unknown entity": (FEEDBACK, _action(entity_id="t99"), 422, "entity_id"),
    "feedback: lone surrogate": (FEEDBACK, _action(entity_id="t\ud800"), 422, "entity_id"),
    "feedback: invalid UTF-8": (FEEDBACK, b'{"action_id": "\xc3\x28"}', 400, "body"),
    "feedback: oversize body": (FEEDBACK, _action(user_id="u" * MAX_BODY), 413, "body"),
    # feedback batch
    "batch: empty body": (BATCH, b"", 422, "body"),
    "batch: no actions": (BATCH, {"actions": []}, 422, "actions"),
    "batch: actions an object": (BATCH, {"actions": _action()}, 422, "actions"),
    "batch: too many actions": (
        BATCH, {"actions": [_action(i) for i in range(1001)]}, 422, "actions",
    ),
    "batch: unknown field in one": (
        BATCH, {"actions": [_action(0, colour="red"), _action(1)]}, 422, "actions[0].colour",
    ),
    "batch: bad kind in one": (
        BATCH, {"actions": [_action(0), _action(1), _action(2, kind="x")]}, 422, "actions[2].kind",
    ),
    "batch: unknown request in one": (
        BATCH, {"actions": [_action(0), _action(1, request_id="nope")]}, 422,
        "actions[1].request_id",
    ),
    "batch: unknown entity in one": (
        BATCH, {"actions": [_action(0, entity_id="t99"), _action(1)]}, 422,
        "actions[0].entity_id",
    ),
    # catalog upsert
    "upsert: empty body": (UPSERT, b"", 422, "body"),
    "upsert: no records": (UPSERT, {"records": []}, 422, "records"),
    "upsert: a record not an object": (UPSERT, {"records": ["t1"]}, 422, "records[0]"),
    "upsert: a record with no id": (
        UPSERT, {"records": [_record(0), {"title": "x"}]}, 422, "records[1].id",
    ),
    "upsert: popularity a string": (
        UPSERT, {"records": [_record(popularity="high")]}, 422, "records[0].popularity",
    ),
    "upsert: unknown record field": (
        UPSERT, {"records": [_record(colour="red")]}, 422, "records[0].colour",
    ),
    "upsert: surrogate in a title": (
        UPSERT, {"records": [_record(title="a\ud800")]}, 422, "records[0].title",
    ),
    "upsert: surrogate deep in fields": (
        UPSERT, {"records": [_record(0), _record(1, fields={"a": "\udc80"})]}, 422,
        "records[1].fields",
    ),
    "upsert: NUL in an id": (UPSERT, {"records": [_record(id="x\x00y")]}, 422, "records[0].id"),
    "upsert: duplicate id": (
        UPSERT, {"records": [_record(0), _record(0)]}, 422, "records[1].id",
    ),
    "upsert: too many records": (
        UPSERT, {"records": [_record(i) for i in range(1001)]}, 422, "records",
    ),
    "upsert: unknown field": (UPSERT, {"records": [_record()], "mode": "x"}, 422, "mode"),
    # catalog delete
    "delete: empty body": (DELETE, b"", 422, "body"),
    "delete: no ids": (DELETE, {"ids": []}, 422, "ids"),
    "delete: an id a number": (DELETE, {"ids": [5]}, 422, "ids[0]"),
    "delete: an empty id": (DELETE, {"ids": ["t01", ""]}, 422, "ids[1]"),
    "delete: too many ids": (DELETE, {"ids": [f"x{i}" for i in range(1001)]}, 422, "ids"),
}  # fmt: skip


def error_of(response: Any) -> dict[str, Any]:
    """The ``error`` object of a response, after checking the shape every error has."""
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert error["status"] == response.status_code
    assert isinstance(error["message"], str) and error["message"]
    return error


def _encode(body: Any, request_id: str) -> bytes:
    if isinstance(body, bytes):
        return body
    # json.dumps writes a lone surrogate as the escape \ud800 (valid JSON, not valid UTF-8)
    return json.dumps(body).replace(RID, request_id).encode()


@pytest.fixture
def served(client: TestClient) -> tuple[TestClient, str]:
    """The keyless client and the request id of a logged search."""
    response = client.post("/v1/search", json={"query": "love story"})
    assert response.status_code == 200
    return client, response.json()["request_id"]


def _n_actions(client: TestClient) -> int:
    n: int = client.get("/v1/stats").json()["log"]["n_actions"]
    return n


@pytest.mark.parametrize("name", list(CASES))
def test_a_bad_input_is_refused_naming_its_field(served: tuple[TestClient, str], name: str) -> None:
    client, request_id = served
    route, body, status, field = CASES[name]
    version = client.get("/readyz").json()["catalog_version"]
    n_actions = _n_actions(client)
    response = client.post(
        route, content=_encode(body, request_id), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == status, response.text
    assert error_of(response)["field"] == field
    assert client.get("/readyz").json()["catalog_version"] == version  # nothing written
    assert _n_actions(client) == n_actions


def test_a_chunked_body_past_the_limit_is_refused_with_413(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is checked as it arrives
        yield b'{"query": "'
        for _ in range(MAX_BODY // 65536 + 1):
            yield b"x" * 65536
        yield b'"}'

    response = client.post("/v1/search", content=chunks())
    assert response.status_code == 413
    assert error_of(response)["field"] == "body"


def test_a_chunked_body_within_the_limit_is_served(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"query": '
        yield b'"love story"}'

    response = client.post(
        "/v1/search", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200, response.text


def test_a_missing_entity_is_404(client: TestClient) -> None:
    response = client.get("/v1/catalog/entities/t99")
    assert response.status_code == 404
    assert error_of(response)["field"] == "entity_id"
    assert client.get("/v1/catalog/entities/t01").json()["title"] == "Love Story 1"


@pytest.mark.parametrize(
    ("path", "status", "field"),
    [
        ("/v1/catalog/entities/" + "x" * 513, 422, "entity_id"),
        ("/v1/catalog/entities/%ED%A0%80", 404, "entity_id"),  # a surrogate's UTF-8 bytes
        ("/v1/stats?detail=maybe", 422, "detail"),
        ("/v1/nothing-here", 404, None),
    ],
)
def test_bad_paths_and_queries(client: TestClient, path: str, status: int, field: str) -> None:
    response = client.get(path)
    assert response.status_code == status, response.text
    assert error_of(response)["field"] == field


def test_a_wrong_method_is_405(client: TestClient) -> None:
    response = client.get("/v1/search")
    assert response.status_code == 405
    assert error_of(response)["field"] is None


@pytest.fixture
def small_limits(app_for: Callable[[ServiceParams], FastAPI]) -> Iterator[TestClient]:
    params = ServiceParams(max_body_bytes=4096, max_batch=3, max_offset=20)
    with TestClient(app_for(params), raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        (SEARCH, {"query": "x", "offset": 21}, "offset"),
        (BATCH, {"actions": [_action(i) for i in range(4)]}, "actions"),
        (UPSERT, {"records": [_record(i) for i in range(4)]}, "records"),
        (DELETE, {"ids": ["t01", "t02", "t03", "t04"]}, "ids"),
    ],
)
def test_the_configured_limits_hold(
    small_limits: TestClient, route: str, body: Any, field: str
) -> None:
    request_id = small_limits.post("/v1/search", json={"query": "love"}).json()["request_id"]
    response = small_limits.post(
        route, content=_encode(body, request_id), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert error_of(response)["field"] == field
    assert small_limits.post(SEARCH, json={"query": "x" * 5000}).status_code == 413
    assert small_limits.get("/v1/catalog/entities/t04").status_code == 200  # not deleted


def test_a_bad_batch_stores_none_of_its_actions(served: tuple[TestClient, str]) -> None:
    client, request_id = served
    good = [_action(i, request_id=request_id) for i in range(3)]
    bad = client.post(BATCH, json={"actions": [*good, {**good[0], "action_id": "z", "kind": "x"}]})
    assert bad.status_code == 422
    assert _n_actions(client) == 0
    ok = client.post(BATCH, json={"actions": good})
    assert ok.status_code == 200 and ok.json()["n_stored"] == 3
    assert _n_actions(client) == 3

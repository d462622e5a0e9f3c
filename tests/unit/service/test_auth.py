"""API keys and their scopes on every route, and the refusal to serve an open service beyond
loopback.

With keys configured: the search routes answer 401 without a key or with an unknown one, and
serve a search key (and an admin key, the wider scope); the admin routes also answer 403 to a
search key. The operational routes and the API documents stay public.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ltrr.config import load_config
from ltrr.errors import ConfigError
from ltrr.service.settings import ServiceParams, check_binding, service_params

RID = "<request-id>"

# (method, path, JSON body); RID is replaced by the id of a logged search
SEARCH_SCOPE = {
    "search": ("POST", "/v1/search", {"query": "love story"}),
    "feedback": (
        "POST", "/v1/feedback", {"action_id": "a1", "request_id": RID, "entity_id": "t01"},
    ),
    "feedback batch": (
        "POST", "/v1/feedback/batch",
        {"actions": [{"action_id": "a2", "request_id": RID, "entity_id": "t02"}]},
    ),
    "catalog get": ("GET", "/v1/catalog/entities/t01", None),
    "stats": ("GET", "/v1/stats", None),
}  # fmt: skip
ADMIN_SCOPE = {
    "catalog upsert": (
        "POST", "/v1/catalog/upsert", {"records": [{"id": "n1", "type": "track", "title": "N"}]},
    ),
    "catalog delete": ("POST", "/v1/catalog/delete", {"ids": ["t20"]}),
    "stats detail": ("GET", "/v1/stats?detail=true", None),
}  # fmt: skip
PUBLIC = ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"]


def _call(client: TestClient, route: tuple[str, str, Any], key: str | None, rid: str) -> Any:
    method, path, body = route
    headers = {} if key is None else {"X-API-Key": key}
    content = None if body is None else json.dumps(body).replace(RID, rid).encode()
    if content is not None:
        headers["Content-Type"] = "application/json"
    return client.request(method, path, content=content, headers=headers)


@pytest.fixture
def rid(keyed_client: TestClient, api_keys: dict[str, str | None]) -> str:
    """The request id of a search logged through the keyed app."""
    response = keyed_client.post(
        "/v1/search", json={"query": "love story"}, headers={"X-API-Key": api_keys["search"]}
    )
    assert response.status_code == 200
    request_id: str = response.json()["request_id"]
    return request_id


def _assert_refused(response: Any, status: int) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error == {"status": status, "field": "X-API-Key", "message": error["message"]}
    if status == 401:
        assert response.headers["WWW-Authenticate"] == "ApiKey"


@pytest.mark.parametrize("route", [*SEARCH_SCOPE, *ADMIN_SCOPE])
@pytest.mark.parametrize("key", ["none", "wrong"])
def test_every_route_needs_a_valid_key(
    keyed_client: TestClient, api_keys: dict[str, str | None], rid: str, route: str, key: str
) -> None:
    spec = SEARCH_SCOPE.get(route) or ADMIN_SCOPE[route]
    _assert_refused(_call(keyed_client, spec, api_keys[key], rid), 401)


@pytest.mark.parametrize("route", list(SEARCH_SCOPE))
@pytest.mark.parametrize("key", ["search", "admin"])
def test_a_search_key_serves_the_search_routes(
    keyed_client: TestClient, api_keys: dict[str, str | None], rid: str, route: str, key: str
) -> None:
    response = _call(keyed_client, SEARCH_SCOPE[route], api_keys[key], rid)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("route", list(ADMIN_SCOPE))
def test_the_admin_routes_refuse_a_search_key_and_serve_an_admin_key(
    keyed_client: TestClient, api_keys: dict[str, str | None], rid: str, route: str
) -> None:
    _assert_refused(_call(keyed_client, ADMIN_SCOPE[route], api_keys["search"], rid), 403)
    response = _call(keyed_client, ADMIN_SCOPE[route], api_keys["admin"], rid)
    assert response.status_code == 200, response.text


def test_the_admin_routes_write_only_with_an_admin_key(
    keyed_client: TestClient, api_keys: dict[str, str | None], rid: str
) -> None:
    for key in ("none", "wrong", "search"):
        _call(keyed_client, ADMIN_SCOPE["catalog delete"], api_keys[key], rid)
    admin = {"X-API-Key": api_keys["admin"]}
    assert keyed_client.get("/v1/catalog/entities/t20", headers=admin).status_code == 200
    _call(keyed_client, ADMIN_SCOPE["catalog delete"], api_keys["admin"], rid)
    assert keyed_client.get("/v1/catalog/entities/t20", headers=admin).status_code == 404


def test_stats_detail_is_for_admins_only(
    keyed_client: TestClient, api_keys: dict[str, str | None]
) -> None:
    search = {"X-API-Key": api_keys["search"]}
    assert "over_time" not in keyed_client.get("/v1/stats", headers=search).json()
    admin = {"X-API-Key": api_keys["admin"]}
    assert "over_time" in keyed_client.get("/v1/stats?detail=true", headers=admin).json()


@pytest.mark.parametrize("path", PUBLIC)
def test_operations_and_documents_stay_public(keyed_client: TestClient, path: str) -> None:
    assert keyed_client.get(path).status_code == 200


def test_a_key_is_checked_exactly(
    keyed_client: TestClient, api_keys: dict[str, str | None]
) -> None:
    key = api_keys["search"]
    assert key is not None
    for near in (key + " ", key[:-1], key.upper(), " " + key):
        response = keyed_client.get("/v1/stats", headers={"X-API-Key": near})
        assert response.status_code == 401, near
    latin1 = "é".encode("latin-1") * 20  # a header that is not ASCII: refused, never a 5xx
    assert keyed_client.get("/v1/stats", headers={"X-API-Key": latin1}).status_code == 401


def test_without_keys_every_route_is_open(client: TestClient) -> None:
    rid = client.post("/v1/search", json={"query": "love story"}).json()["request_id"]
    for route in [*SEARCH_SCOPE.values(), *ADMIN_SCOPE.values()]:
        response = _call(client, route, None, rid)
        assert response.status_code == 200, (route, response.text)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "example.org"])
def test_an_open_service_refuses_to_listen_beyond_loopback(host: str) -> None:
    with pytest.raises(ConfigError, match="no API key"):
        check_binding(ServiceParams(), host)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_an_open_service_may_listen_on_loopback(host: str) -> None:
    check_binding(ServiceParams(), host)


def test_a_service_with_keys_may_listen_anywhere() -> None:
    check_binding(ServiceParams(search_keys=("s" * 16,)), "0.0.0.0")
    check_binding(ServiceParams(admin_keys=("a" * 16,)), "0.0.0.0")


@pytest.mark.parametrize("field", ["search_keys", "admin_keys"])
@pytest.mark.parametrize("key", ["", "short", "x" * 15])
def test_short_keys_are_refused(field: str, key: str) -> None:
    with pytest.raises(ConfigError, match="at least 16 characters"):
        ServiceParams(**{field: (key,)})
    ServiceParams(**{field: ("x" * 16,)})


def test_keys_also_come_from_the_environment() -> None:
    environ = {"LTRR_SEARCH_KEYS": " " + "s" * 17 + " , ,", "LTRR_ADMIN_KEYS": "a" * 16}
    params = service_params(None, environ)
    assert params.search_keys == ("s" * 17,)
    assert params.admin_keys == ("a" * 16,)
    assert not params.open
    with pytest.raises(ConfigError):
        service_params(None, {"LTRR_ADMIN_KEYS": "tooshort"})


def test_environment_keys_keep_every_other_setting() -> None:
    config = load_config().replaced("service", opentelemetry=True, follow_interval_ms=20.0)
    params = service_params(config, {"LTRR_SEARCH_KEYS": "s" * 16})
    assert params.opentelemetry and params.follow_interval_ms == 20.0
    assert params.search_keys == ("s" * 16,)

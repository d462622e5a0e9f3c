"""The web page and dashboard as the service serves them: HTML with nothing loaded from
elsewhere, the static files, and the API routes only they use (lookup, recent requests,
latency percentiles)."""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ltrr.service.metrics import bucket_quantile

_LINK = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


@pytest.mark.parametrize("path", ["/", "/dashboard"])
def test_pages_are_html_that_loads_only_its_own_files(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    links = _LINK.findall(response.text)
    assert links, "the page links its script and style sheet"
    assert all(link.startswith("/") and not link.startswith("//") for link in links), links
    assert "http://" not in response.text and "https://" not in response.text
    for link in links:
        if link.startswith("/web/"):
            assert client.get(link).status_code == 200, link


@pytest.mark.parametrize(
    ("name", "kind"),
    [("common.js", "javascript"), ("search.js", "javascript"), ("style.css", "text/css")],
)
def test_static_files_are_served(client: TestClient, name: str, kind: str) -> None:
    response = client.get(f"/web/{name}")
    assert response.status_code == 200
    assert kind in response.headers["content-type"]
    assert "https://" not in response.text  # nothing fetched from elsewhere


def _n_impressions(data: Path) -> int:
    with sqlite3.connect(data / "ltrr.sqlite") as conn:
        return int(conn.execute("SELECT count(*) FROM impressions").fetchone()[0])


def test_lookup_returns_entities_and_logs_nothing(client: TestClient, data: Path) -> None:
    before = client.get("/v1/stats").json()["log"]["n_impressions"]
    response = client.get("/v1/catalog/lookup", params={"q": "night drive", "k": 5})
    assert response.status_code == 200
    found = response.json()
    assert 1 <= len(found) <= 5
    assert found[0]["title"].startswith("Night Drive")
    assert set(found[0]) == {"id", "type", "title"}
    assert len({e["id"] for e in found}) == len(found)
    fuzzy = client.get("/v1/catalog/lookup", params={"q": "nigth drvie"}).json()
    assert any(e["title"].startswith("Night Drive") for e in fuzzy)
    time.sleep(0.2)  # anything queued for the log would be committed by now
    assert client.get("/v1/stats").json()["log"]["n_impressions"] == before == 0
    assert _n_impressions(data) == 0


@pytest.mark.parametrize("params", [{}, {"q": ""}, {"q": "x" * 513}, {"q": "a", "k": 0}])
def test_lookup_refuses_bad_queries(client: TestClient, params: dict[str, object]) -> None:
    response = client.get("/v1/catalog/lookup", params=params)
    assert response.status_code == 422
    assert response.json()["error"]["field"] in ("q", "k")


def test_recent_requests_are_listed_newest_first(client: TestClient) -> None:
    queries = ["love story", "night drive", "blue monday"]
    ids = [
        client.post("/v1/search", json={"query": q, "k": 3}).json()["request_id"] for q in queries
    ]
    deadline = time.monotonic() + 5
    recent = client.get("/v1/requests/recent", params={"n": 2}).json()
    while not (recent and recent[0]["request_id"] == ids[-1]) and time.monotonic() < deadline:
        time.sleep(0.02)  # the last search may wait for the next group commit
        recent = client.get("/v1/requests/recent", params={"n": 2}).json()
    assert [r["request_id"] for r in recent] == ids[::-1][:2]
    assert [r["query"] for r in recent] == ["blue monday", "night drive"]
    first = recent[0]
    assert set(first) == {
        "request_id", "query", "depths", "probability", "policy", "n_shown", "n_actions",
        "event_time_s",
    }  # fmt: skip
    assert first["n_shown"] == 3 and first["n_actions"] == 0
    assert 0 < first["probability"] <= 1
    assert any(d > 0 for d in first["depths"].values())


def test_stats_report_latency_percentiles_per_route(client: TestClient) -> None:
    for _ in range(3):
        client.post("/v1/search", json={"query": "summer rain"})
    latency = client.get("/v1/stats").json()["latency_ms"]
    search = latency["/v1/search"]
    assert search["n"] == 3
    assert 0 < search["p50"] <= search["p99"] <= 4000


def test_bucket_quantile_matches_hand_computed_values() -> None:
    inf = float("inf")
    # 10 requests: 4 under 1 ms, 4 more under 2 ms, 2 over 4 ms (in +Inf).
    buckets = [(0.001, 4.0), (0.002, 8.0), (0.004, 8.0), (inf, 10.0)]
    assert bucket_quantile(0.5, buckets) == pytest.approx(0.001 + 0.001 * (5 - 4) / 4)
    assert bucket_quantile(0.2, buckets) == pytest.approx(0.001 * 2 / 4)
    assert bucket_quantile(0.99, buckets) == 0.004  # in +Inf: the last finite bound


def test_stats_name_the_learned_ranker_and_its_feature_set(client: TestClient) -> None:
    client.post("/v1/search", json={"query": "summer rain"})
    versions = client.get("/v1/stats").json()["model_versions"]
    learned = versions["learned_ranker"]
    assert learned["model"] is None and versions["ranker"].startswith("fusion@")  # no model yet
    assert len(learned["features"]) == 16 and learned["n_features"] > 20

"""/metrics counts the repeated-query caches' hits and misses, read from the engine at scrape."""

from __future__ import annotations

from fastapi.testclient import TestClient


def _lookups(client: TestClient) -> dict[tuple[str, str], float]:
    out = {}
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("ltrr_cache_lookups_total{"):
            labels, value = line[len("ltrr_cache_lookups_total{") :].split("} ")
            parts = dict(p.split("=") for p in labels.split(","))
            out[(parts["cache"].strip('"'), parts["result"].strip('"'))] = float(value)
    return out


def test_a_repeated_search_is_counted_as_cache_hits(client: TestClient) -> None:
    body = {"query": "love story", "k": 3, "strategies": ["lexical"], "depth": 10}
    assert client.post("/v1/search", json=body).status_code == 200
    first = _lookups(client)
    assert first[("lists", "hit")] == 0 and first[("lists", "miss")] == 1
    assert first[("feature_rows", "miss")] > 0
    assert client.post("/v1/search", json=body).status_code == 200
    again = _lookups(client)
    assert again[("lists", "hit")] == 1 and again[("lists", "miss")] == 1
    assert again[("feature_rows", "hit")] == first[("feature_rows", "miss")]  # every row again
    assert again[("feature_rows", "miss")] == first[("feature_rows", "miss")]

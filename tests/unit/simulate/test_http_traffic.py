"""``ltrr traffic``: simulated users through the real HTTP app, in process (``TestClient``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from ltrr.cli.app import app as cli_app
from ltrr.cli.traffic import benchmark_from_data
from ltrr.config import load_config
from ltrr.engine import Engine
from ltrr.evaluate.music import corpus_record
from ltrr.service.app import create_app
from ltrr.service.settings import ServiceParams
from ltrr.simulate.http_traffic import Reply, http_poster, read_audience, send_traffic
from ltrr.simulate.params import SimulateParams
from ltrr.storage.datadir import DataDir
from ltrr.types import Entity, EntityId

STRATEGIES = ["lexical", "fuzzy", "memory"]
SEARCH_KEY = "search-key-0123456789"
_TITLES = ["Love Story", "Night Drive", "Summer Rain", "Blue Monday", "Hidden Gem"]
_ARTISTS = ["Taylor Swift", "Chromatics", "Carl Thomas", "New Order", "Nobody Knows"]
CATALOG = [
    Entity(
        id=EntityId(f"t{i + 1:02d}"),
        type="track",
        title=_TITLES[i % 5] if i < 5 else f"{_TITLES[i % 5]} {i // 5 + 1}",
        fields={"artist": _ARTISTS[(i + i // 5) % 5]},
        attributes={"genre": {"pop" if i % 2 else "rock": 1.0}},
        popularity=float(i % 7),
    )
    for i in range(20)
]
#: query id -> (text, class, relevant ids).
QUERIES = {
    "exact-0": ("love story", "exact", ["t01"]),
    "exact-1": ("night drive", "exact", ["t02"]),
    "misspelled-0": ("sumer rain", "misspelled", ["t03"]),
    "artist-0": ("new order", "artist", ["t04"]),
    "partial-0": ("hidden", "partial", ["t05", "t10", "t15", "t20"]),
}
PARAMS = SimulateParams(n_users=20, found_elsewhere=0.5)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    with DataDir(path, load_config(data_dir=path), writer=True) as dd, dd.catalog.change() as c:
        c.upsert(CATALOG)
    return path


@pytest.fixture
def benchmark(tmp_path: Path) -> Path:
    out = tmp_path / "bench"
    (out / "qrels").mkdir(parents=True)
    lines = [orjson.dumps(corpus_record(e)) for e in CATALOG]
    (out / "corpus.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    queries = [
        orjson.dumps({"_id": q, "text": t, "metadata": {"class": c}})
        for q, (t, c, _) in QUERIES.items()
    ]
    (out / "queries.jsonl").write_bytes(b"\n".join(queries) + b"\n")
    rows = [f"{q}\t{e}\t1" for q, (_, _, ids) in QUERIES.items() for e in ids]
    (out / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(rows) + "\n")
    return out


def _client(data: Path, params: ServiceParams) -> TestClient:
    app = create_app(
        lambda: Engine.open(data, load_config(), strategies=STRATEGIES, writer=True), params
    )
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def client(data: Path) -> Iterator[TestClient]:
    with _client(data, ServiceParams()) as c:
        yield c


def _recording(client: TestClient, sent: list[tuple[str, dict[str, Any]]]) -> Any:
    post = http_poster(client)

    def record(path: str, payload: dict[str, Any]) -> Reply:
        sent.append((path, payload))
        return post(path, payload)

    return record


def test_searches_and_clicks_reach_the_service(client: TestClient, benchmark: Path) -> None:
    audience = read_audience(benchmark, "navigational")
    sent: list[tuple[str, dict[str, Any]]] = []
    tally = send_traffic(_recording(client, sent), audience, 40, PARAMS, seed=3)
    summary = tally.summary()
    searches = [p for path, p in sent if path == "/v1/search"]
    actions = [a for path, p in sent if path == "/v1/feedback/batch" for a in p["actions"]]
    assert len(searches) == summary["n_searches_sent"] == summary["n_searches_answered"] == 40
    assert summary["http_errors"] == {} and summary["stopped_early"] is None
    assert summary["n_clicks"] == sum(a["kind"] == "click" for a in actions) > 0
    assert summary["n_found_elsewhere"] == sum(a["kind"] == "found" for a in actions)
    assert summary["n_feedback_stored"] == len(actions)
    assert all("event_time_s" not in a for a in actions)  # the server stamps them
    assert {s["k"] for s in searches} == {10}
    assert set(searches[0]["context"]) == {
        "user_id", "session_id", "segment", "locale", "device", "hour", "taste"
    }  # fmt: skip
    assert summary["first_quarter"]["n_searches"] == summary["last_quarter"]["n_searches"] == 10
    classes = set(summary["first_quarter"]["plan_mix"]) | set(summary["last_quarter"]["plan_mix"])
    assert classes <= {"exact", "misspelled", "artist", "partial"}
    for mix in summary["last_quarter"]["plan_mix"].values():
        assert sum(mix["plans"].values()) == pytest.approx(1.0, abs=1e-3)
        assert set(mix["strategies"]) <= set(STRATEGIES)
        assert all(0 < v["share"] <= 1 and v["mean_depth"] >= 1 for v in mix["strategies"].values())
    assert 0.0 <= summary["found_rate"] <= 1.0
    # a page's nDCG is at most 1 and 0 unless it holds a relevant entity
    assert 0.0 < summary["ndcg_at_10"] <= summary["found_rate"]
    engine = client.app.state.engine  # type: ignore[attr-defined]
    engine.follow()
    assert engine.learner.counts.n_actions == len(actions)
    assert engine.learner.counts.n_impressions >= 40


def test_same_seed_sends_the_same_queries(client: TestClient, benchmark: Path) -> None:
    audience = read_audience(benchmark, "perfect")

    def queries(seed: int) -> list[str]:
        sent: list[tuple[str, dict[str, Any]]] = []
        send_traffic(_recording(client, sent), audience, 15, PARAMS, seed=seed)
        return [p["query"] for path, p in sent if path == "/v1/search"]

    first = queries(7)
    assert first == queries(7)
    assert first != queries(8)


def test_perfect_users_act_only_on_relevant_items(client: TestClient, benchmark: Path) -> None:
    audience = read_audience(benchmark, "perfect")
    sent: list[tuple[str, dict[str, Any]]] = []
    send_traffic(_recording(client, sent), audience, 30, PARAMS, seed=1)
    relevant = {text: set(ids) for text, _, ids in QUERIES.values()}
    acted, query = [], ""
    for path, payload in sent:  # each feedback batch follows its search
        if path == "/v1/search":
            query = payload["query"]
        else:
            acted += [a["entity_id"] in relevant[query] for a in payload["actions"]]
    assert acted and all(acted)


def test_rate_caps_searches_per_second(client: TestClient, benchmark: Path) -> None:
    audience = read_audience(benchmark, "perfect")
    now = [0.0]
    waits: list[float] = []

    def sleep(s: float) -> None:
        waits.append(s)
        now[0] += s

    send_traffic(
        http_poster(client), audience, 5, PARAMS, rate=2.0, sleep=sleep, clock=lambda: now[0]
    )
    assert waits == [0.0, 0.5, 0.5, 0.5, 0.5]


def test_bad_url_is_reported_not_raised(benchmark: Path) -> None:
    audience = read_audience(benchmark, "navigational")
    with httpx.Client(base_url="http://127.0.0.1:9", timeout=2.0) as client:
        tally = send_traffic(http_poster(client), audience, 5, PARAMS)
    summary = tally.summary()
    assert summary["n_searches_sent"] == 1 and summary["n_searches_answered"] == 0
    assert summary["http_errors"] == {"no answer": 1}
    assert "cannot reach http://127.0.0.1:9/v1/search" in str(summary["stopped_early"])


def test_api_key_is_sent_as_x_api_key(data: Path, benchmark: Path) -> None:
    audience = read_audience(benchmark, "navigational")
    keyed = ServiceParams(search_keys=(SEARCH_KEY,))
    with _client(data, keyed) as client:
        refused = send_traffic(http_poster(client), audience, 5, PARAMS).summary()
        allowed = send_traffic(http_poster(client, SEARCH_KEY), audience, 5, PARAMS).summary()
    assert refused["http_errors"] == {"401": 1} and refused["n_searches_sent"] == 1
    assert "401" in refused["stopped_early"] and "X-API-Key" in refused["stopped_early"]
    assert allowed["n_searches_answered"] == 5 and allowed["stopped_early"] is None


def test_a_4xx_is_counted_and_repeated_ones_stop_the_run(benchmark: Path) -> None:
    audience = read_audience(benchmark, "navigational")
    answers = {"/v1/search": Reply(422, {"error": {"message": "query: too long"}})}
    tally = send_traffic(lambda path, _: answers[path], audience, 50, PARAMS)
    summary = tally.summary()
    assert summary["http_errors"] == {"422": 10} and summary["n_searches_sent"] == 10
    assert "10 failed searches in a row" in summary["stopped_early"]
    assert "query: too long" in summary["stopped_early"]


def test_benchmark_from_data_is_built_once(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LTRR_CACHE", str(tmp_path / "cache"))
    out, entities = benchmark_from_data(data, load_config(data_dir=data))
    assert out.parent == tmp_path / "cache" / "traffic" and len(entities) == len(CATALOG)
    assert (out / "qrels" / "test.tsv").is_file()
    stamp = (out / "benchmark.json").stat().st_mtime_ns
    assert benchmark_from_data(data, load_config(data_dir=data))[0] == out
    assert (out / "benchmark.json").stat().st_mtime_ns == stamp
    assert read_audience(out, "informational").query_ids
    audience = read_audience(out, "pbm-informational", eta=2.0)
    assert (audience.click.name, audience.click.eta) == ("pbm-informational", 2.0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--click-model", "lazy"],
            "allowed: perfect, navigational, informational, pbm-navigational, pbm-informational",
        ),
        (["--click-model", "pbm-navigational", "--eta", "0"], "simulate.eta"),
        (["--click-model", "perfect", "--url", "localhost:8000"], "not an http://"),
        (["--click-model", "perfect", "--searches", "0"], "--searches"),
    ],
)
def test_cli_argument_errors(args: list[str], message: str) -> None:
    base = {"--url": "http://127.0.0.1:9", "--searches": "3"}
    for i in range(0, len(args), 2):
        base[args[i]] = args[i + 1]
    argv = ["traffic", *(x for kv in base.items() for x in kv)]
    result = CliRunner().invoke(cli_app, argv, env={"COLUMNS": "400"})
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())

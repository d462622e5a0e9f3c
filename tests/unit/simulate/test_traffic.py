"""Simulated traffic (Zipf queries, users and contexts) and the two query pools."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest
from scipy import stats

from ltrr.errors import CatalogError, ConfigError
from ltrr.simulate.params import SimulateParams
from ltrr.simulate.pools import read_pools
from ltrr.simulate.traffic import UNSEEN_STREAM, draw_traffic, zipf_probabilities


def test_same_seed_same_traffic_other_seed_other_traffic() -> None:
    params = SimulateParams(n_users=50)
    a, b = (draw_traffic(30, 500, params, 3, ["rock", "jazz"]) for _ in range(2))
    for name in ("query", "user", "session", "device", "hour", "u_click", "u_stop", "u_found"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.context(7) == b.context(7)
    c = draw_traffic(30, 500, params, 4, ["rock", "jazz"])
    assert not np.array_equal(a.query, c.query)
    unseen = draw_traffic(30, 500, params, 3, ["rock", "jazz"], stream=UNSEEN_STREAM)
    assert not np.array_equal(a.u_click, unseen.u_click)


def test_queries_follow_zipf_over_a_seeded_ranking() -> None:
    n_queries, n = 40, 40_000
    traffic = draw_traffic(n_queries, n, SimulateParams(n_users=10), 0)
    counts = np.bincount(traffic.query, minlength=n_queries)
    expected = zipf_probabilities(n_queries, 1.0)
    ranked = np.sort(counts)[::-1]
    assert stats.binomtest(int(ranked[0]), n, float(expected[0])).pvalue > 1e-4
    assert expected[0] / expected[1] == pytest.approx(2.0)  # exponent 1: rank 2 half as often
    chi2 = stats.chisquare(
        ranked[:10], expected[:10] * n * ranked[:10].sum() / (expected[:10] * n).sum()
    )
    assert chi2.pvalue > 1e-4
    assert traffic.request_id(12) == "sim-0-12"
    assert np.all(np.diff(traffic.time_s) > 0)


def test_contexts_use_configured_values_and_sessions_split_on_idle_gaps() -> None:
    params = SimulateParams(n_users=3, seconds_per_search=1000.0, session_gap_s=1500.0)
    traffic = draw_traffic(5, 300, params, 0, ["rock", "jazz", "folk", "soul"])
    for i in range(300):
        ctx = traffic.context(i)
        assert ctx.segment in params.segments and ctx.locale in params.locales
        assert ctx.device in params.devices and 0 <= (ctx.hour or 0) < 24
        assert set(ctx.taste) <= {"rock", "jazz", "folk", "soul"} and len(ctx.taste) == 3
        assert sum(ctx.taste.values()) == pytest.approx(1.0, abs=1e-5)
        assert ctx.session_id is not None and ctx.session_id.startswith(f"{ctx.user_id}-s")
    for user in range(3):
        times = traffic.time_s[traffic.user == user]
        sessions = traffic.session[traffic.user == user]
        new = np.diff(times) > 1500.0
        assert np.array_equal(np.diff(sessions), new.astype(np.int64))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("n_searches", 0),
        ("found_elsewhere", 1.5),
        ("traffic_share", 1.0),
        ("devices", ()),
        ("eta", 0.0),
        ("eta", -1.0),
        ("eta", float("nan")),
    ],
)
def test_bad_params_name_the_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"simulate.{field}"):
        SimulateParams(**{field: value})  # type: ignore[arg-type]


def _bench(root: Path, splits: dict[str, list[str]]) -> Path:
    (root / "qrels").mkdir(parents=True)
    ids = sorted({q for qs in splits.values() for q in qs})
    lines = [orjson.dumps({"_id": q, "text": f"query {q}"}) for q in ids]
    (root / "queries.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    (root / "corpus.jsonl").write_bytes(orjson.dumps({"_id": "d1", "title": "x", "text": "y"}))
    for split, qs in splits.items():
        rows = "".join(f"{q}\td1\t1\n" for q in qs)
        (root / "qrels" / f"{split}.tsv").write_text("query-id\tcorpus-id\tscore\n" + rows)
    return root


def test_pools_from_train_and_test_keep_unseen_queries_out_of_traffic(tmp_path: Path) -> None:
    bench = _bench(tmp_path / "b", {"train": ["a", "b", "c", "shared"], "test": ["shared", "t"]})
    pools = read_pools(bench, "train", "test", 0.8, 0)
    assert pools.traffic == ("a", "b", "c") and pools.unseen == ("shared", "t")
    assert pools.describe()["traffic"] == {"source": "split train", "n_queries": 3}


def test_pools_without_train_are_a_seeded_split(tmp_path: Path) -> None:
    ids = [f"q{i}" for i in range(50)]
    bench = _bench(tmp_path / "b", {"test": ids})
    pools = read_pools(bench, "train", "test", 0.8, 0)
    assert len(pools.traffic) == 40 and len(pools.unseen) == 10
    assert not set(pools.traffic) & set(pools.unseen)
    assert read_pools(bench, "train", "test", 0.8, 0) == pools
    assert read_pools(bench, "train", "test", 0.8, 1).unseen != pools.unseen
    assert pools.unseen_source == "the other 20% of split test"
    dev = _bench(tmp_path / "c", {"dev": ids[:5]})
    assert len(read_pools(dev, "train", "test", 0.8, 0).unseen) == 1
    with pytest.raises(CatalogError, match="at least 2 judged queries"):
        read_pools(_bench(tmp_path / "d", {"dev": ["x"]}), "train", "test", 0.8, 0)

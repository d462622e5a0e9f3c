"""The learned ranker in the engine: features logged as served, training, serving, rollback.

Real stages on a small catalog (SQLite log, tantivy, fuzzy, memory, the ranker's text index,
LightGBM); users click the entity whose title matches their query best, wherever it is shown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ltrr.config import Config, load_config
from ltrr.engine import Engine
from ltrr.log.events import Action
from ltrr.rank.features import CandidateFeatures, fingerprint_of
from ltrr.rank.lambdamart import LambdaMartParams, fit
from ltrr.rank.registry import ModelRegistry
from ltrr.rank.training import TrainingGroup
from ltrr.storage.datadir import DataDir
from ltrr.types import Entity, EntityId

STRATEGIES = ["lexical", "fuzzy", "memory"]
WORDS = ["love", "night", "summer", "blue", "rain", "drive", "gold", "river", "fire", "moon"]


def _catalog() -> list[Entity]:
    out = []
    for i, a in enumerate(WORDS):
        for j, b in enumerate(WORDS):
            if a != b and (i + j) % 3 == 0:
                artist = {"artist": f"artist {j}"}
                out.append(Entity(EntityId(f"{a}-{b}"), "track", f"{a} {b}", artist, popularity=j))
    return out


@pytest.fixture
def data(tmp_path: Path) -> Path:
    with DataDir(tmp_path, load_config(), writer=True) as dd, dd.catalog.change() as change:
        change.upsert(_catalog())
    return tmp_path


def _config(**lambdamart: Any) -> Config:
    values = {"min_groups": 30, "n_trees": 30, "retrain_every": 10**6, **lambdamart}
    return load_config().replaced("rank.lambdamart", **values)


def _open(path: Path, config: Config | None = None) -> Engine:
    return Engine.open(path, config or _config(), strategies=STRATEGIES, writer=True)


def _traffic(engine: Engine, n: int, seed: int = 0) -> None:
    """``n`` searches for two-word titles; the user clicks the exact title if shown, else
    finds it elsewhere."""
    rng = np.random.default_rng(seed)
    titles = [e.title for e in _catalog()]
    for i in range(n):
        title = titles[int(rng.integers(len(titles)))]
        response = engine.search(title, request_id=f"s{seed}-{i}", event_time_s=1000.0 + i)
        wanted = EntityId(title.replace(" ", "-"))
        shown = [r.entity.id for r in response.results]
        kind = "click" if wanted in shown else "found"
        engine.feedback(Action(action_id=f"a{seed}-{i}", request_id=response.request_id,
                               user_id="u", entity_id=wanted, kind=kind,
                               event_time_s=1000.5 + i))  # fmt: skip


def test_the_logged_features_are_the_rows_the_ranker_scored(data: Path) -> None:
    with _open(data) as engine:
        seen: list[CandidateFeatures | None] = []
        real = engine.ranking.features
        engine.ranking.features = lambda *a: seen.append(real(*a)) or seen[-1]  # type: ignore[method-assign]
        _traffic(engine, 3)
        assert engine.log is not None
        logged = list(engine.log.acted_features())
    assert len(logged) == 3
    for row, features in zip(logged, seen, strict=True):
        assert features is not None and row.features.fingerprint == features.fingerprint
        index = {e: i for i, e in enumerate(features.ids)}
        rows = [index[e] for e in row.features.ids]
        np.testing.assert_array_equal(row.features.x, features.x[rows])  # NaN == NaN here
        assert row.features.ids[: len(row.shown)] == row.shown  # served order, page first


def test_a_tiny_log_is_named_and_the_fallback_keeps_serving(data: Path) -> None:
    with _open(data) as engine:
        _traffic(engine, 5)
        report = engine.train()
        assert report.version is None and "only 5 impressions" in report.reason
        assert engine.ranker.name == "fusion"
        assert engine.search("love river").model_versions["ranker"].startswith("fusion@")


def test_a_trained_model_serves_and_rollback_restores_the_fallback(data: Path) -> None:
    with _open(data) as engine:
        _traffic(engine, 120)
        report = engine.train()
        assert report.version == "v0001" and report.n_groups >= 100, report
        assert report.accepted, report.validation
        assert engine.ranker.name == "lambdamart"
        response = engine.search("gold moon")
        assert response.model_versions["ranker"] == "lambdamart@v0001"
        ModelRegistry.of(data).rollback()
        engine.ranking.refresh()
        assert engine.ranker.name == "fusion"


def test_a_model_of_another_feature_set_is_not_served(data: Path) -> None:
    names = ("only", "two")
    rng = np.random.default_rng(0)
    groups = [
        TrainingGroup(f"r{i}", rng.random((5, 2)).astype(np.float32),
                      np.array([1, 0, 0, 0, 0], np.int32), np.arange(1, 6, dtype=np.int32))
        for i in range(50)
    ]  # fmt: skip
    model = fit(groups, LambdaMartParams(n_trees=5), names, fingerprint_of(names), debias="none")
    ModelRegistry.of(data).add(model, {}, accepted=True)
    with _open(data) as engine:
        assert engine.ranker.name == "fusion" and engine.ranking.version() is None
        assert engine.search("love river").results


def test_only_the_fallbacks_top_is_featurized_logged_and_reranked(data: Path) -> None:
    with _open(data, _config(rerank_depth=4)) as engine:
        _traffic(engine, 80)
        assert engine.train().accepted
        response = engine.search("love", k=20)
        assert engine.log is not None
        rows = list(engine.log.acted_features())
    assert all(len(r.features.ids) <= 4 and r.features.x.shape[0] == len(r.features.ids)
               for r in rows)  # fmt: skip
    assert len(response.results) > 4  # the rest follow the reranked top
    scores = [r.score for r in response.results]
    assert scores == sorted(scores, reverse=True)


def test_training_reads_a_window_of_the_latest_acted_on_searches(data: Path) -> None:
    with _open(data) as engine:
        _traffic(engine, 6)
        engine.search("no action on this one", request_id="quiet")
        assert engine.log is not None
        every = [r.request_id for r in engine.log.acted_features(100)]
        latest = [r.request_id for r in engine.log.acted_features(3)]
    assert every == [f"s0-{i}" for i in range(6)]  # log order; the unanswered search is not
    assert latest == every[-3:]


def test_reopening_with_a_served_model_waits_for_new_acted_on_searches(data: Path) -> None:
    """A process that opens a log a model already serves counts ``retrain_every`` from what it
    folded; one with no model trains as soon as it may (every worker retrained at start-up)."""
    with _open(data) as engine:
        _traffic(engine, 120)
        assert engine.train().version == "v0001"
    config = _config(retrain_every=20)
    with _open(data, config) as engine:
        assert engine.log is not None and ModelRegistry.of(data).current() == "v0001"
        started: list[int] = []
        engine.ranking._background = lambda log: started.append(1)  # type: ignore[method-assign]
        engine.ranking.on_acted(engine.learner.counts.n_wanted, engine.log)
        engine.ranking.wait()
        assert started == []  # 120 acted-on searches folded at opening: not new
        engine.ranking.on_acted(engine.learner.counts.n_wanted + 20, engine.log)
        engine.ranking.wait()
        assert started == [1]  # 20 new ones
    ModelRegistry.of(data).rollback()  # no model serves: the folded ones count
    with _open(data, config) as engine:
        assert engine.log is not None and ModelRegistry.of(data).current() is None
        started = []
        engine.ranking._background = lambda log: started.append(1)  # type: ignore[method-assign]
        engine.ranking.on_acted(engine.learner.counts.n_wanted, engine.log)
        engine.ranking.wait()
        assert started == [1]

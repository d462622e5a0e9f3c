"""Replicas of one PostgreSQL log sharing state through a real Redis: one replica trains and
every replica serves the model it published; a replica starting on a fresh data directory
fetches the published snapshot and folds only the log's tail; a held train lease keeps a
replica from training; the replica holding the policy lease teaches and publishes the policy,
another installs it instead of teaching its own and takes over when the publisher goes.

Each test gets a fresh schema (so a fresh Redis namespace) and is skipped, with the reason,
when no PostgreSQL or Redis server answers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import psycopg
import pytest
from tests.conftest import POSTGRES_URL
from tests.unit.learn.test_ranking import STRATEGIES, _catalog, _config, _traffic

from ltrr.config import Config
from ltrr.engine import Engine
from ltrr.learn import ranking as learned_ranking
from ltrr.learn import snapshot
from ltrr.learn.shared_models import pull_model
from ltrr.learn.shared_policy import SharedPolicy
from ltrr.rank.registry import ModelRegistry
from ltrr.storage.datadir import DataDir
from ltrr.storage.redis_state import RedisSharedState
from ltrr.storage.shared import STATE_URL_ENV, namespace


@pytest.fixture
def config(postgres_log_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.delenv(STATE_URL_ENV, raising=False)
    monkeypatch.setattr(learned_ranking, "SHARED_POLL_S", 0.0)  # poll at every refresh
    return _config().replaced("log", url=postgres_log_url).replaced("storage", state_url=redis_url)


@pytest.fixture
def fresh(tmp_path: Path, config: Config) -> Callable[[], Path]:
    """Makes a new data directory with the test catalog (the same in every one)."""
    made = iter(range(10**6))

    def make() -> Path:
        path = tmp_path / f"d{next(made)}"
        with DataDir(path, config, writer=True) as dd, dd.catalog.change() as change:
            change.upsert(_catalog())
        return path

    return make


@pytest.fixture
def shared(config: Config, redis_url: str, fresh: Callable[[], Path]) -> Iterator[RedisSharedState]:
    """The namespace the engines of ``config``'s log use, emptied afterwards."""
    with _open(fresh(), config) as engine:
        assert engine.log is not None
        identity = engine.log.identity
    state = RedisSharedState(redis_url, namespace(identity))
    try:
        yield state
    finally:
        state.clear()
        state.close()


def _open(path: Path, config: Config) -> Engine:
    return Engine.open(path, config, strategies=STRATEGIES, writer=True)


def test_one_replica_trains_and_the_other_serves_its_model(
    config: Config, shared: RedisSharedState, fresh: Callable[[], Path]
) -> None:
    a_path, b_path = fresh(), fresh()
    with _open(a_path, config) as a:
        _traffic(a, 120)
        report = a.train()
        assert report.accepted and report.version == "v0001", report
        trained = ModelRegistry.of(a_path).load("v0001").to_string()
    head = shared.published(f"ranker:{a.ranking.featurizer.fingerprint}")
    assert head is not None and head.meta["trained_as"] == "v0001"
    with _open(b_path, config) as b:  # never trained: serves the published model at once
        assert b.ranker.name == "lambdamart"
        registry = ModelRegistry.of(b_path)
        version = registry.current()
        assert version is not None and registry.load(version).to_string() == trained
        assert registry.versions()[-1].manifest["published"] is True
        # another worker of the same directory finds it installed: no second copy
        features = b.ranking.featurizer
        again = (b.ranking.epoch(), -1)
        pull_model(shared, registry, features.fingerprint, features.names, again)
        assert len(registry.versions()) == 1
        assert b.search("gold moon").model_versions["ranker"] == f"lambdamart@{version}"


def test_a_held_train_lease_keeps_a_replica_from_training(
    config: Config, shared: RedisSharedState, fresh: Callable[[], Path]
) -> None:
    with _open(fresh(), config) as a:
        _traffic(a, 120)
        assert a.log is not None
        held = shared.lease("train", 30)
        assert held is not None
        a.ranking._background(a.log)  # what a retrain on this replica runs
        assert a.ranking.last_report is None and a.ranker.name == "fusion"
        held.release()
        a.ranking._background(a.log)
        report = a.ranking.last_report
        assert report is not None and report.accepted, report


def test_a_starting_replica_fetches_the_snapshot_and_folds_only_the_tail(
    config: Config, shared: RedisSharedState, fresh: Callable[[], Path]
) -> None:
    a_path = fresh()
    with _open(a_path, config) as a:
        _traffic(a, 60)
        written = a.snapshot()
        assert written is not None and a.follower is not None
        position = a.follower.position
        _traffic(a, 7, seed=1)  # the tail, learned live
        counts, updates = a.learner.counts, a.learner.n_policy_updates
        name = snapshot.shared_name(a.data_dir.config)  # the settings the engine runs under
    head = shared.published(name)
    assert head is not None and head.position == position
    c_path = fresh()  # a new host: no snapshot of its own
    with _open(c_path, config) as c:
        assert (c_path / snapshot.SNAPSHOT_DIR / f"{position:016d}").is_dir()
        assert c.learner.counts == counts and c.learner.n_policy_updates == updates
        resumed = c.resume()  # what its start did: the fetched snapshot plus the tail
    assert resumed["snapshot"] == f"{position:016d}"
    assert resumed["log_position"] > position


def test_a_recreated_log_does_not_serve_the_dropped_logs_model(
    config: Config, shared: RedisSharedState, fresh: Callable[[], Path], postgres_schema: str
) -> None:
    with _open(fresh(), config) as a:
        _traffic(a, 120)
        assert a.train().accepted
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:  # the same address, anew
        conn.execute(f"DROP SCHEMA {postgres_schema} CASCADE")
    with _open(fresh(), config) as b:
        assert b.ranker.name == "fusion"
        _traffic(b, 120, seed=2)
        assert b.train().accepted  # published over the dropped log's, at a lower position
    with _open(fresh(), config) as c:
        assert c.ranker.name == "lambdamart"
        assert c.ranking.version() is not None


# -- one policy for the replicas (learn.shared_policy) -------------------------------------


def _replica(path: Path, config: Config) -> tuple[Engine, SharedPolicy]:
    engine = Engine.open(path, config, strategies=STRATEGIES, serve=True)
    assert engine.shared is not None and engine.follower is not None
    policy = SharedPolicy(engine.shared, engine.follower, engine.data_dir.config, engine.lock, 0.0)
    return engine, policy


def _mean(engine: Engine) -> np.ndarray:
    return np.asarray(engine.policy._state.mean)  # type: ignore[attr-defined]


def test_one_replica_teaches_the_policy_and_the_other_installs_it(
    config: Config, fresh: Callable[[], Path], redis_url: str
) -> None:
    a, pa = _replica(fresh(), config)
    b, pb = _replica(fresh(), config)
    try:
        assert a.log is not None
        state = RedisSharedState(redis_url, namespace(a.log.identity))
        _traffic(a, 150)
        for engine in (a, b):
            engine.follow()
        pa.tick()
        pb.tick()
        assert pa.publishing and not pb.publishing
        assert not b.learner.lessons.teach_policy and a.learner.lessons.teach_policy
        _traffic(b, 150, seed=1)  # lessons reach both through the log
        for engine in (a, b):
            engine.follow()
            with engine.lock:
                engine.learner.settle(10**9)  # every held lesson due
        assert a.learner.n_policy_updates == b.learner.n_policy_updates > 100
        frozen = _mean(b).copy()
        np.testing.assert_array_equal(frozen, _mean(b))  # b taught nothing itself
        pa.tick()
        pb.tick()
        np.testing.assert_array_equal(_mean(a), _mean(b))  # b plans from a's posterior
        assert not np.array_equal(frozen, _mean(b))
        pa.close()  # the publisher goes: the other takes over at its next round
        pb.tick()
        assert pb.publishing and b.learner.lessons.teach_policy
    finally:
        pa.close(), pb.close(), a.close(), b.close()
        state.clear()
        state.close()

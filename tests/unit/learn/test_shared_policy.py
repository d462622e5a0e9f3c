"""One policy for the replicas of a log (``learn.shared_policy``), on real PostgreSQL and Redis:
the replica holding the lease teaches and publishes the policy, the other installs it instead
of teaching its own, and takes over when the publisher goes.

Skipped, with the reason, when no PostgreSQL or Redis server answers.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from tests.unit.learn.test_ranking import STRATEGIES, _catalog, _config, _traffic

from ltrr.config import Config
from ltrr.engine import Engine
from ltrr.learn.shared_policy import SharedPolicy
from ltrr.storage.datadir import DataDir
from ltrr.storage.redis_state import RedisSharedState
from ltrr.storage.shared import STATE_URL_ENV, namespace


@pytest.fixture
def config(postgres_log_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.delenv(STATE_URL_ENV, raising=False)
    return _config().replaced("log", url=postgres_log_url).replaced("storage", state_url=redis_url)


@pytest.fixture
def fresh(tmp_path: Path, config: Config) -> Callable[[], Path]:
    made = iter(range(10**6))

    def make() -> Path:
        path = tmp_path / f"d{next(made)}"
        with DataDir(path, config, writer=True) as dd, dd.catalog.change() as change:
            change.upsert(_catalog())
        return path

    return make


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

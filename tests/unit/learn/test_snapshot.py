"""Start-up from a snapshot plus the log's tail gives exactly the state of a full replay."""

from __future__ import annotations

from pathlib import Path

import pytest

from ltrr.config import Config, load_config
from ltrr.engine import Engine
from ltrr.learn.snapshot import SNAPSHOT_DIR
from ltrr.log.events import Action
from ltrr.select.base import PlanRequest
from ltrr.storage.datadir import DataDir
from ltrr.types import Context, Entity, EntityId

STRATEGIES = ["lexical", "fuzzy", "memory", "explore"]
TITLES = ["Love Story", "Night Drive", "Summer Rain", "Blue Monday", "Hidden Gem", "Love Song"]
QUERIES = ["love", "night drive", "summer", "blue monday", "hiden gem", "love song"]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    catalog = [
        Entity(EntityId(f"t{i}"), "track", t, fields={"artist": f"A{i}"}, popularity=5)
        for i, t in enumerate(TITLES)
    ]
    with DataDir(tmp_path, load_config(), writer=True) as dd, dd.catalog.change() as change:
        change.upsert(catalog)
    return tmp_path


def _config(**learn: object) -> Config:
    config = load_config()
    # small fusion windows so that refits (and a pending one) happen within the test
    config = config.replaced("rank.fusion", refit_every=7, apply_after=3)
    return config.replaced("learn", **learn) if learn else config


def _open(path: Path, config: Config | None = None) -> Engine:
    return Engine.open(path, config or _config(), strategies=STRATEGIES, writer=True)


def _traffic(engine: Engine, start: int, n: int) -> None:
    for i in range(start, start + n):
        t = 1000.0 + 30.0 * i  # lessons settle after 120 s: some are held at every moment
        rid = f"r{i}"
        response = engine.search(QUERIES[i % len(QUERIES)], request_id=rid, event_time_s=t)
        if response.results and i % 4:
            pick = response.results[(i // 4) % len(response.results)].entity.id
            engine.feedback(
                Action(
                    action_id=f"a{i}", request_id=rid, user_id=f"u{i % 3}", entity_id=pick,
                    kind="click", event_time_s=t + 2,
                )
            )  # fmt: skip


def _state(engine: Engine) -> tuple[object, ...]:
    memory = engine.indexes.retrievers["memory"]
    explore = engine.indexes.retrievers["explore"]
    understand = engine.indexes.understander.understand
    plans = [
        engine.policy.plan(PlanRequest(f"probe{j}", understand(q), Context(), 100)).depths
        for j, q in enumerate(QUERIES)
    ]
    fusion = engine.ranker
    return (
        engine.learner.counts,
        engine.learner.n_policy_updates,
        engine.learner.lessons.held(),
        engine.learner.lessons.stats.state(),
        engine.learner.lessons.evidence.state(),
        [
            [(c.entity_id, round(c.score, 12)) for c in r.retrieve(understand(q), Context(), 5)]
            for r in (memory, explore)
            for q in QUERIES
        ],
        plans,
        getattr(fusion, "weights", None),
        fusion.n_updates,
    )


def test_snapshot_plus_tail_equals_a_full_replay(data: Path) -> None:
    with _open(data) as engine:
        _traffic(engine, 0, 40)
        written = engine.snapshot()
        assert written is not None and written.parent.name == SNAPSHOT_DIR
        assert engine.learner.lessons.held()  # lessons were pending when it was taken
        _traffic(engine, 40, 25)  # the tail
    with _open(data) as resumed:
        summary = resumed.resume()
        assert summary["snapshot"] == written.name
        from_snapshot = _state(resumed)
        replayed = resumed.replay()
        assert replayed["snapshot"] is None
        assert _state(resumed) == from_snapshot
    assert from_snapshot[0].n_actions == 48  # type: ignore[attr-defined]


def test_snapshot_plus_tail_equals_a_full_replay_with_click_evidence(data: Path) -> None:
    config = _config(evidence_attractiveness=0.3)
    with _open(data, config) as engine:
        _traffic(engine, 0, 40)
        assert engine.snapshot() is not None
        _traffic(engine, 40, 25)
        assert engine.learner.lessons.evidence.state()  # counts were kept
    with _open(data, config) as resumed:
        assert resumed.resume()["snapshot"] is not None
        from_snapshot = _state(resumed)
        resumed.replay()
        assert _state(resumed) == from_snapshot


def test_a_snapshot_taken_under_other_settings_is_not_used(data: Path) -> None:
    with _open(data) as engine:
        _traffic(engine, 0, 12)
        assert engine.snapshot() is not None
    with _open(data, _config(skip_weight=0.25)) as other:
        assert other.resume()["snapshot"] is None


def test_snapshots_keep_the_newest_ones(data: Path) -> None:
    with _open(data) as engine:
        for round_ in range(4):
            _traffic(engine, 10 * round_, 10)
            engine.snapshot(keep=2)
        folders = sorted(p.name for p in (data / SNAPSHOT_DIR).iterdir())
        assert len(folders) == 2
        assert engine.snapshot() is None  # nothing new since the last one


def test_a_damaged_snapshot_is_skipped_for_a_full_replay(
    data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with _open(data) as engine:
        _traffic(engine, 0, 8)
        written = engine.snapshot()
        expected = _state(engine)
    assert written is not None
    (written / "learner.json").write_text("{}")
    with _open(data) as engine:
        assert "learner.json" in caplog.text
        assert _state(engine) == expected

"""A writer's live learning (``learn.live``): batched reads, and off the acknowledgement path."""

from __future__ import annotations

from pathlib import Path

import pytest

from ltrr.config import load_config
from ltrr.engine import Engine
from ltrr.errors import LtrrError
from ltrr.log.events import Action
from ltrr.storage.datadir import DataDir
from ltrr.types import Context, Entity, EntityId

CATALOG = [
    Entity(id=EntityId(i), type="track", title=t, fields={}, popularity=5)
    for i, t in [("t1", "Love Story"), ("t2", "Night Drive"), ("t3", "Blue Monday")]
]
EVENTS = [("r1", "t1", "a1", 2.0), ("r1", "t3", "a2", 3.0), ("r2", "t2", "a3", 5.0)]


def _engine(path: Path) -> Engine:
    with DataDir(path, load_config(), writer=True) as dd, dd.catalog.change() as change:
        change.upsert(CATALOG)
    return Engine.open(path, load_config(), strategies=["lexical", "memory"], writer=True)


def _act(request_id: str, entity: str, action_id: str, t: float) -> Action:
    return Action(
        action_id=action_id,
        request_id=request_id,
        user_id="u1",
        entity_id=EntityId(entity),
        kind="click",
        event_time_s=t,
    )


def _learned(path: Path, learn: str) -> tuple[object, ...]:
    with _engine(path) as engine:
        engine.search("love story", request_id="r1", event_time_s=1.0)
        engine.search("night drive", request_id="r2", event_time_s=4.0)
        actions = [_act(*e) for e in EVENTS]
        assert engine.feedback_many([*actions, actions[0]], learn=learn) == [True] * 3 + [False]
        assert engine.live.wait(timeout_s=30.0)
        engine.learner.settle(1e9)
        memory = engine.indexes.retrievers["memory"]
        query = engine.indexes.understander.understand("love story")
        return (
            engine.learner.counts,
            engine.learner.n_policy_updates,
            memory.retrieve(query, Context(), 5),
        )


def test_learning_in_the_background_ends_where_learning_now_does(tmp_path: Path) -> None:
    assert _learned(tmp_path / "now", "now") == _learned(tmp_path / "bg", "background")


def test_a_replay_before_the_background_learns_is_not_counted_twice(tmp_path: Path) -> None:
    with _engine(tmp_path) as engine:
        engine.search("love story", request_id="r1", event_time_s=1.0)
        with engine.lock:  # hold learning back until the replay has folded the action
            assert engine.feedback(_act("r1", "t1", "a1", 2.0), learn="background")
            engine.replay()
        assert engine.live.wait(timeout_s=30.0)
        assert engine.learner.counts.n_actions == 1


def test_an_unknown_learning_mode_is_refused_before_anything_is_stored(tmp_path: Path) -> None:
    with _engine(tmp_path) as engine:
        engine.search("love story", request_id="r1", event_time_s=1.0)
        with pytest.raises(LtrrError, match="learn must be one of now, background"):
            engine.feedback(_act("r1", "t1", "a1", 2.0), learn="later")
        assert engine.log is not None and engine.log.actions_for("r1") == []


class _CountingLock:
    def __init__(self) -> None:
        self.n_held = 0

    def __enter__(self) -> None:
        self.n_held += 1

    def __exit__(self, *exc: object) -> None:
        return None


def test_the_follower_holds_the_lock_for_one_slice_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reads happen outside the lock; a page is applied in slices of ``follow.SLICE``."""
    monkeypatch.setattr("ltrr.learn.follow.SLICE", 2)
    with _engine(tmp_path) as engine:
        engine.search("love story", request_id="r1", event_time_s=1.0)
        engine.search("night drive", request_id="r2", event_time_s=4.0)
        engine.feedback_many([_act(*e) for e in EVENTS])
        assert engine.follower is not None
        engine.follower.reset()
        lock = _CountingLock()
        assert engine.follower.follow(lock=lock) == 5  # two impressions, three actions
        assert lock.n_held == 3

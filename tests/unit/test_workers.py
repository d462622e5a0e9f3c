"""Service workers learn as one: each appends to the shared log and folds it in log order.

Two engines opened with ``serve=True`` on one data directory stand for two worker processes
(each has its own connections, log writer and learned state; only the files are shared).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ltrr.config import load_config
from ltrr.engine import Engine
from ltrr.log.events import Action
from ltrr.storage.datadir import DataDir
from ltrr.types import Context, Entity, EntityId

STRATEGIES = ["lexical", "fuzzy", "memory"]
CATALOG = [
    Entity(EntityId(f"t{i}"), "track", title, fields={"artist": artist}, popularity=5)
    for i, (title, artist) in enumerate(
        [
            ("Love Story", "Taylor Swift"),
            ("Night Drive", "Chromatics"),
            ("Summer Rain", "Carl Thomas"),
            ("Blue Monday", "New Order"),
            ("Hidden Gem", "Nobody Knows"),
            ("Love Song", "The Cure"),
        ]
    )
]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    with DataDir(tmp_path, load_config(), writer=True) as dd, dd.catalog.change() as change:
        change.upsert(CATALOG)
    Engine.open(tmp_path, load_config(), strategies=STRATEGIES, writer=True).close()  # indexes
    return tmp_path


def _worker(path: Path) -> Engine:
    return Engine.open(path, load_config(), strategies=STRATEGIES, serve=True)


def _click(request_id: str, entity: str, action_id: str, t: float) -> Action:
    return Action(
        action_id=action_id,
        request_id=request_id,
        user_id="u",
        entity_id=EntityId(entity),
        kind="click",
        event_time_s=t,
    )


def _state(engine: Engine) -> tuple[object, ...]:
    memory = engine.indexes.retrievers["memory"]
    query = engine.indexes.understander.understand("love")
    return (
        engine.learner.counts,
        engine.learner.n_policy_updates,
        [(c.entity_id, round(c.score, 12)) for c in memory.retrieve(query, Context(), 5)],
        engine.learner.lessons.stats.to_dict(),
    )


def test_two_workers_learn_the_same_state_as_a_replay(data: Path) -> None:
    a, b = _worker(data), _worker(data)
    try:
        t = 1000.0
        for i in range(30):
            server = a if i % 2 else b
            other = b if i % 2 else a
            rid = f"r{i}"
            server.search("love", request_id=rid, event_time_s=t)
            assert other.feedback(_click(rid, "t5" if i % 3 else "t0", f"a{i}", t + 1))
            t += 60.0  # lessons settle (120 s) while the traffic goes on
        assert a.follow() > 0 and b.follow() > 0
        assert a.follower is not None and b.follower is not None
        assert a.follower.position == b.follower.position
        assert _state(a) == _state(b)
        assert a.learner.counts.n_actions == 30
        assert a.learner.n_policy_updates > 0
    finally:
        a.close()
        b.close()
    with Engine.open(data, load_config(), strategies=STRATEGIES, writer=True) as replayed:
        assert _state(replayed) == _state(a)


def test_a_worker_learns_only_when_it_follows_the_log(data: Path) -> None:
    a, b = _worker(data), _worker(data)
    try:
        a.search("hidden gem", request_id="r1", event_time_s=10.0)
        a.feedback(_click("r1", "t4", "a1", 11.0))
        assert a.learner.counts.n_actions == 0  # not even its own click, before following
        b.follow()
        assert b.learner.counts.n_actions == 1
        memory = b.indexes.retrievers["memory"]
        query = b.indexes.understander.understand("hidden gem")
        assert memory.retrieve(query, Context(), 3)[0].entity_id == "t4"
    finally:
        a.close()
        b.close()


def test_an_action_on_another_workers_queued_impression_waits_for_it(data: Path) -> None:
    a, b = _worker(data), _worker(data)
    try:
        a.search("night drive", request_id="r1", event_time_s=10.0)  # queued, not committed
        assert b.feedback(_click("r1", "t1", "a1", 11.0))
    finally:
        a.close()
        b.close()


def test_catalog_changes_reach_the_other_workers_indexes(data: Path) -> None:
    a, b = _worker(data), _worker(data)
    try:
        a.upsert([{"id": "n1", "type": "track", "title": "Paper Planes"}])
        assert a.search("paper planes", strategies=["lexical"], k=1).results[0].entity.id == "n1"
        assert b.search("paper planes", strategies=["lexical"], k=1).results == ()
        b.follow()
        assert b.search("paper planes", strategies=["lexical"], k=1).results[0].entity.id == "n1"
        b.delete(["n1"])
        a.follow()
        assert a.search("paper planes", strategies=["lexical"], k=1).results == ()
    finally:
        a.close()
        b.close()


def test_log_positions_are_unique_across_appenders(data: Path) -> None:
    a, b = _worker(data), _worker(data)
    try:
        for i in range(20):
            (a if i % 2 else b).search("love", request_id=f"r{i}", event_time_s=float(i))
        assert a.log is not None and b.log is not None
        a.log.flush()
        b.log.flush()
        positions = [seq for seq, _ in a.log.events_after(0, 100)]
        assert len(positions) == 20 == len(set(positions))
        assert positions == sorted(positions)
    finally:
        a.close()
        b.close()


def test_a_request_with_many_actions_is_read_once_and_learned_as_a_replay(data: Path) -> None:
    """The follower extends a request's action list as it reads the log in order (the learner
    is given each action's prefix, as ``log.actions_through`` would), asking the log only for
    a request it has not seen act; a second worker's fold and a replay learn the same."""
    a, b = _worker(data), _worker(data)
    asked: list[str] = []
    assert b.log is not None
    through = b.log.actions_through

    def counted(request_id: str, seq: int) -> list[Action]:
        asked.append(request_id)
        return through(request_id, seq)

    b.log.actions_through = counted  # type: ignore[method-assign]
    try:
        t = 1000.0
        rids = [f"r{i}" for i in range(4)]
        for rid in rids:
            a.search("love", request_id=rid, event_time_s=t)
        for n in range(6):  # interleaved: each request acted on six times, in two folds
            for i, rid in enumerate(rids):
                entity = ("t0", "t5", "t1")[(n + i) % 3]
                assert a.feedback(_click(rid, entity, f"{rid}-a{n}", t + n + 1))
            if n == 2:
                assert b.follow() > 0
        t += 600.0
        a.search("love", request_id="late", event_time_s=t)  # settles the lessons
        assert a.log is not None
        a.log.flush()  # committed, so that both workers fold it
        assert a.follow() > 0 and b.follow() > 0
        assert sorted(asked) == rids  # once per request, not once per action
        assert _state(a) == _state(b)
        assert b.learner.counts.n_actions == 24
    finally:
        a.close()
        b.close()
    with Engine.open(data, load_config(), strategies=STRATEGIES, writer=True) as replayed:
        assert _state(replayed) == _state(b)

"""The engine on a PostgreSQL event log (``[log] url``): searches and feedback land there and
not in the data directory; replicas (two data directories, one log) learn as one; a restart
restores snapshot plus tail from PostgreSQL; a snapshot of another log is never mixed in.

Each test gets a fresh schema (``postgres_log_url``) and is skipped, with the reason, when no
PostgreSQL server answers.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import psycopg
import pytest

from ltrr.config import Config, load_config
from ltrr.engine import Engine
from ltrr.learn.snapshot import SNAPSHOT_DIR
from ltrr.log.events import Action
from ltrr.log.postgres_log import PostgresEventLog
from ltrr.select.base import PlanRequest
from ltrr.storage.datadir import DataDir
from ltrr.storage.sqlite import DB_NAME
from ltrr.types import Context, Entity, EntityId

STRATEGIES = ["lexical", "fuzzy", "memory"]
TITLES = ["Love Story", "Night Drive", "Summer Rain", "Blue Monday", "Hidden Gem", "Love Song"]
QUERIES = ["love", "night drive", "summer", "blue monday", "hiden gem", "love song"]


def _catalog(path: Path) -> Path:
    catalog = [
        Entity(EntityId(f"t{i}"), "track", t, fields={"artist": f"A{i}"}, popularity=5)
        for i, t in enumerate(TITLES)
    ]
    with DataDir(path, load_config(), writer=True) as dd, dd.catalog.change() as change:
        change.upsert(catalog)
    return path


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return _catalog(tmp_path / "data")


def _config(url: str = "") -> Config:
    return load_config().replaced("log", url=url)


def _open(path: Path, url: str, **kwargs: bool) -> Engine:
    mode = kwargs or {"writer": True}
    return Engine.open(path, _config(url), strategies=STRATEGIES, **mode)


def _click(request_id: str, entity: str, action_id: str, t: float) -> Action:
    return Action(
        action_id=action_id, request_id=request_id, user_id="u1",
        entity_id=EntityId(entity), kind="click", event_time_s=t,
    )  # fmt: skip


def _traffic(engine: Engine, start: int, n: int) -> None:
    """Searches, three in four clicked (lessons settle after 120 s: some are always held)."""
    for i in range(start, start + n):
        t = 1000.0 + 30.0 * i
        response = engine.search(QUERIES[i % len(QUERIES)], request_id=f"r{i}", event_time_s=t)
        if response.results and i % 4:
            pick = response.results[(i // 4) % len(response.results)].entity.id
            engine.feedback(_click(f"r{i}", pick, f"a{i}", t + 2))


def _state(engine: Engine) -> tuple[object, ...]:
    """What the engine learned, read without changing it."""
    memory = engine.indexes.retrievers["memory"]
    understand = engine.indexes.understander.understand
    plans = [
        engine.policy.plan(PlanRequest(f"probe{j}", understand(q), Context(), 100)).depths
        for j, q in enumerate(QUERIES)
    ]
    return (
        engine.learner.counts,
        engine.learner.n_policy_updates,
        engine.learner.lessons.held(),
        [
            [
                (c.entity_id, round(c.score, 12))
                for c in memory.retrieve(understand(q), Context(), 5)
            ]
            for q in QUERIES
        ],
        plans,
        engine.ranker.n_updates,
    )


def _top_memory_hit(engine: Engine, query: str) -> str | None:
    memory = engine.indexes.retrievers["memory"]
    hits = memory.retrieve(engine.indexes.understander.understand(query), Context(), 3)
    return hits[0].entity_id if hits else None


def _sqlite_events(path: Path) -> int:
    conn = sqlite3.connect(path / DB_NAME)
    try:
        return sum(
            conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("impressions", "actions")
        )
    finally:
        conn.close()


def test_search_and_feedback_are_logged_in_postgresql(data: Path, postgres_log_url: str) -> None:
    with _open(data, postgres_log_url) as engine:
        assert engine.log is not None and engine.log.identity.startswith("postgresql://")
        engine.search("gem hidden", request_id="r1", event_time_s=100.0)
        assert engine.feedback(_click("r1", "t4", "a1", 101.0))
        assert _top_memory_hit(engine, "hiden gem") == "t4"
    with PostgresEventLog(postgres_log_url, readonly=True) as other:  # a second connection
        impression = other.impression("r1")
        assert impression is not None and impression.query == "gem hidden"
        assert [a.action_id for a in other.actions_for("r1")] == ["a1"]
        assert other.actions_for("r1")[0].entity_id == "t4"
        assert other.stats().n_impressions == 1
    assert _sqlite_events(data) == 0  # the data directory's own events tables stay empty


def test_two_replicas_on_one_log_learn_as_one(tmp_path: Path, postgres_log_url: str) -> None:
    """Two data directories holding the same catalog, both service workers (learning only by
    following the log): a click given through A is learned by B."""
    a_path, b_path = _catalog(tmp_path / "a"), _catalog(tmp_path / "b")
    with (
        _open(a_path, postgres_log_url, serve=True) as a,
        _open(b_path, postgres_log_url, serve=True) as b,
    ):
        assert _top_memory_hit(b, "summer monday") != "t5"
        a.search("summer monday", request_id="r1", event_time_s=100.0)
        assert a.feedback(_click("r1", "t5", "a1", 101.0))  # "Love Song": no title match
        assert _top_memory_hit(b, "summer monday") != "t5"  # not yet followed
        assert b.follow() == 2  # the impression and the action, from A
        assert a.follow() == 2  # A too learns its own click from the log
        assert _top_memory_hit(b, "summer monday") == "t5" == _top_memory_hit(a, "summer monday")
        assert b.log is not None and b.log.stats().n_actions_by_kind == {"click": 1}
        b.search("summer monday", request_id="r2", event_time_s=200.0)  # and the other way
        assert b.feedback(_click("r2", "t5", "a2", 201.0))
        assert (a.follow(), b.follow()) == (2, 2)
        assert _state(a) == _state(b)
        assert a.learner.counts.n_actions == b.learner.counts.n_actions == 2


def test_a_restart_restores_snapshot_plus_tail_from_postgresql(
    data: Path, postgres_log_url: str
) -> None:
    with _open(data, postgres_log_url) as engine:
        _traffic(engine, 0, 24)
        written = engine.snapshot()
        assert written is not None and written.parent.name == SNAPSHOT_DIR
        _traffic(engine, 24, 12)  # the tail, only in PostgreSQL
        before = engine.search("hiden gem", request_id="probe", event_time_s=2100.0)
        learned = _state(engine)
        assert engine.log is not None
        position = engine.log.last_position()
    # The same log spelled another way (a libpq option added): the snapshot is still its own.
    with _open(data, f"{postgres_log_url}&application_name=replica") as engine:
        summary = engine.resume()
        assert summary["snapshot"] == written.name
        assert summary["log_position"] == position
        assert _state(engine) == learned
        after = engine.search("hiden gem", request_id="probe", event_time_s=2100.0)
        assert after.plan.depths == before.plan.depths
        assert [r.entity.id for r in after.results] == [r.entity.id for r in before.results]
        assert engine.replay()["log_position"] == position and _state(engine) == learned
    assert _sqlite_events(data) == 0


def test_a_snapshot_of_the_sqlite_log_is_not_restored_against_postgresql(
    data: Path, postgres_log_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with _open(data, "") as engine:  # the data directory's own SQLite log
        _traffic(engine, 0, 12)
        assert engine.snapshot() is not None
        sqlite_state = _state(engine)
    with caplog.at_level(logging.WARNING), _open(data, postgres_log_url) as engine:
        assert "folded another log" in caplog.text
        assert engine.learner.counts.n_actions == 0  # rebuilt from the (empty) PostgreSQL log
        _traffic(engine, 0, 12)  # the same traffic: a snapshot restored here would double it
        assert engine.resume()["snapshot"] is None
        assert engine.learner.counts == sqlite_state[0]  # (plans differ: costs are timings)
        assert engine.learner.counts.n_impressions == 12
    with _open(data, "") as engine:  # and back: the SQLite log's snapshot is used again
        assert engine.resume()["snapshot"] is not None
        assert _state(engine) == sqlite_state


def test_a_snapshot_of_another_schema_or_a_recreated_one_is_not_used(
    data: Path, postgres_log_url: str
) -> None:
    with _open(data, postgres_log_url) as engine:
        _traffic(engine, 0, 12)
        assert engine.snapshot() is not None
        assert engine.resume()["snapshot"] is not None
    url, schema = postgres_log_url.rsplit("=", 1)
    other = f"{url}={schema}_b"
    try:
        with _open(data, other) as engine:  # another schema of the same database
            assert engine.resume()["snapshot"] is None
            assert engine.learner.counts.n_actions == 0
    finally:
        with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema}_b CASCADE")
    with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")  # the log is recreated at the same URL ...
    with _open(data, postgres_log_url) as engine:
        _traffic(engine, 100, 12)  # ... with as many events, other ones
        assert engine.resume()["snapshot"] is None

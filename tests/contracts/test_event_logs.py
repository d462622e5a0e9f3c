"""The event-log contract: every backend (SQLite embedded, PostgreSQL for scale-out) runs the
same checks, opened through ``open_event_log`` from its URL.

PostgreSQL is found at ``$LTRR_TEST_POSTGRES_URL`` (default the local server's ``test``
database); each test gets a fresh schema, dropped afterwards. Without a reachable server the
PostgreSQL cases are skipped, never failed, so the embedded default is tested anywhere.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ltrr.errors import StorageError
from ltrr.log.base import EventLog, ServingLog
from ltrr.log.events import Action, EventError, Impression, ImpressionHead, LoggedFeatures
from ltrr.log.open import open_event_log
from ltrr.log.params import LogParams
from ltrr.select.base import Plan
from ltrr.storage.sqlite import SCHEMA_VERSION
from ltrr.types import Context, EntityId

PG_URL = os.environ.get("LTRR_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
CATALOG = {"a", "b", "c", "d"}
PLAN = Plan(
    depths={"lexical": 2, "dense": 0},
    greedy={"lexical": 2, "dense": 0},
    epsilon=0.1,
    explore={"lexical": {0: 0.5, 2: 0.5}, "dense": {0: 0.5, 2: 0.5}},
    policy="ltrr",
)
FAST = LogParams(synchronous="NORMAL")


def _imp(request_id: str = "r1", t: float = 100.0, **changes: Any) -> Impression:
    imp = Impression(
        request_id=request_id,
        user_id="u1",
        session_id="s1",
        query="love story",
        context=Context(user_id="u1", device="phone", taste={"pop": 0.5}),
        plan=PLAN,
        strategy_results={"lexical": [(EntityId("a"), 2.0), (EntityId("b"), 1.5)]},
        shown=(EntityId("a"), EntityId("b")),
        catalog_version=1,
        model_versions={"ranker": "fusion"},
        event_time_s=t,
        strategy_ms={"lexical": 0.4125},
    )
    return dataclasses.replace(imp, **changes)


def _act(action_id: str = "x1", request_id: str = "r1", **changes: Any) -> Action:
    action = Action(
        action_id=action_id,
        request_id=request_id,
        user_id="u1",
        entity_id=EntityId("a"),
        kind="click",
        event_time_s=101.0,
    )
    return dataclasses.replace(action, **changes)


def _key(event: Impression | ImpressionHead | Action) -> str:
    return event.action_id if isinstance(event, Action) else event.request_id


# -- backends -----------------------------------------------------------------------------------


@dataclasses.dataclass
class Backend:
    """One store, opened as often as a test wants (several writers, readers, reopening)."""

    name: str
    url: str
    schema: str | None
    bump_version: Callable[[], None]  # the store then claims a newer schema version
    opened: list[ServingLog] = dataclasses.field(default_factory=list)

    def open(
        self,
        *,
        readonly: bool = False,
        is_known_entity: Any = CATALOG,
        params: LogParams = FAST,
    ) -> ServingLog:
        log = open_event_log(
            self.url,
            schema=self.schema,
            is_known_entity=is_known_entity,
            params=params,
            readonly=readonly,
        )
        self.opened.append(log)
        return log


def _sqlite(tmp_path: Path) -> Iterator[Backend]:
    db = tmp_path / "ltrr.sqlite"

    def bump() -> None:
        conn = sqlite3.connect(db)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        conn.close()

    yield Backend("sqlite", f"sqlite:///{db}", None, bump)


def _postgres(schema: str) -> Iterator[Backend]:
    import psycopg

    def bump() -> None:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f"UPDATE {schema}.ltrr_schema_version SET version = version + 1")

    yield Backend("postgres", PG_URL, schema, bump)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    # the PostgreSQL case takes conftest's fresh schema (skipped, with the reason, without a server)
    stores = (
        _sqlite(tmp_path)
        if request.param == "sqlite"
        else _postgres(request.getfixturevalue("postgres_schema"))
    )
    store = next(stores)
    try:
        yield store
    finally:
        for log in store.opened:
            log.close()
        stores.close()


@pytest.fixture
def log(backend: Backend) -> ServingLog:
    return backend.open()


# -- the contract -------------------------------------------------------------------------------


def test_is_a_serving_log(log: ServingLog) -> None:
    assert isinstance(log, EventLog)
    assert isinstance(log, ServingLog)


def test_impression_round_trip(log: ServingLog) -> None:
    imp = _imp()
    log.log_impression(imp)
    assert log.impression("r1") == imp  # queued or stored: the same
    log.flush()
    assert log.stats().n_queued == 0
    assert log.impression("r1") == imp
    assert list(log.impressions()) == [imp]
    assert log.impression("nope") is None


def test_action_round_trip_and_stored_once(log: ServingLog) -> None:
    log.log_impression(_imp())
    assert log.log_action(_act(value=3.5, kind="dwell")) is True
    assert log.log_action(_act(value=3.5, kind="dwell")) is False
    assert log.log_action(_act(entity_id=EntityId("b"))) is False  # same id: changes nothing
    assert log.actions_for("r1") == [_act(value=3.5, kind="dwell")]
    stats = log.stats()
    assert (stats.n_actions, stats.n_requests_with_actions) == (1, 1)


def test_concurrent_duplicates_store_one(log: ServingLog) -> None:
    log.log_impression(_imp())
    results: list[bool] = []
    threads = [
        threading.Thread(target=lambda: results.append(log.log_action(_act()))) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]
    assert log.stats().n_actions == 1


def test_duplicate_request_id_is_ignored(log: ServingLog) -> None:
    log.log_impression(_imp())
    log.log_impression(_imp(query="other"))  # while the first is queued
    log.flush()
    log.log_impression(_imp(t=5.0))  # once it is stored
    log.flush()
    assert log.impression("r1") == _imp()
    log.log_action(_act(event_time_s=6.0))  # replayed after r1 at its stored time, 100
    assert log.stats().n_impressions == 1
    assert [type(e).__name__ for e in log.replay()] == ["Impression", "Action"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"request_id": "never-logged"}, "request_id"),
        ({"kind": "purchase"}, "kind"),
        ({"value": math.nan}, "value"),
        ({"value": -3.0}, "value"),
        ({"kind": "dwell"}, "value"),
        ({"entity_id": EntityId("never-in-catalog")}, "entity_id"),
        ({"action_id": ""}, "action_id"),
        ({"event_time_s": math.inf}, "event_time_s"),
    ],
)
def test_bad_action_names_the_field_and_writes_nothing(
    log: ServingLog, changes: dict[str, Any], field: str
) -> None:
    log.log_impression(_imp())
    log.flush()
    before, position = log.stats(), log.last_position()
    with pytest.raises(EventError, match=f"field '{field}'") as caught:
        log.log_action(_act(**changes))
    assert caught.value.field == field
    if field == "kind":
        assert "allowed: click, dislike, dwell, favourite, found" in str(caught.value)
    assert log.stats() == before
    assert log.last_position() == position
    assert log.actions_for("r1") == []


def test_a_bad_action_in_a_batch_names_its_index_and_writes_none(log: ServingLog) -> None:
    log.log_impression(_imp())
    with pytest.raises(EventError, match="event 1: field 'request_id'"):
        log.log_actions([_act("x1"), _act("x2", request_id="nope"), _act("x3")])
    assert log.actions_for("r1") == []
    assert log.log_actions([_act("x1"), _act("x1"), _act("x2", entity_id=EntityId("b"))]) == [
        True,
        False,
        True,
    ]


def test_entity_shown_or_retrieved_but_not_in_the_catalog_is_known(backend: Backend) -> None:
    log = backend.open(is_known_entity=set())
    log.log_impression(_imp())
    assert log.log_action(_act(entity_id=EntityId("b")))  # retrieved, since deleted: queued
    log.flush()
    assert log.log_action(_act("x2", entity_id=EntityId("a")))  # from the store too
    with pytest.raises(EventError, match="field 'entity_id'"):
        log.log_action(_act("x3", entity_id=EntityId("c")))


def test_action_waits_for_its_queued_impression(backend: Backend) -> None:
    log = backend.open(params=LogParams(flush_interval_ms=60_000.0, synchronous="NORMAL"))
    log.log_impression(_imp())
    assert log.n_queued() == 1
    started = time.monotonic()
    assert log.log_action(_act())  # never "unknown request"
    assert time.monotonic() - started < 5.0
    stats = log.stats()
    assert (stats.n_impressions, stats.n_actions, stats.n_queued) == (1, 1, 0)


def test_replay_by_event_time_then_log_order(log: ServingLog) -> None:
    log.log_impression(_imp("r1", t=10.0))
    log.log_impression(_imp("r2", t=20.0))
    log.log_action(_act("x1", "r1", event_time_s=25.0))
    log.log_action(_act("x2", "r2", event_time_s=15.0))  # clock behind: after r2 anyway
    log.log_impression(_imp("r3", t=25.0))  # same time as x1, logged after it
    log.log_action(_act("x3", "r1", event_time_s=12.0))
    assert [_key(e) for e in log.replay()] == ["r1", "x3", "r2", "x2", "x1", "r3"]
    assert [_key(e) for e in log.replay(since=20.0)] == ["r2", "x2", "x1", "r3"]
    assert [i.request_id for i in log.impressions(since=10.0, until=25.0)] == ["r1", "r2"]
    assert [a.action_id for a in log.actions_for("r1")] == ["x3", "x1"]


def test_events_after_pages_in_log_order(log: ServingLog) -> None:
    expected = []
    for i in range(7):
        log.log_impression(_imp(f"r{i}", t=100.0 - i))  # event time runs backwards
        expected.append(f"r{i}")
        if i % 2 == 0:
            receipt = log.submit_actions([_act(f"x{i}", f"r{i}")])
            assert receipt.wait() == [True]
            expected.append(f"x{i}")
            job = receipt.jobs[0]
            assert job is not None
            assert [a.action_id for a in log.actions_through(f"r{i}", job.seq)] == [f"x{i}"]
            assert log.actions_through(f"r{i}", job.seq - 1) == []
    log.flush()
    seen: list[tuple[int, str]] = []
    position = 0
    while page := log.events_after(position, 3):
        assert len(page) <= 3
        seen += [(seq, _key(e)) for seq, e in page]
        position = page[-1][0]
    positions = [seq for seq, _ in seen]
    assert positions == sorted(set(positions)) and positions[0] >= 1
    assert [k for _, k in seen] == expected  # log order, not event time
    assert position == log.last_position()
    heads = [e for _, e in log.events_after(0, 100) if isinstance(e, ImpressionHead)]
    assert heads[0] == ImpressionHead("r0", ("a", "b"), 100.0)


def test_acted_features_are_the_logged_arrays(log: ServingLog) -> None:
    x = np.array([[1.0, np.nan, -2.5], [0.0, 3.25, 1e-30]], dtype=np.float32)
    features = LoggedFeatures("fp-1", (EntityId("a"), EntityId("b")), x)
    log.log_impression(_imp("r1", features=features, offset=10))
    log.log_impression(_imp("r2", features=LoggedFeatures("fp-1", (), np.zeros((0, 3), "f4"))))
    log.log_impression(_imp("r3", features=features))  # never acted on: not training data
    log.log_action(_act("x1", "r1"))
    log.log_action(_act("x2", "r2"))
    log.log_action(_act("x3", "r1", entity_id=EntityId("b")))
    groups = list(log.acted_features())
    assert [g.request_id for g in groups] == ["r1", "r2"]
    first = groups[0]
    assert first.features.fingerprint == "fp-1" and first.features.ids == ("a", "b")
    assert first.features.x.dtype == np.float32
    np.testing.assert_array_equal(first.features.x, x)  # NaN in place, bit for bit
    assert (first.shown, first.offset, first.query) == (("a", "b"), 10, "love story")
    assert [a.action_id for a in first.actions] == ["x1", "x3"]
    assert groups[1].features.x.shape == (0, 3)
    assert [g.request_id for g in log.acted_features(limit=1)] == ["r2"]


def test_stats_count_what_is_stored(backend: Backend) -> None:
    log = backend.open(params=LogParams(flush_interval_ms=60_000.0, synchronous="NORMAL"))
    empty = log.stats()
    assert (empty.n_impressions, empty.n_actions, empty.first_event_time_s) == (0, 0, None)
    log.log_impression(_imp("r1", t=10.0))
    log.log_impression(_imp("r2", t=30.0))
    assert log.stats().n_queued == 2
    log.log_action(_act("x1", "r1", event_time_s=12.0))
    log.log_action(_act("x2", "r1", kind="skip", event_time_s=11.0))
    log.log_action(_act("x3", "r2", event_time_s=40.0))
    stats = log.stats()
    assert stats.to_dict() == {
        "n_impressions": 2,
        "n_actions": 3,
        "n_requests_with_actions": 2,
        "n_actions_by_kind": {"click": 2, "skip": 1},
        "n_queued": 0,
        "first_event_time_s": 10.0,
        "last_event_time_s": 40.0,
    }


def test_close_then_reopen_keeps_everything(backend: Backend) -> None:
    log = backend.open()
    log.log_impression(_imp("r1", t=5.0))
    log.log_action(_act("x1", "r1", event_time_s=5.0))
    log.log_impression(_imp("r2", t=5.0))  # still queued: close commits it
    log.close()
    log.close()  # idempotent
    with pytest.raises(StorageError, match="closed"):
        log.log_impression(_imp("r3"))
    log = backend.open()
    assert log.impression("r2") == _imp("r2", t=5.0)
    assert log.log_action(_act("x1", "r1")) is False  # still a duplicate
    log.log_action(_act("x2", "r2", event_time_s=5.0))
    assert [_key(e) for e in log.replay()] == ["r1", "x1", "r2", "x2"]
    positions = [seq for seq, _ in log.events_after(0)]
    assert positions == sorted(set(positions)) and len(positions) == 4


def test_reader_reads_and_refuses_writes(backend: Backend) -> None:
    writer = backend.open()
    writer.log_impression(_imp())
    writer.log_action(_act())
    reader = backend.open(readonly=True)
    assert [_key(e) for e in reader.replay()] == ["r1", "x1"]
    assert reader.stats().n_actions == 1 and reader.last_position() == writer.last_position()
    with pytest.raises(StorageError, match="read-only"):
        reader.log_impression(_imp("r2"))
    with pytest.raises(StorageError, match="read-only"):
        reader.log_action(_act("x2"))


def test_reader_of_an_empty_store_says_nothing_was_logged(backend: Backend) -> None:
    with pytest.raises(StorageError, match="nothing was logged"):
        backend.open(readonly=True)


def test_reader_and_writer_refuse_a_newer_schema(backend: Backend) -> None:
    backend.open().close()
    backend.bump_version()
    with pytest.raises(StorageError, match="newer ltrr"):
        backend.open(readonly=True)
    with pytest.raises(StorageError, match="newer ltrr"):
        backend.open()


def test_two_writers_and_a_poller_see_every_event_once_in_order(backend: Backend) -> None:
    """Two replicas append at once; a third follows the log meanwhile, remembering only the
    last position it read. It must miss nothing: positions are assigned in commit order."""
    writers = [backend.open(), backend.open()]
    follower = backend.open(readonly=True)
    n = 60
    expected: set[str] = set()

    def write(log: ServingLog, tag: str) -> None:
        for i in range(n):
            log.log_impression(_imp(f"{tag}r{i}", t=float(i)))
            if i % 2 == 0:
                log.log_action(_act(f"{tag}x{i}", f"{tag}r{i}"))
        log.flush()

    for tag in "AB":
        expected |= {f"{tag}r{i}" for i in range(n)} | {f"{tag}x{i}" for i in range(0, n, 2)}
    polled: list[tuple[int, str]] = []
    done = threading.Event()

    def poll() -> None:
        position = 0
        while True:
            finished = done.is_set()  # read before the page: a last full pass after the end
            page = follower.events_after(position, 7)
            polled.extend((seq, _key(e)) for seq, e in page)
            position = page[-1][0] if page else position
            if finished and len(page) < 7:
                return
            if not page:
                time.sleep(0.001)

    threads = [
        threading.Thread(target=write, args=(w, t)) for w, t in zip(writers, "AB", strict=True)
    ]
    poller = threading.Thread(target=poll)
    poller.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    poller.join(timeout=60)
    assert not poller.is_alive()
    positions = [seq for seq, _ in polled]
    assert all(a < b for a, b in itertools.pairwise(positions))
    assert sorted(k for _, k in polled) == sorted(expected)  # each exactly once
    everything = [(seq, _key(e)) for seq, e in follower.events_after(0, 10_000)]
    assert everything == polled


CHILD = """
import sys
from ltrr.log.events import Action, Impression
from ltrr.log.open import open_event_log
from ltrr.select.base import Plan
from ltrr.types import Context

log = open_event_log(sys.argv[1], schema=sys.argv[2] or None, is_known_entity=lambda e: True)
plan = Plan(depths={"lexical": 1}, greedy={"lexical": 1})
log.log_impression(Impression(
    request_id="r", user_id=None, session_id=None, query="q", context=Context(), plan=plan,
    strategy_results={"lexical": [("e", 1.0)]}, shown=("e",), catalog_version=0,
    event_time_s=1.0))
i = 0
while True:
    log.log_action(Action(action_id=f"a{i}", request_id="r", user_id=None, entity_id="e",
                          kind="click", event_time_s=2.0 + i))
    print(f"a{i}", flush=True)
    if i % 50 == 0:
        log.log_impression(Impression(
            request_id=f"r{i}", user_id=None, session_id=None, query="q", context=Context(),
            plan=plan, strategy_results={}, shown=(), catalog_version=0, event_time_s=1.0))
    i += 1
"""


def test_acknowledged_actions_survive_sigkill(backend: Backend, tmp_path: Path) -> None:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    child = subprocess.Popen(
        [sys.executable, str(script), backend.url, backend.schema or ""],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    acked = []
    try:
        for line in child.stdout:
            acked.append(line.strip())
            if len(acked) >= 200:
                break
    finally:
        os.kill(child.pid, signal.SIGKILL)
        rest, err = child.communicate(timeout=30)
    acked += rest.split()  # printed before the kill: acknowledged too
    assert len(acked) >= 200, err
    log = backend.open(is_known_entity=lambda e: True)
    stored = {a.action_id for a in log.actions_for("r")}
    assert set(acked) <= stored

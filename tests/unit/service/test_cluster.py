"""``ltrr cluster up``: two replicas on one PostgreSQL log behind HAProxy, and the crash test
through the front address (the service's crash test, ``test_crash.py``, with one of two
replicas killed by SIGKILL in the middle of a feedback burst).

Each trial starts the cluster on the same data directory and the same log schema (so every
start after the first reuses the replica copies and follows a log that already holds the
earlier trials), searches through the front until both replicas have answered, sends feedback
through the front for searches either replica served, then bursts 500 feedback requests from
several threads and kills one replica after a random number of acknowledgements. Then every
acknowledged action id is in the PostgreSQL log, the surviving replica answers every search
through the front, learns every stored action by following the log, and the cluster reports
the dead replica. Skipped without a PostgreSQL server or HAProxy.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from ltrr.cli.app import app
from ltrr.config import load_config
from ltrr.errors import ConfigError
from ltrr.log.events import Action
from ltrr.log.postgres_log import PostgresEventLog
from ltrr.service import cluster
from ltrr.storage.datadir import DataDir
from ltrr.types import Entity, EntityId

SRC = Path(__file__).resolve().parents[3] / "src"
STRATEGIES = ["lexical", "fuzzy", "memory"]
N_ENTITIES = 300
N_FEEDBACK = 500
N_THREADS = 6
N_TRIALS = 5
WORDS = ["love", "night", "blue", "summer", "rain", "drive", "gem", "story", "monday", "dream"]
QUERIES = ["love night", "blue summer", "rain drive", "gem story", "monday dream", "love 12"]
KINDS = ["click", "play", "like", "found", "skip", "dislike"]
START_TIMEOUT_S = 120.0

try:
    HAPROXY: str | None = cluster.find_haproxy()
except ConfigError:
    HAPROXY = None
needs_haproxy = pytest.mark.skipif(HAPROXY is None, reason="haproxy is not installed")


def build_catalog(path: Path, entities: list[Entity]) -> Path:
    with DataDir(path, load_config(data_dir=path), writer=True) as dd, dd.catalog.change() as c:
        c.upsert(entities)
    return path


def _build(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "ltrr.toml").write_text(f"[select]\nstrategies = {STRATEGIES!r}\n".replace("'", '"'))
    entities = [
        Entity(
            id=EntityId(f"e{i:03d}"),
            type="track",
            title=f"{WORDS[i % 10].title()} {WORDS[i // 10 % 10].title()} {i}",
            fields={"artist": f"Artist {i % 17}"},
            popularity=float(i % 11),
        )
        for i in range(N_ENTITIES)
    ]
    return build_catalog(path, entities)


# -- the parts that need no server -------------------------------------------------------------


def test_the_log_must_be_postgresql_and_its_schema_is_named_after_the_directory() -> None:
    data = Path("/srv/My Music-2")
    assert cluster.cluster_log_url("", data) == f"{cluster.LOCAL_POSTGRES}?schema=ltrr_my_music_2"
    url = "postgresql://u:secret@db:5432/x?schema=s1&sslmode=disable"
    assert cluster.cluster_log_url(url, data) == url
    assert cluster.shown_url(url) == "postgresql://u@db:5432/x?schema=s1&sslmode=disable"
    for bad in ("sqlite:///ltrr.sqlite", "mysql://u:secret@db/x"):
        with pytest.raises(ConfigError, match="must be on PostgreSQL") as caught:
            cluster.cluster_log_url(bad, data)
        assert "secret" not in str(caught.value)


def test_replicas_are_copied_once_and_again_when_the_catalog_changes(tmp_path: Path) -> None:
    data = _build(tmp_path / "data")
    first = cluster.prepare_replicas(data, 2)
    assert [p.name for p in first] == ["r0", "r1"]
    assert all((p / "ltrr.sqlite").is_file() and (p / "ltrr.toml").is_file() for p in first)
    marker = first[0] / "marker"
    marker.write_text("kept")
    assert cluster.prepare_replicas(data, 2) == first and marker.exists()  # reused
    build_catalog(data, [Entity(id=EntityId("new"), type="track", title="New One")])
    cluster.prepare_replicas(data, 2)
    assert not marker.exists()  # copied again: the catalog version moved
    assert cluster.catalog_version(first[0]) == cluster.catalog_version(data) == 2


def test_the_proxy_config_balances_round_robin_with_health_checks() -> None:
    text = cluster.haproxy_config("127.0.0.1", 8000, [9001, 9002])
    assert "bind 127.0.0.1:8000" in text and "balance roundrobin" in text
    assert "option httpchk GET /healthz" in text
    assert "server r0 127.0.0.1:9001 check" in text and "server r1 127.0.0.1:9002 check" in text


# -- the cluster as a process ------------------------------------------------------------------


@dataclass
class Cluster:
    process: subprocess.Popen[str]
    front: str
    replica_pid: dict[str, int]
    output: list[str] = field(default_factory=list)

    def text(self) -> str:
        return "".join(self.output)[-4000:]


@pytest.fixture
def clusters(tmp_path: Path) -> Iterator[Callable[[Path, str], Cluster]]:
    """Starts ``ltrr cluster up``; every cluster (and replica) started is stopped at the end."""
    started: list[Cluster] = []

    def start(data: Path, log_url: str) -> Cluster:
        port = cluster.free_port()
        env = {**os.environ, "PYTHONPATH": str(SRC), "HF_HUB_OFFLINE": "1"}
        env.update(PYTHONUNBUFFERED="1", COLUMNS="200")
        env.pop("LTRR_SEARCH_KEYS", None)
        env.pop("LTRR_ADMIN_KEYS", None)
        command = [sys.executable, "-m", "ltrr.cli.app", "cluster", "up", "--data", str(data)]
        command += ["--port", str(port), "--log-url", log_url]
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        running = Cluster(process, "", {})
        started.append(running)
        threading.Thread(target=_read, args=(running,), daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not running.front or len(running.replica_pid) < 2:
            assert process.poll() is None, f"the cluster exited:\n{running.text()}"
            assert time.monotonic() < deadline, f"the cluster did not start:\n{running.text()}"
            time.sleep(0.05)
        return running

    try:
        yield start
    finally:
        for running in started:
            _stop(running)


def _read(running: Cluster) -> None:
    assert running.process.stdout is not None
    for line in running.process.stdout:
        running.output.append(line)
        if m := re.match(r"front (http://\S+)", line):
            running.front = m.group(1)
        elif m := re.match(r"replica (r\d) \S+ pid (\d+)", line):
            running.replica_pid[m.group(1)] = int(m.group(2))


def _stop(running: Cluster) -> None:
    if running.process.poll() is not None:
        return
    running.process.send_signal(signal.SIGTERM)  # the cluster stops its replicas and proxy
    try:
        running.process.wait(timeout=40)
    except subprocess.TimeoutExpired:
        running.process.kill()
        running.process.wait()
        for pid in running.replica_pid.values():  # never left behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


# -- one trial ----------------------------------------------------------------------------------


@dataclass
class Burst:
    kill_after: int
    acked: set[str] = field(default_factory=set)
    n_acked: int = 0
    failed: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    reached: threading.Event = field(default_factory=threading.Event)

    def ack(self, action_ids: list[str]) -> None:
        with self.lock:
            self.acked.update(action_ids)
            self.n_acked += 1
            if self.n_acked >= self.kill_after:
                self.reached.set()

    def fail(self, what: str) -> None:
        with self.lock:
            self.failed.append(what)


def _search(client: httpx.Client, query: str) -> tuple[str, list[str], str]:
    response = client.post("/v1/search", json={"query": query, "k": 10})
    response.raise_for_status()
    body = response.json()
    return (
        body["request_id"],
        [r["id"] for r in body["results"]],
        response.headers["x-ltrr-replica"],
    )


def _action(
    rng: random.Random, action_id: str, pool: list[tuple[str, list[str], str]]
) -> dict[str, Any]:
    request_id, shown, _ = rng.choice(pool)
    entity = rng.choice(shown) if shown else f"e{rng.randrange(N_ENTITIES):03d}"
    return {"action_id": action_id, "request_id": request_id, "entity_id": entity,
            "kind": rng.choice(KINDS)}  # fmt: skip


def _worker(url: str, seed: int, n_items: int, prefix: str, pool: list[Any], burst: Burst) -> None:
    """Feedback singles and small batches; a request that fails is counted, not acknowledged."""
    rng = random.Random(seed)
    with httpx.Client(base_url=url, timeout=30.0) as client:
        for i in range(n_items):
            actions = [_action(rng, f"{prefix}-{i}-{j}", pool) for j in range(_size(rng))]
            try:
                if len(actions) == 1:
                    response = client.post("/v1/feedback", json=actions[0])
                else:
                    response = client.post("/v1/feedback/batch", json={"actions": actions})
            except httpx.TransportError as exc:
                burst.fail(repr(exc))
                continue
            if response.status_code != 200:
                burst.fail(f"{response.status_code} {response.text[:200]}")
                continue
            burst.ack([a["action_id"] for a in actions])


def _size(rng: random.Random) -> int:
    return 1 if rng.random() < 0.8 else rng.randint(2, 5)


def _searches_on_both(front: str) -> list[tuple[str, list[str], str]]:
    """Searches through the front until both replicas answered; feedback on each of them
    through the front (round robin sends some to the replica that did not serve it)."""
    with httpx.Client(base_url=front, timeout=30.0) as client:
        pool = [_search(client, q) for q in QUERIES * 2]
        assert {replica for _, _, replica in pool} == {"r0", "r1"}
        for i, (request_id, shown, _) in enumerate(pool):
            action = {"action_id": f"pre-{request_id}", "request_id": request_id,
                      "entity_id": shown[0], "kind": "click"}  # fmt: skip
            response = client.post("/v1/feedback", json=action)
            assert response.status_code == 200, response.text
            assert response.json()["status"] == "stored", (i, response.text)
    return pool


def _stored_actions(log_url: str) -> set[str]:
    with PostgresEventLog(log_url, readonly=True) as log:
        return {e.action_id for e in log.replay() if isinstance(e, Action)}


def _trial(running: Cluster, rng: random.Random, trial: int, log_url: str) -> tuple[int, list[str]]:
    pool = _searches_on_both(running.front)
    burst = Burst(kill_after=rng.randint(1, int(N_FEEDBACK * 0.8)))
    per_thread = N_FEEDBACK // N_THREADS
    threads = [
        threading.Thread(
            target=_worker,
            args=(running.front, rng.randrange(2**32), per_thread, f"t{trial}w{w}", pool, burst),
        )
        for w in range(N_THREADS)
    ]
    for thread in threads:
        thread.start()
    victim, survivor = ("r0", "r1") if trial % 2 == 0 else ("r1", "r0")
    assert burst.reached.wait(120), "the burst did not reach the kill point"
    os.kill(running.replica_pid[victim], signal.SIGKILL)
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)

    lost = burst.acked - _stored_actions(log_url)
    assert not lost, f"trial {trial}: {len(lost)} acknowledged actions lost: {sorted(lost)[:5]}"
    with httpx.Client(base_url=running.front, timeout=30.0) as client:
        answered = {_search(client, q)[2] for q in QUERIES}
        assert answered == {survivor}
        n_stored = len(_stored_actions(log_url))
        deadline = time.monotonic() + 30
        while client.get("/v1/stats").json()["learned"]["n_actions"] != n_stored:
            assert time.monotonic() < deadline, "the survivor did not learn every stored action"
            time.sleep(0.1)
    deadline = time.monotonic() + 10
    while f"replica {victim} " not in running.text() or "exited" not in running.text():
        assert time.monotonic() < deadline, f"the death was not reported:\n{running.text()}"
        time.sleep(0.1)
    return len(burst.acked), [f[:60] for f in burst.failed]


def _run_trials(
    n_trials: int, data: Path, log_url: str, start: Callable[[Path, str], Cluster]
) -> None:
    rng = random.Random(7)
    n_acked = 0
    failed: list[str] = []
    started = time.monotonic()
    for trial in range(n_trials):
        running = start(data, log_url)
        acked, unanswered = _trial(running, rng, trial, log_url)
        n_acked, failed = n_acked + acked, failed + unanswered
        _stop(running)
        assert running.process.returncode == 0, running.text()
    print(
        f"\ncluster crash test: {n_trials} trials, {n_acked} acknowledged actions, 0 lost, "
        f"{len(failed)} requests unanswered ({sorted(set(failed))[:3]}), "
        f"{time.monotonic() - started:.0f} s"
    )


@needs_haproxy
def test_a_replica_killed_behind_the_front_loses_no_acknowledged_action_5_times(
    tmp_path: Path, postgres_log_url: str, clusters: Callable[[Path, str], Cluster]
) -> None:
    """Five trials, as the scale-out issue asks of CI (31 s here with two simulations
    running)."""
    _run_trials(N_TRIALS, _build(tmp_path / "data"), postgres_log_url, clusters)


def test_cluster_up_refuses_a_log_that_is_not_postgresql(tmp_path: Path) -> None:
    data = _build(tmp_path / "data")
    command = ["cluster", "up", "--data", str(data), "--log-url", "sqlite:///ltrr.sqlite"]
    result = CliRunner().invoke(app, command)
    assert isinstance(result.exception, ConfigError)
    assert "must be on PostgreSQL" in str(result.exception)
    assert not (data / cluster.REPLICAS_DIR).exists()

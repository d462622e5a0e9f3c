"""The crash test: a real ``ltrr serve`` killed with SIGKILL in the middle of a feedback burst.

Each trial starts the server on the same data directory (so every start after the first is a
restart after a crash), logs some searches, sends 1,000 feedback requests (singles and small
batches, some repeated, some on searches made during the burst) from several client threads,
and kills the server after a random number of acknowledged responses. Then:

* every action the server acknowledged (a 2xx) is in the log: an acknowledgement means durable;
* what the engine learns on opening the directory (``Engine.open`` replays the log) equals a
  fresh ``Engine.replay``, and the next server start reports the same learned counts and the
  same memory scores.

Loopback only; every server process is killed when the test ends, whatever happens.
"""

from __future__ import annotations

import os
import random
import socket
import sqlite3
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

from ltrr.config import load_config
from ltrr.engine import Engine
from ltrr.storage.datadir import DataDir
from ltrr.types import Context, Entity, EntityId

SRC = Path(__file__).resolve().parents[3] / "src"
STRATEGIES = ["lexical", "fuzzy", "memory"]
N_ENTITIES = 300
N_FEEDBACK = 1000
N_THREADS = 6
START_TIMEOUT_S = 60.0
QUERIES = ["song 7", "artist three", "blue night", "summer", "rain drive", "gem 12", "love"]
WORDS = ["love", "night", "blue", "summer", "rain", "drive", "gem", "story", "monday", "dream"]
KINDS = ["click", "play", "like", "found", "skip", "dislike"]


# -- the data directory and the server --------------------------------------------------------


def _build(path: Path) -> Path:
    """300 tracks, and a config that opens the fast strategies only (no dense encoder)."""
    path.mkdir(parents=True)
    (path / "ltrr.toml").write_text(f"[select]\nstrategies = {STRATEGIES!r}\n".replace("'", '"'))
    entities = [
        Entity(
            id=EntityId(f"e{i:03d}"),
            type="track",
            title=f"{WORDS[i % 10].title()} {WORDS[i // 10 % 10].title()} {i}",
            fields={"artist": f"Artist {('one', 'two', 'three')[i % 3]} {i % 17}"},
            popularity=float(i % 11),
        )
        for i in range(N_ENTITIES)
    ]
    with DataDir(path, load_config(data_dir=path), writer=True) as dd, dd.catalog.change() as c:
        c.upsert(entities)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Callable[[Path], Server]]:
    """Starts ``ltrr serve`` on 127.0.0.1; every process started is killed at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start(data: Path) -> Server:
        port = _free_port()
        log = tmp_path / f"server-{len(started)}.log"
        env = {**os.environ, "PYTHONPATH": str(SRC), "HF_HUB_OFFLINE": "1"}
        env.pop("LTRR_SEARCH_KEYS", None)
        env.pop("LTRR_ADMIN_KEYS", None)
        with log.open("wb") as out:
            command = [sys.executable, "-m", "ltrr.cli.app", "serve", "--data", str(data)]
            command += ["--host", "127.0.0.1", "--port", str(port)]
            process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        started.append(process)
        server = Server(process, f"http://127.0.0.1:{port}", log)
        _wait_ready(server)
        return server

    try:
        yield start
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)


def _wait_ready(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"the server exited with {server.process.returncode}:\n{server.tail()}")
        try:
            if httpx.get(f"{server.url}/readyz", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    pytest.fail(f"the server was not ready after {START_TIMEOUT_S} s:\n{server.tail()}")


# -- one trial ----------------------------------------------------------------------------------


@dataclass
class Burst:
    """What the clients saw: acknowledged action ids, and the acknowledgement count."""

    kill_after: int
    acked: set[str] = field(default_factory=set)
    n_acked: int = 0
    refused: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    reached: threading.Event = field(default_factory=threading.Event)

    def ack(self, action_ids: list[str]) -> None:
        with self.lock:
            self.acked.update(action_ids)
            self.n_acked += 1
            if self.n_acked >= self.kill_after:
                self.reached.set()

    def refuse(self, what: str) -> None:
        with self.lock:
            self.refused.append(what)


def _search(client: httpx.Client, query: str) -> tuple[str, list[str]]:
    response = client.post("/v1/search", json={"query": query, "k": 10})
    response.raise_for_status()
    body = response.json()
    return body["request_id"], [r["id"] for r in body["results"]]


def _worker(
    url: str, seed: int, n_items: int, prefix: str, pool: list[tuple[str, list[str]]], burst: Burst
) -> None:
    """Send ``n_items`` feedback requests until done or the server is gone."""
    rng = random.Random(seed)
    mine = list(pool)
    sent: list[dict[str, Any]] = []
    with httpx.Client(base_url=url, timeout=30.0) as client:
        try:
            for i in range(n_items):
                if i % 25 == 24:  # a search during the burst: its impression may still be queued
                    mine.append(_search(client, rng.choice(QUERIES)))
                actions = [_action(rng, f"{prefix}-{i}-{j}", mine) for j in range(_size(rng))]
                if sent and rng.random() < 0.05:
                    actions = [rng.choice(sent)]  # a repeat: acknowledged, learned once
                if len(actions) == 1:
                    response = client.post("/v1/feedback", json=actions[0])
                else:
                    response = client.post("/v1/feedback/batch", json={"actions": actions})
                if response.status_code != 200:
                    burst.refuse(f"{response.status_code} {response.text[:300]}")
                    continue
                sent.extend(actions)
                burst.ack([a["action_id"] for a in actions])
        except httpx.TransportError:
            return  # killed
        except Exception as exc:  # a failed search: reported, and the burst is not waited for
            burst.refuse(repr(exc))


def _size(rng: random.Random) -> int:
    return 1 if rng.random() < 0.8 else rng.randint(2, 5)


def _action(
    rng: random.Random, action_id: str, pool: list[tuple[str, list[str]]]
) -> dict[str, Any]:
    """An action on a recent search: mostly on a shown result, else on any entity."""
    request_id, shown = rng.choice(pool[-20:])
    entity = (
        rng.choice(shown) if shown and rng.random() < 0.8 else f"e{rng.randrange(N_ENTITIES):03d}"
    )
    return {"action_id": action_id, "request_id": request_id, "entity_id": entity,
            "kind": rng.choice(KINDS)}  # fmt: skip


def _burst(server: Server, rng: random.Random, trial: int) -> Burst:
    with httpx.Client(base_url=server.url, timeout=30.0) as client:
        pool = [_search(client, query) for query in QUERIES * 2]
    burst = Burst(kill_after=rng.randint(1, int(N_FEEDBACK * 0.9)))
    per_thread = N_FEEDBACK // N_THREADS + 1
    threads = [
        threading.Thread(
            target=_worker,
            args=(server.url, rng.randrange(2**32), per_thread, f"t{trial}w{w}", pool, burst),
        )
        for w in range(N_THREADS)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 120
    while not burst.reached.wait(0.01) and any(t.is_alive() for t in threads):
        assert time.monotonic() < deadline, "the burst did not finish"
    server.process.kill()  # SIGKILL: no shutdown, no flush
    server.process.wait(timeout=30)
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    return burst


# -- the checks ---------------------------------------------------------------------------------


def _stored_actions(data: Path) -> set[str]:
    with sqlite3.connect(data / "ltrr.sqlite") as conn:
        return {row[0] for row in conn.execute("SELECT action_id FROM actions")}


@dataclass(frozen=True)
class Learned:
    counts: tuple[int, ...]
    memory: dict[str, dict[str, float]]


def _learned(engine: Engine) -> Learned:
    c = engine.learner.counts
    memory = engine.indexes.retrievers["memory"]
    scores = {}
    for query in QUERIES:
        understood = engine.indexes.understander.understand(query)
        found = memory.retrieve(understood, Context(), 20)
        scores[query] = {x.entity_id: round(x.score, 9) for x in found}
    counts = (c.n_impressions, c.n_actions, c.n_wanted, c.n_found, engine.learner.n_policy_updates)
    return Learned(counts, scores)


def _replayed(data: Path) -> Learned:
    """What opening the directory learns (a replay), checked against a second, fresh replay."""
    with Engine.open(data, load_config(data_dir=data), writer=True) as engine:
        on_open = _learned(engine)
        engine.replay()
        assert _learned(engine) == on_open
    return on_open


def _served_state(server: Server) -> Learned:
    """The learned counts and memory scores of a freshly started server (before it searches)."""
    with httpx.Client(base_url=server.url, timeout=30.0) as client:
        learned = client.get("/v1/stats").json()["learned"]
        counts = tuple(learned[k] for k in ("n_impressions", "n_actions", "n_wanted", "n_found"))
        counts += (learned["n_policy_updates"],)
        scores = {}
        for query in QUERIES:
            body = {"query": query, "k": 20, "strategies": ["memory"], "depth": 20}
            results = client.post("/v1/search", json=body).json()["results"]
            scores[query] = {r["id"]: round(r["found_by"]["memory"]["score"], 9) for r in results}
    return Learned(counts, scores)


def _run_trials(
    n_trials: int, seed: int, data: Path, start: Callable[[Path], Server]
) -> tuple[int, int]:
    """``n_trials`` crashes on one data directory; (acknowledged actions, lost ones)."""
    rng = random.Random(seed)
    expected: Learned | None = None
    n_acked = n_lost = 0
    for trial in range(n_trials + 1):
        server = start(data)
        if expected is not None:  # a restart after the crash: learned state is the replay's
            served = _served_state(server)
            assert served.counts == expected.counts, server.tail()
            assert served.memory == expected.memory
        if trial == n_trials:
            break
        burst = _burst(server, rng, trial)
        lost = burst.acked - _stored_actions(data)
        n_acked += len(burst.acked)
        n_lost += len(lost)
        assert not lost, f"trial {trial}: {len(lost)} acknowledged actions lost: {sorted(lost)[:5]}"
        assert not burst.refused, burst.refused[:5]
        expected = _replayed(data)
        assert expected.counts[1] == len(_stored_actions(data))  # every stored action learned
        assert any(expected.memory.values())  # memory learned something to compare
    return n_acked, n_lost


def test_a_killed_server_loses_no_acknowledged_action(
    tmp_path: Path, servers: Callable[[Path], Server]
) -> None:
    n_acked, n_lost = _run_trials(5, seed=1, data=_build(tmp_path / "data"), start=servers)
    print(f"\ncrash test: 5 trials, {n_acked} acknowledged actions, {n_lost} lost")


@pytest.mark.slow
def test_a_killed_server_loses_no_acknowledged_action_100_times(
    tmp_path: Path, servers: Callable[[Path], Server]
) -> None:
    """Ten data directories, ten crashes each (the log, and so each replay, stays small)."""
    n_acked = n_lost = 0
    for round_ in range(10):
        data = _build(tmp_path / f"data-{round_}")
        acked, lost = _run_trials(10, seed=100 + round_, data=data, start=servers)
        n_acked, n_lost = n_acked + acked, n_lost + lost
    print(f"\ncrash test: 100 trials, {n_acked} acknowledged actions, {n_lost} lost")

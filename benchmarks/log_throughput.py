"""Event-log throughput beside bare SQLite, measured in the same run on the same disk.

Usage: ``python benchmarks/log_throughput.py [--impressions 20000] [--actions 1000]
[--threads 8] [--strategies 3] [--depth 50] [--shown 10] [--synchronous FULL] [--dir DIR]
[--url postgresql://...]``; prints one JSON object.

- ``impressions``: realistic impressions (``--strategies`` lists of ``--depth`` scored ids, a
  shown page of ``--shown``) through ``SqliteEventLog.log_impression`` + ``flush`` (checks,
  JSON encoding, the group-commit queue), beside the same pre-encoded rows through a bare
  ``executemany`` in transactions of ``max_batch`` rows (the ceiling: SQLite alone), and the
  encoding cost alone.
- ``actions``: durable ``log_action`` calls (checked against the catalog and the impression,
  committed before return) from 1 thread and from ``--threads`` threads, beside bare SQLite
  single-row autocommit inserts (one transaction, hence one WAL fsync under FULL, per event),
  issued from the caller's thread (``bare_autocommit``) and from a writer thread the caller
  waits on (``bare_handoff``: the log's shape without its queue, checks and look-ups; the
  like-for-like reference). ``--rounds`` interleaved rounds, medians reported: fsync time on
  a shared virtual disk drifts by several times within a minute.
- ``replay``: events per second read back in event order.
- ``unbatched_normal``: bare autocommit inserts under synchronous NORMAL (no fsync per
  commit): the "~100k events/s unbatched" reference figure.
- ``postgres`` (with ``--url``): the same impressions, actions and replay through
  ``PostgresEventLog`` in a fresh schema (``synchronous_commit = on``), beside bare psycopg on
  the same server: pipelined ``executemany`` of the pre-encoded rows in transactions of 1000,
  and single-row autocommit inserts (one commit, one WAL flush, each).
"""

from __future__ import annotations

import argparse
import os
import platform
import queue
import sqlite3
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ltrr.log.base import ServingLog
from ltrr.log.events import Action, Impression
from ltrr.log.params import LogParams
from ltrr.log.sqlite_log import SqliteEventLog
from ltrr.log.sqlite_schema import IMP_COLS, impression_row
from ltrr.select.base import Plan
from ltrr.storage.sqlite import migrate
from ltrr.types import Context, EntityId

STRATEGIES = ("lexical", "dense", "fuzzy", "memory", "structured", "popular")


def _impressions(n: int, n_strategies: int, depth: int, n_shown: int) -> list[Impression]:
    rng = np.random.default_rng(0)
    names = STRATEGIES[:n_strategies]
    explore = {s: {0: 0.2, 10: 0.2, 25: 0.2, 50: 0.2, 100: 0.2} for s in names}
    plan = Plan(
        depths=dict.fromkeys(names, depth),
        greedy=dict.fromkeys(names, depth),
        epsilon=0.1,
        explore=explore,
        policy="ltrr",
    )
    out = []
    for i in range(n):
        ids = rng.integers(0, 1_000_000, size=(n_strategies, depth))
        scores = np.sort(rng.random((n_strategies, depth)))[:, ::-1]
        results = {
            s: list(zip([EntityId(f"e{x}") for x in ids[j]], scores[j].tolist(), strict=True))
            for j, s in enumerate(names)
        }
        out.append(
            Impression(
                request_id=f"req-{i}",
                user_id=f"user-{i % 997}",
                session_id=f"session-{i % 4999}",
                query=f"query number {i % 3000}",
                context=Context(user_id=f"user-{i % 997}", device="phone", hour=i % 24),
                plan=plan,
                strategy_results=results,
                shown=tuple(EntityId(e) for e, _ in results[names[0]][:n_shown]),
                catalog_version=1,
                model_versions={"ranker": "fusion"},
                event_time_s=1_700_000_000.0 + i,
            )
        )
    return out


def _bare(path: Path, synchronous: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    migrate(conn)
    return conn


def _bare_executemany(path: Path, rows: list[tuple[Any, ...]], sync: str, batch: int) -> float:
    conn = _bare(path, sync)
    sql = f"INSERT INTO impressions ({IMP_COLS}) VALUES ({', '.join('?' * (len(rows[0]) + 1))})"
    started = time.perf_counter()
    for lo in range(0, len(rows), batch):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, [(lo + i + 1, *r) for i, r in enumerate(rows[lo : lo + batch])])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return len(rows) / elapsed


def _bare_autocommit(path: Path, n: int, sync: str) -> float:
    conn = _bare(path, sync)
    sql = "INSERT INTO actions VALUES (NULL, ?, 'r', NULL, 'e', 'click', NULL, 1.0, 1.0, 1)"
    started = time.perf_counter()
    for i in range(n):
        conn.execute(sql, (f"{started}-{i}",))
    elapsed = time.perf_counter() - started
    conn.close()
    return n / elapsed


def _bare_handoff(path: Path, n: int, sync: str) -> float:
    """Single-row commits on a writer thread while the caller waits: the log's shape, bare."""
    conn = _bare(path, sync)
    conn.close()
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA synchronous = {sync}")
    sql = "INSERT INTO actions VALUES (NULL, ?, 'r', NULL, 'e', 'click', NULL, 1.0, 1.0, 1)"
    jobs: queue.Queue[tuple[str, threading.Event] | None] = queue.Queue()

    def writer() -> None:
        while (job := jobs.get()) is not None:
            conn.execute(sql, (job[0],))
            job[1].set()

    thread = threading.Thread(target=writer)
    thread.start()
    started = time.perf_counter()
    for i in range(n):
        done = threading.Event()
        jobs.put((f"{started}-{i}", done))
        done.wait()
    elapsed = time.perf_counter() - started
    jobs.put(None)
    thread.join()
    conn.close()
    return n / elapsed


#: Opens a log on one store (``is_known_entity`` given): SQLite at a path, or PostgreSQL.
Opener = Callable[[Callable[[EntityId], bool] | set[str]], ServingLog]


def _sqlite_opener(path: Path, params: LogParams) -> Opener:
    return lambda known: SqliteEventLog(path, is_known_entity=known, params=params)


def _log_impressions(open_log: Opener, imps: list[Impression]) -> float:
    log = open_log(lambda e: True)
    try:
        started = time.perf_counter()
        for imp in imps:
            log.log_impression(imp)
        log.flush()
        return len(imps) / (time.perf_counter() - started)
    finally:
        log.close()


def _log_actions(
    open_log: Opener, imps: list[Impression], n: int, n_threads: int, tag: str
) -> float:
    log = open_log({e for imp in imps[:100] for e in imp.shown})
    try:
        per_thread = n // n_threads

        def run(t: int) -> None:
            for i in range(per_thread):
                imp = imps[(t * per_thread + i) % 100]
                log.log_action(
                    Action(
                        action_id=f"{tag}-{t}-{i}",
                        request_id=imp.request_id,
                        user_id=imp.user_id,
                        entity_id=imp.shown[i % len(imp.shown)],
                        kind="click",
                        event_time_s=imp.event_time_s + 5.0,
                    )
                )

        threads = [threading.Thread(target=run, args=(t,)) for t in range(n_threads)]
        started = time.perf_counter()
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        return per_thread * n_threads / (time.perf_counter() - started)
    finally:
        log.close()


def _replay(log: ServingLog) -> tuple[float, int]:
    try:
        started = time.perf_counter()
        n = sum(1 for _ in log.replay())
        return n / (time.perf_counter() - started), n
    finally:
        log.close()


def _pg_bare(
    url: str, schema: str, rows: list[tuple[Any, ...]], n_actions: int
) -> dict[str, float]:
    """Bare psycopg on the same server: pre-encoded impression rows by pipelined executemany in
    transactions of 1000 (the ceiling), and single-row autocommit inserts (one commit each)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET synchronous_commit TO on")
        conn.execute(f"CREATE TABLE {schema}.bare_imps (LIKE {schema}.impressions INCLUDING ALL)")
        conn.execute(f"CREATE TABLE {schema}.bare_acts (id text PRIMARY KEY, t float8 NOT NULL)")
        sql = f"INSERT INTO {schema}.bare_imps ({IMP_COLS}) VALUES ({', '.join(['%s'] * 15)})"
        started = time.perf_counter()
        for lo in range(0, len(rows), 1000):
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(sql, [(lo + i + 1, *r) for i, r in enumerate(rows[lo : lo + 1000])])
        imps = len(rows) / (time.perf_counter() - started)
        started = time.perf_counter()
        for i in range(n_actions):
            conn.execute(f"INSERT INTO {schema}.bare_acts VALUES (%s, 1.0)", (f"b{i}",))
        acts = n_actions / (time.perf_counter() - started)
        conn.execute(f"DROP TABLE {schema}.bare_imps, {schema}.bare_acts")
    return {"imps": imps, "acts": acts}


def _postgres(
    url: str, imps: list[Impression], rows: list[tuple[Any, ...]], args: argparse.Namespace
) -> dict[str, Any]:
    """The log's measurements on ``PostgresEventLog`` in a fresh schema (dropped afterwards),
    beside bare psycopg on the same server."""
    import psycopg

    from ltrr.log.postgres_log import PostgresEventLog

    schema = f"ltrr_bench_{uuid.uuid4().hex[:12]}"
    params = LogParams(synchronous=args.synchronous)

    def open_log(known: Callable[[EntityId], bool] | set[str]) -> ServingLog:
        return PostgresEventLog(url, schema=schema, is_known_entity=known, params=params)

    try:
        ltrr_imps = _log_impressions(open_log, imps)
        rounds: dict[str, list[float]] = {"ltrr_1": [], "ltrr_n": [], "bare_imps": [], "bare": []}
        for k in range(args.rounds):
            bare = _pg_bare(url, schema, rows, args.actions)
            rounds["bare_imps"].append(bare["imps"])
            rounds["bare"].append(bare["acts"])
            rounds["ltrr_1"].append(_log_actions(open_log, imps, args.actions, 1, f"s{k}"))
            rounds["ltrr_n"].append(
                _log_actions(open_log, imps, args.actions, args.threads, f"p{k}")
            )
        replay_rate, n_events = _replay(PostgresEventLog(url, schema=schema, readonly=True))
        with psycopg.connect(url) as conn:
            settings = {
                name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
                for name in ("server_version", "fsync", "wal_sync_method", "synchronous_commit")
            }
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    med = {name: statistics.median(rates) for name, rates in rounds.items()}
    return {
        "server": settings,
        "impressions": {
            "ltrr_per_s": round(ltrr_imps, 1),
            "bare_executemany_per_s": round(med["bare_imps"], 1),
            "vs_bare": round(ltrr_imps / med["bare_imps"], 3),
        },
        "actions": {
            "ltrr_1_thread_per_s": round(med["ltrr_1"], 1),
            f"ltrr_{args.threads}_threads_per_s": round(med["ltrr_n"], 1),
            "bare_autocommit_per_s": round(med["bare"], 1),
            "vs_bare_1_thread": round(med["ltrr_1"] / med["bare"], 3),
            "rounds": {name: [round(x, 1) for x in rates] for name, rates in rounds.items()},
        },
        "replay": {"events_per_s": round(replay_rate, 1), "events": n_events},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--impressions", type=int, default=20_000)
    ap.add_argument("--actions", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--strategies", type=int, default=3)
    ap.add_argument("--depth", type=int, default=50)
    ap.add_argument("--shown", type=int, default=10)
    ap.add_argument("--synchronous", default="FULL")
    ap.add_argument("--dir", type=Path, default=None)
    ap.add_argument(
        "--url",
        default=None,
        help="also measure PostgresEventLog at this postgresql:// URL (a fresh schema, dropped)",
    )
    args = ap.parse_args()
    sync = args.synchronous
    params = LogParams(synchronous=sync)
    base = args.dir or Path(tempfile.mkdtemp(prefix="ltrr-log-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    imps = _impressions(args.impressions, args.strategies, args.depth, args.shown)

    started = time.perf_counter()
    rows = [impression_row(imp) for imp in imps]
    encode_rate = len(imps) / (time.perf_counter() - started)
    bytes_per_impression = sum(len(c) for r in rows[:1000] for c in r if isinstance(c, str)) / min(
        1000, len(rows)
    )
    bare_many = _bare_executemany(base / "bare-many.sqlite", rows, args.synchronous, 1000)
    log = _sqlite_opener(base / "log.sqlite", params)
    ltrr_imps = _log_impressions(log, imps)
    rounds: dict[str, list[float]] = {"bare": [], "handoff": [], "ltrr_1": [], "ltrr_n": []}
    for k in range(args.rounds):  # interleaved: disk speed drifts, every path sees the drift
        rounds["bare"].append(_bare_autocommit(base / "bare-one.sqlite", args.actions, sync))
        rounds["handoff"].append(_bare_handoff(base / "bare-handoff.sqlite", args.actions, sync))
        rounds["ltrr_1"].append(_log_actions(log, imps, args.actions, 1, f"s{k}"))
        rounds["ltrr_n"].append(_log_actions(log, imps, args.actions, args.threads, f"p{k}"))
    med = {name: statistics.median(rates) for name, rates in rounds.items()}
    replay_rate, n_events = _replay(SqliteEventLog(base / "log.sqlite", readonly=True))
    normal_one = _bare_autocommit(base / "bare-normal.sqlite", 20_000, "NORMAL")

    def r(x: float) -> float:
        return round(x, 1)

    report = {
        "setup": {
            "synchronous": args.synchronous,
            "impressions": args.impressions,
            "actions": args.actions,
            "threads": args.threads,
            "strategies": args.strategies,
            "depth": args.depth,
            "shown": args.shown,
            "bytes_per_impression": round(bytes_per_impression),
            "sqlite": sqlite3.sqlite_version,
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "dir": str(base),
        },
        "impressions": {
            "ltrr_per_s": r(ltrr_imps),
            "bare_executemany_per_s": r(bare_many),
            "vs_bare": round(ltrr_imps / bare_many, 3),
            "encode_only_per_s": r(encode_rate),
        },
        "actions": {
            "ltrr_1_thread_per_s": r(med["ltrr_1"]),
            f"ltrr_{args.threads}_threads_per_s": r(med["ltrr_n"]),
            "bare_autocommit_per_s": r(med["bare"]),
            "bare_handoff_per_s": r(med["handoff"]),
            "vs_bare_handoff_1_thread": round(med["ltrr_1"] / med["handoff"], 3),
            f"vs_bare_handoff_{args.threads}_threads": round(med["ltrr_n"] / med["handoff"], 3),
            "rounds": {name: [r(x) for x in rates] for name, rates in rounds.items()},
        },
        "replay": {"events_per_s": r(replay_rate), "events": n_events},
        "unbatched_normal": {"bare_autocommit_per_s": r(normal_one)},
    }
    if args.url:
        report["postgres"] = _postgres(args.url, imps, rows, args)
    print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()

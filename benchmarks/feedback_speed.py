"""Durable feedback ingestion in process: ``Engine.feedback_many`` and ``Engine.feedback`` beside
bare SQLite, measured in the same run on the same disk.

Usage: ``python benchmarks/feedback_speed.py --data DIR [--searches 2000] [--actions 20000]
[--batch 1000] [--threads 8,64] [--rounds 3] [--spacing-s 0.01]``; prints one JSON object. DIR
is a data directory (``ltrr demo``); it is copied, never written.

Durable means acknowledged only once the commit is on disk: the log's own settings
(``[log] synchronous``, FULL by default: one WAL fsync per group commit). Every action names a
real logged impression: ``--searches`` real searches (the mixed query set of ``_queries``)
are logged through the engine, then copied under new request ids, one copy per action, with
event times ``--spacing-s`` apart (traffic at 1 / spacing searches per second, so requests
settle as event time goes on), and each action clicks one of its copy's shown results. Each
round's copies are logged when the round starts and folded by the worker engine before it is
measured, as a service worker folds every impression within a fraction of a second of its
commit while users act seconds later. A round measures, on fresh impressions:

- ``batched_now``: ``feedback_many`` with ``--batch`` actions a call, learning on the
  acknowledgement path (the default: learned when the call returns);
- ``batched_background``: the same with ``learn="background"`` (acknowledged once durable,
  folded by the learning thread): the acknowledgement rate, the fold rate (actions learned
  per second from the first call until ``live.wait()`` returns) and the lag (how long after
  the last acknowledgement the last action was learned);
- ``batched_serve``: the same batches through an engine opened as a service worker is
  (``serve=True``, beside the writer): acknowledged once durable, learned only by following the
  log; then one ``follow()``, whose events per second are the fold rate (every event logged
  since its last follow, the writer's included) and whose duration is the lag;
- ``threads_N``: ``--threads`` callers of ``Engine.feedback`` (one action a call), both modes;
- references: bare ``sqlite3`` on a database of the same schema, same synchronous level:
  ``executemany`` of pre-built action rows, ``--batch`` rows a transaction (the ceiling of a
  batch's durable insert) and, for the single-action callers, one autocommit insert a row.

Rates are medians of ``--rounds`` interleaved rounds (fsync time drifts on a shared disk); the
1-minute load average is reported before and after, since the machine is shared.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from ltrr.engine import Engine
from ltrr.log.events import Action
from ltrr.log.params import log_params
from ltrr.log.sqlite_schema import ACT_COLS
from ltrr.storage.sqlite import migrate
from ltrr.types import EntityId

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _queries import mixed_queries


def _searched(engine: Engine, n_searches: int) -> tuple[list[Any], float]:
    """Real searches, logged; their impressions (with a shown page) and the first's time."""
    log = engine.log
    assert log is not None
    t0 = time.time()
    rids = []
    for i, q in enumerate(mixed_queries(engine.data_dir.path, n_searches, 0)):
        if engine.search(q.text, k=10, request_id=f"s{i}", event_time_s=t0 + i).results:
            rids.append(f"s{i}")
    log.flush()
    real = [imp for imp in map(log.impression, rids) if imp is not None and imp.shown]
    return real, t0 + n_searches


def _copies(
    engine: Engine, real: list[Any], start: int, n: int, t0: float, spacing_s: float
) -> list[Any]:
    """Copies ``start`` .. ``start + n`` of the ``real`` impressions under new request ids,
    ``spacing_s`` apart from ``t0``, logged and committed."""
    log = engine.log
    assert log is not None
    copies = []
    for j in range(start, start + n):
        imp = dataclasses.replace(
            real[j % len(real)], request_id=f"c{j}", event_time_s=t0 + j * spacing_s
        )
        log.log_impression(imp)
        copies.append(imp)
    log.flush()
    return copies


def _actions(imps: list[Any], tag: str) -> list[Action]:
    return [
        Action(
            action_id=f"{tag}-{i}",
            request_id=imp.request_id,
            user_id=imp.user_id,
            entity_id=EntityId(imp.shown[i % min(3, len(imp.shown))]),
            kind="click",
            event_time_s=imp.event_time_s + 5.0,
        )
        for i, imp in enumerate(imps)
    ]


class _GcClock:
    """Seconds spent in the cyclic garbage collector while installed."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started


def _batched(engine: Engine, actions: list[Action], batch: int, learn: str) -> dict[str, float]:
    clock = _GcClock()
    gc.callbacks.append(clock)
    n_before = engine.learner.counts.n_actions
    started = time.perf_counter()
    for lo in range(0, len(actions), batch):
        if not all(engine.feedback_many(actions[lo : lo + batch], learn=learn)):
            raise RuntimeError("an action was refused as a duplicate")
    acked = time.perf_counter()
    engine.live.wait()
    learned = time.perf_counter()
    gc.callbacks.remove(clock)
    if engine.learner.counts.n_actions - n_before != len(actions):
        raise RuntimeError("not every acknowledged action was learned")
    return {
        "ack_per_s": len(actions) / (acked - started),
        "learned_per_s": len(actions) / (learned - started),
        "lag_s": learned - acked,
        "gc_share": clock.seconds / (learned - started),
    }


def _serving(engine: Engine, actions: list[Action], batch: int) -> dict[str, float]:
    """Acknowledgements of a service worker's engine (``serve=True``: learning only follows the
    log), then one ``follow()``: the fold of every event logged since its last one."""
    started = time.perf_counter()
    for lo in range(0, len(actions), batch):
        if not all(engine.feedback_many(actions[lo : lo + batch])):
            raise RuntimeError("an action was refused as a duplicate")
    acked = time.perf_counter()
    n_events = engine.follow()
    folded = time.perf_counter()
    return {
        "ack_per_s": len(actions) / (acked - started),
        "fold_events_per_s": n_events / (folded - acked),
        "fold_events": n_events,
        "lag_s": folded - acked,
    }


def _threads(engine: Engine, actions: list[Action], n_threads: int, learn: str) -> dict[str, float]:
    def run(k: int) -> None:
        for action in actions[k::n_threads]:
            engine.feedback(action, learn=learn)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(n_threads)]
    started = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    acked = time.perf_counter()
    engine.live.wait()
    learned = time.perf_counter()
    return {
        "ack_per_s": len(actions) / (acked - started),
        "learned_per_s": len(actions) / (learned - started),
        "lag_s": learned - acked,
    }


def _bare(path: Path, synchronous: str, actions: list[Action], batch: int) -> dict[str, float]:
    """Bare sqlite3 inserts of the same action rows: ``batch`` a transaction, and one each."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    migrate(conn)
    sql = f"INSERT INTO actions ({ACT_COLS}) VALUES ({', '.join('?' * 10)})"
    seq = int(conn.execute("SELECT coalesce(max(seq), 0) FROM actions").fetchone()[0])
    rows = [
        (seq + i + 1, f"bare-{seq + i}", a.request_id, a.user_id, a.entity_id, a.kind, a.value,
         a.event_time_s, a.event_time_s, a.schema_version)
        for i, a in enumerate(actions)
    ]  # fmt: skip
    started = time.perf_counter()
    for lo in range(0, len(rows), batch):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, rows[lo : lo + batch])
        conn.execute("COMMIT")
    batched = len(rows) / (time.perf_counter() - started)
    n_one = min(len(rows), 500)
    started = time.perf_counter()
    for row in rows[:n_one]:
        conn.execute(sql, (row[0] + len(rows), f"one-{row[1]}", *row[2:]))
    one = n_one / (time.perf_counter() - started)
    conn.close()
    return {"batched_per_s": batched, "autocommit_per_s": one}


def _median(rounds: list[dict[str, float]]) -> dict[str, float]:
    return {k: round(statistics.median(r[k] for r in rounds), 3) for k in rounds[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--searches", type=int, default=2000)
    ap.add_argument("--actions", type=int, default=20_000, help="per batched measurement")
    ap.add_argument("--thread-actions", type=int, default=2000, help="per threads measurement")
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--threads", default="8,64")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--spacing-s", type=float, default=0.01)
    args = ap.parse_args()
    n_threads = [int(x) for x in args.threads.split(",") if x]
    work = Path(tempfile.mkdtemp(prefix="ltrr-feedback-bench-"))
    result: dict[str, Any] = {"load_average_before": os.getloadavg(), "cpus": os.cpu_count()}
    try:
        data = work / "data"
        shutil.copytree(args.data, data, ignore=shutil.ignore_patterns("writer.lock"))
        engine = Engine.open(data, writer=True)
        synchronous = log_params(engine.data_dir.config).synchronous
        per_round = 3 * args.actions + 2 * len(n_threads) * args.thread_actions
        started = time.perf_counter()
        real, t0 = _searched(engine, args.searches)
        worker = Engine.open(data, serve=True)  # beside the writer, as a service worker is
        result["setup"] = {
            "data": str(args.data), "synchronous": synchronous, "batch": args.batch,
            "actions": args.actions, "thread_actions": args.thread_actions,
            "searches": args.searches, "impressions_copied": per_round * args.rounds,
            "spacing_s": args.spacing_s, "prepare_s": round(time.perf_counter() - started, 1),
            "sqlite": sqlite3.sqlite_version,
        }  # fmt: skip
        runs: dict[str, list[dict[str, float]]] = {}
        for r in range(args.rounds):
            imps = _copies(engine, real, r * per_round, per_round, t0, args.spacing_s)
            worker.follow()  # a service worker folds them within a fraction of a second
            todo = iter(imps)

            def take(n: int, tag: str) -> list[Action]:
                return _actions([next(todo) for _ in range(n)], f"{tag}-{r}")  # noqa: B023

            measure: list[tuple[str, Callable[[], dict[str, float]]]] = [
                ("bare", lambda: _bare(work / "bare.sqlite", synchronous,
                                       _actions(imps[: args.actions], "x"),  # noqa: B023
                                       args.batch)),
                ("batched_serve", lambda: _serving(worker, take(args.actions, "bs"),
                                                   args.batch)),
                ("batched_now", lambda: _batched(engine, take(args.actions, "bn"), args.batch,
                                                 "now")),
                ("batched_background", lambda: _batched(engine, take(args.actions, "bb"),
                                                        args.batch, "background")),
            ]  # fmt: skip
            for n in n_threads:
                for mode in ("now", "background"):
                    measure.append(
                        (
                            f"threads_{n}_{mode}",
                            lambda n=n, mode=mode: _threads(  # type: ignore[misc]
                                engine, take(args.thread_actions, f"t{n}{mode}"), n, mode
                            ),
                        )
                    )
            for name, run in measure:
                runs.setdefault(name, []).append(run())
        worker.close()
        engine.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    med = {name: _median(rounds) for name, rounds in runs.items()}
    bare = med["bare"]
    result["bare_sqlite"] = bare
    for name, m in med.items():
        if name == "bare":
            continue
        ref = bare["batched_per_s"] if name.startswith("batched") else bare["autocommit_per_s"]
        result[name] = {**m, "ack_vs_bare": round(m["ack_per_s"] / ref, 3)}
    result["rounds"] = {name: [round(r["ack_per_s"]) for r in rs] for name, rs in runs.items()
                        if name != "bare"}  # fmt: skip
    result["load_average_after"] = os.getloadavg()
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()

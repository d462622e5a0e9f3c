"""Which learned state lives where: the cost of folding the log in every replica, of starting a
replica from the shared snapshot against a full replay, and of a Redis round trip on the
request path.

Usage: ``python benchmarks/shared_state.py --data DIR [--searches 20000] [--tail 2000]
[--postgres postgresql://postgres@127.0.0.1:5432/test] [--redis redis://127.0.0.1:6379/0]``;
prints one JSON object. ``DIR`` is a prepared data directory (``ltrr demo --size N``); it is
copied, never written.

1. **Traffic**: ``--searches`` searches of the benchmarks' mixed query set (Zipf, typos, broad
   queries) with a click or "found elsewhere" on each title query, through one engine on a fresh
   PostgreSQL log schema with shared state in Redis; then a snapshot (published), then ``--tail``
   more searches.
2. **The fold**: a second data directory (a replica on a new host, same catalog and indexes)
   replays the whole log: events/s and CPU per event, i.e. what every replica pays for every
   event while it follows the log, and what a start without a snapshot costs.
3. **Start from the shared snapshot**: a third directory opens with the shared state, so its
   start fetches the published snapshot from Redis and folds only the tail: its start against
   the second's (the same index loading, then the whole log); the snapshot's size in Redis and
   the time to write, pack and publish it.
4. **A Redis read on the request path**: p50/p99 of ``HGET`` of one small field (what reading
   memory-index counters from Redis would add to a search, once per search) against the
   memory retriever's own ``retrieve`` on the same queries, in process.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _queries import mixed_queries  # noqa: E402
from ltrr.config import Config, load_config  # noqa: E402
from ltrr.engine import Engine  # noqa: E402
from ltrr.learn import snapshot  # noqa: E402
from ltrr.log.events import Action  # noqa: E402
from ltrr.storage.redis_state import RedisSharedState  # noqa: E402
from ltrr.storage.shared import Published, namespace, pack_folder  # noqa: E402
from ltrr.types import Context, EntityId  # noqa: E402


def _copy(source: Path, to: Path) -> Path:
    ignore = shutil.ignore_patterns("replicas", "snapshots", "models", "*.lock")
    shutil.copytree(source, to, ignore=ignore)
    return to


def _traffic(engine: Engine, queries: list[Any], start: int, t0: float) -> int:
    n_actions = 0
    for n, query in enumerate(queries, start=start):
        t = t0 + 30.0 * n
        response = engine.search(query.text, event_time_s=t)
        if query.target is not None:
            shown = {r.entity.id for r in response.results}
            engine.feedback(Action(action_id=f"ss-{n}", request_id=response.request_id,
                                   user_id=f"u{n % 500}", entity_id=EntityId(query.target),
                                   kind="click" if query.target in shown else "found",
                                   event_time_s=t + 5.0))  # fmt: skip
            n_actions += 1
    return n_actions


def _percentiles(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {"p50_ms": round(float(np.percentile(a, 50)), 4),
            "p99_ms": round(float(np.percentile(a, 99)), 4)}  # fmt: skip


def _request_path(engine: Engine, state: RedisSharedState, queries: list[Any]) -> dict[str, Any]:
    """One Redis HGET against one in-process memory retrieve, per query."""
    memory = engine.indexes.retrievers["memory"]
    understand = engine.indexes.understander.understand
    understood = [understand(q.text) for q in queries]
    redis = state._redis  # the bare client is the reference
    key = state.prefix + "bench:counters"
    redis.hset(key, mapping={f"e{i}": float(i) for i in range(20)})
    local, remote = [], []
    for u in understood:
        t = time.perf_counter()
        memory.retrieve(u, Context(), 10)
        local.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        redis.hget(key, "e7")
        remote.append((time.perf_counter() - t) * 1000)
    return {"memory_retrieve_in_process": _percentiles(local),
            "redis_hget_round_trip": _percentiles(remote)}  # fmt: skip


def _publish_time(state: RedisSharedState, folder: Path | None) -> float | None:
    """Seconds to pack the snapshot ``folder`` and publish it (under a name of its own)."""
    if folder is None:
        return None
    started = time.perf_counter()
    blob = pack_folder(folder)
    state.publish("bench:snapshot", Published(1, {"bytes": len(blob)}, blob, "bench"))
    return round(time.perf_counter() - started, 3)


def run(args: argparse.Namespace) -> dict[str, Any]:
    schema = f"bench_ss_{uuid.uuid4().hex[:10]}"
    log_url = f"{args.postgres}{'&' if '?' in args.postgres else '?'}schema={schema}"
    config: Config = (
        load_config(data_dir=args.data)
        .replaced("log", url=log_url)
        .replaced("storage", state_url=args.redis)
        .replaced("rank.lambdamart", retrain_every=10**9)
    )
    queries = mixed_queries(args.data, args.searches + args.tail, seed=0)
    out: dict[str, Any] = {"searches": args.searches, "tail": args.tail,
                           "load_average_before": os.getloadavg()}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        t0 = time.time()
        with Engine.open(_copy(args.data, work / "a"), config, writer=True) as a:
            assert a.log is not None
            assert a.follower is not None
            n_actions = _traffic(a, queries[: args.searches], 0, t0)
            # A writer's snapshot refolds the log first (live learning does not advance its
            # follower); a service worker's does not: packing and publishing are timed apart.
            started = time.perf_counter()
            written = a.snapshot()
            out["snapshot_with_refold_s"] = round(time.perf_counter() - started, 3)
            position = a.follower.position
            n_actions += _traffic(a, queries[args.searches :], args.searches, t0)
            a.log.flush()
            state = RedisSharedState(args.redis, namespace(a.log.identity))
            head = state.published(snapshot.shared_name(a.data_dir.config))
            out["log"] = {"n_searches": len(queries), "n_actions": n_actions,
                          "events_at_snapshot": position,
                          "events": a.log.last_position()}  # fmt: skip
            out["snapshot_in_redis_bytes"] = None if head is None else head.meta["bytes"]
            out["snapshot_pack_and_publish_s"] = _publish_time(state, written)
            out["request_path"] = _request_path(a, state, queries[:2000])
        no_shared = config.replaced("storage", state_url="")
        started = time.perf_counter()
        with Engine.open(_copy(args.data, work / "b"), no_shared, writer=True) as b:
            opened = time.perf_counter() - started  # indexes loaded, the whole log folded
            cpu, started = time.process_time(), time.perf_counter()
            replayed = b.replay()
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu
            n = replayed["log_position"]
            out["full_replay"] = {"events": n, "seconds": round(wall, 3),
                                  "events_per_s": round(n / wall),
                                  "cpu_ms_per_event": round(cpu / n * 1000, 4)}  # fmt: skip
            out["start_without_snapshot_s"] = round(opened, 3)
        started = time.perf_counter()
        with Engine.open(_copy(args.data, work / "i"), no_shared):  # no log: the indexes alone
            out["indexes_load_s"] = round(time.perf_counter() - started, 3)
        started = time.perf_counter()
        with Engine.open(_copy(args.data, work / "c"), config, writer=True) as c:
            opened = time.perf_counter() - started  # indexes, the fetched snapshot, the tail
            resumed = c.resume()  # what the start did, again: the snapshot (now local) + tail
        out["start_from_shared_snapshot_s"] = round(opened, 3)
        out["resume_from_snapshot"] = {"snapshot": resumed["snapshot"],
                                       "tail_events": resumed["log_position"] - position,
                                       "seconds": resumed["seconds"]}  # fmt: skip
        out["start_ratio_without_over_with_snapshot"] = round(
            out["start_without_snapshot_s"] / out["start_from_shared_snapshot_s"], 2
        )
        state.clear()
        state.close()
    import psycopg

    with psycopg.connect(args.postgres, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    out["load_average_after"] = os.getloadavg()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--searches", type=int, default=20_000)
    parser.add_argument("--tail", type=int, default=2_000)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    print(orjson.dumps(run(parser.parse_args()), option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()

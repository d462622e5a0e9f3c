"""The catalog on PostgreSQL beside the embedded SQLite catalog, measured in the same run.

Usage: ``python benchmarks/catalog_backends.py [--size 10000] [--lookups 2000] [--trials 30]
[--poll-ms 50] [--url postgresql://postgres@127.0.0.1:5432/test]``; prints one JSON object.
Without a reachable server the ``postgres`` part says why it was skipped.

For each backend (SQLite: a fresh data directory with the default settings, synchronous FULL;
PostgreSQL: a fresh schema, dropped afterwards, ``synchronous_commit = on``):

- ``ingest``: the ``--size`` demo entities through ``catalog.ingest.ingest`` (validated
  entities, encoded and upserted in batches of 5,000, one change) into an empty catalog, then
  again into the full one (every row an update): entities per second, wall and CPU.
- ``get_many``: a page of 10 and of 100 random ids (one call each), ``--lookups`` times, and
  ``get`` of one id: p50 / p99 in ms. The engine reads every result page this way (through its
  entity cache).
- ``catch_up_fetch``: every entity of the catalog read back as an index's catch-up after a
  change of all of them reads it, one ``get_many`` per 2,000 ids (``retrieve/indexes.py``),
  beside one ``get`` per id (what catch-up did before): wall and CPU seconds.
- ``propagation``: a replica (another connection or pool, as another process would hold)
  polls ``changes_since`` every ``--poll-ms`` in a thread, as ``Engine.follow`` does; the
  writer upserts one entity ``--trials`` times at random phases of the poll. Reported: the
  time from the writer's commit returning until the replica held the new entity
  (``changes_since`` then ``get_many``), and what one idle poll costs. The expected value is
  about half the interval plus one poll; the index update a real replica then does is not
  included (``benchmarks/catalog_visibility.py`` measures that end to end over HTTP).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ltrr.catalog.demo import generate_demo_catalog
from ltrr.catalog.ingest import ingest
from ltrr.catalog.sources import Parsed
from ltrr.config import load_config
from ltrr.storage.catalog import CatalogStore
from ltrr.storage.datadir import DataDir
from ltrr.types import Entity, EntityId

PG_URL = os.environ.get("LTRR_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _ms(values: list[float]) -> dict[str, float]:
    a = np.asarray(values) * 1000
    return {
        "p50_ms": round(float(np.percentile(a, 50)), 3),
        "p99_ms": round(float(np.percentile(a, 99)), 3),
        "mean_ms": round(float(a.mean()), 3),
        "max_ms": round(float(a.max()), 3),
    }


def _ingest_rate(store: CatalogStore, entities: list[Entity]) -> dict[str, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    report = ingest(store, (Parsed(i, e) for i, e in enumerate(entities, 1)), batch_size=5000)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "entities_per_s": round(report.n_upserted / wall),
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
    }


def _catch_up_fetch(store: CatalogStore, ids: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, fetch in (
        (
            "get_many_2000",
            lambda: [store.get_many(ids[i : i + 2000]) for i in range(0, len(ids), 2000)],
        ),
        ("get_each", lambda: [store.get(i) for i in ids]),
    ):
        wall, cpu = time.perf_counter(), time.process_time()
        fetch()
        out[name] = {"wall_s": round(time.perf_counter() - wall, 3),
                     "cpu_s": round(time.process_time() - cpu, 3)}  # fmt: skip
    return out


def _lookups(store: CatalogStore, ids: list[str], n: int) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    out: dict[str, Any] = {}
    for k in (10, 100):
        times = []
        for _ in range(n):
            page = [ids[i] for i in rng.integers(0, len(ids), k)]
            started = time.perf_counter()
            found = store.get_many(page)
            times.append(time.perf_counter() - started)
            if len(found) != len(set(page)):
                raise AssertionError("get_many lost entities")
        out[f"get_many_{k}"] = _ms(times)
    times = []
    for i in rng.integers(0, len(ids), n):
        started = time.perf_counter()
        store.get(ids[i])
        times.append(time.perf_counter() - started)
    out["get_1"] = _ms(times)
    return out


def _propagation(
    writer: CatalogStore, replica: CatalogStore, trials: int, poll_s: float
) -> dict[str, Any]:
    """Commit-to-replica delay of single-entity upserts, the replica polling ``changes_since``."""
    seen: dict[str, float] = {}
    idle: list[float] = []
    stop = threading.Event()

    def follow() -> None:
        version = replica.version()
        while not stop.is_set():
            started = time.perf_counter()
            changes = replica.changes_since(version)
            if changes.upserted:
                for entity_id in replica.get_many(changes.upserted):
                    seen.setdefault(entity_id, time.perf_counter())
            else:
                idle.append(time.perf_counter() - started)
            version = changes.version
            stop.wait(poll_s)

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    rng = np.random.default_rng(1)
    delays = []
    for trial in range(trials):
        time.sleep(float(rng.uniform(0, poll_s)))  # a random phase of the poll
        entity_id = f"propagation-{trial}-{uuid.uuid4().hex[:8]}"
        with writer.change() as change:
            change.upsert([Entity(id=EntityId(entity_id), type="track", title=entity_id)])
        committed = time.perf_counter()
        deadline = committed + 10.0
        while entity_id not in seen and time.perf_counter() < deadline:
            time.sleep(0.0005)
        delays.append(seen.get(entity_id, float("inf")) - committed)
    stop.set()
    thread.join()
    return {"poll_ms": poll_s * 1000, **_ms(delays), "idle_poll": _ms(idle or [0.0])}


def _run(
    open_pair: Callable[[], tuple[CatalogStore, CatalogStore, Callable[[], None]]],
    entities: list[Entity],
    args: argparse.Namespace,
) -> dict[str, Any]:
    writer, replica, close = open_pair()
    try:
        first = _ingest_rate(writer, entities)
        again = _ingest_rate(writer, entities)
        ids = [e.id for e in entities]
        return {
            "ingest_empty": first,
            "ingest_update": again,
            "lookups": _lookups(replica, ids, args.lookups),
            "catch_up_fetch": _catch_up_fetch(replica, ids),
            "propagation": _propagation(writer, replica, args.trials, args.poll_ms / 1000),
        }
    finally:
        close()


def _sqlite_pair(root: Path) -> tuple[CatalogStore, CatalogStore, Callable[[], None]]:
    config = load_config()
    writer = DataDir(root, config, writer=True).open()
    reader = DataDir(root, config, writer=False).open()  # what a service worker holds

    def close() -> None:
        reader.close()
        writer.close()

    return writer.catalog, reader.catalog, close


def _postgres_pair(url: str) -> tuple[CatalogStore, CatalogStore, Callable[[], None]]:
    from ltrr.storage.postgres_catalog import PostgresCatalogStore

    schema = f"bench_catalog_{uuid.uuid4().hex[:12]}"
    writer = PostgresCatalogStore(url, schema=schema)
    replica = PostgresCatalogStore(url, schema=schema, readonly=True)

    def close() -> None:
        replica.close()
        writer.close()
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")  # type: ignore[arg-type]

    return writer, replica, close


def _postgres_unreachable(url: str) -> str | None:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL not reachable at {url.rsplit('@', 1)[-1]}: {exc}".strip()
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--poll-ms", type=float, default=50.0)
    parser.add_argument("--url", default=PG_URL)
    args = parser.parse_args()
    entities = list(generate_demo_catalog(args.size, 0))
    result: dict[str, Any] = {
        "size": args.size,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    with tempfile.TemporaryDirectory() as tmp:
        result["sqlite"] = _run(lambda: _sqlite_pair(Path(tmp)), entities, args)
    reason = _postgres_unreachable(args.url)
    if reason is None:
        result["postgres"] = _run(lambda: _postgres_pair(args.url), entities, args)
        pg, lite = result["postgres"], result["sqlite"]
        result["postgres_over_sqlite"] = {
            "ingest_empty_rate": round(
                pg["ingest_empty"]["entities_per_s"] / lite["ingest_empty"]["entities_per_s"], 2
            ),
            "get_many_10_p50": round(
                pg["lookups"]["get_many_10"]["p50_ms"] / lite["lookups"]["get_many_10"]["p50_ms"],
                2,
            ),
        }
    else:
        result["postgres"] = {"skipped": reason}
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()

"""Per-entity and per-search costs, the inputs of docs/scale.md's capacity arithmetic.

Usage: ``python benchmarks/capacity.py --data DIR [--warmup 500] [--searches 2000] [--probes
200] [--url postgresql://postgres@127.0.0.1:5432/test]``; prints one JSON object. DIR is a
data directory with its indexes (``ltrr demo --size N --data DIR``); it is copied into a
temporary folder and never changed. Run it at two catalog sizes: what grows with the catalog is
the difference between them, since a constant (libraries, the query encoder) cancels out.

- ``indexes``: for every index folder (``DIR/indexes/<name>``), its bytes on disk, and the
  resident memory (VmRSS) it adds when loaded alone in a fresh process, before and after
  ``--probes`` queries through it (the lexical index reads its files through mmap, so its
  pages count once touched). Modules are imported first, so a library's own size is not
  charged to the first index that uses it. ``engine_bytes``: a whole engine (as one service
  worker holds it) after ``--probes`` searches, private and file-backed pages apart.
- ``catalog``: bytes of the catalog's rows with their indexes in SQLite (``dbstat``) and, with
  a reachable ``--url``, in a fresh PostgreSQL schema holding the same entities
  (``pg_total_relation_size`` of the ``catalog_*`` tables, after ``VACUUM ANALYZE``).
- ``log``: ``--warmup`` then ``--searches`` searches of the mixed query set through the engine
  (a click on the target when shown, else "found elsewhere": one action per title query), on
  the data directory's SQLite log and, with ``--url``, on a fresh PostgreSQL schema. Per
  backend: the process's CPU per measured search and per action (``time.process_time``, every
  thread of the process, the log's writer included; not the PostgreSQL server's), the mean
  wall ms of each pipeline stage (``stage_latency_ms``), the log's bytes per impression and
  per action (tables and their indexes; SQLite ``dbstat``, PostgreSQL
  ``pg_total_relation_size``), and the CPU every local ``postgres`` process spent during the
  measured searches (on the SQLite run, what other jobs cost the server meanwhile).
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _queries import mixed_queries
from ltrr.config import Config, load_config
from ltrr.engine import Engine
from ltrr.log.events import Action
from ltrr.retrieve.base import Retriever
from ltrr.retrieve.indexes import INDEX_DIR, component_class
from ltrr.types import Context, EntityId
from ltrr.understand.base import plain_query

PG_URL = os.environ.get("LTRR_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
CATALOG_TABLES = ("entities", "tombstones")
LOG_TABLES = ("impressions", "features", "actions")


def _rss_bytes() -> int:
    with open("/proc/self/status") as f:
        line = next(x for x in f if x.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def _disk_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _index_memory(data: Path, n_probes: int) -> dict[str, Any]:
    """In this (fresh) process: what each index adds to the resident set, one after another."""
    config = load_config(data_dir=data)
    names = sorted(p.name for p in (data / INDEX_DIR).iterdir() if p.is_dir())
    kinds = {name: component_class(name) for name in names}  # imports, not charged below
    texts = [q.text for q in mixed_queries(data, n_probes, seed=1)]
    out: dict[str, Any] = {}
    held = []
    for name in names:
        gc.collect()
        before = _rss_bytes()
        index = kinds[name].load(data / INDEX_DIR / name, config)
        loaded = _rss_bytes()
        if isinstance(index, Retriever):
            for text in texts:
                index.retrieve(plain_query(text), Context(), 50)
        held.append(index)
        out[name] = {
            "disk_bytes": _disk_bytes(data / INDEX_DIR / name),
            "rss_loaded_bytes": loaded - before,
            "rss_after_probes_bytes": _rss_bytes() - before,
        }
    return out


def _engine_memory(data: Path, n_probes: int) -> dict[str, int]:
    """A whole engine's resident set after ``n_probes`` searches, split into private memory
    (``RssAnon``: each worker process holds its own) and file pages (``RssFile``: mmapped
    index files and libraries, shared by the processes of one machine through the page
    cache)."""
    with Engine.open(data, load_config(data_dir=data), writer=False) as engine:
        for query in mixed_queries(data, n_probes, seed=2):
            engine.search(query.text)
        with open("/proc/self/status") as f:
            fields = dict(line.split(":", 1) for line in f)
        return {
            key: int(fields[name].split()[0]) * 1024
            for key, name in (("rss", "VmRSS"), ("anon", "RssAnon"), ("file", "RssFile"))
        }


def _sqlite_bytes(db: Path, tables: tuple[str, ...]) -> dict[str, int]:
    """Bytes of each table with its indexes (``dbstat`` pages)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        owner = dict(conn.execute("SELECT name, tbl_name FROM sqlite_master"))
        out = dict.fromkeys(tables, 0)
        for name, size in conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"):
            if owner.get(name) in out:
                out[owner[name]] += int(size)
        return out
    finally:
        conn.close()


def _pg_bytes(url: str, schema: str, tables: tuple[str, ...]) -> dict[str, int]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for table in tables:
            conn.execute(f"VACUUM ANALYZE {schema}.{table}")
        return {
            t: int(conn.execute("SELECT pg_total_relation_size(%s)", (f"{schema}.{t}",))
                   .fetchone()[0])  # type: ignore[index]
            for t in tables
        }  # fmt: skip


def _drop(url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def _catalog(data: Path, url: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"sqlite_bytes": _sqlite_bytes(data / "ltrr.sqlite", CATALOG_TABLES)}
    if url is None:
        return out
    from ltrr.catalog.ingest import ingest
    from ltrr.catalog.sources import Parsed
    from ltrr.storage.datadir import DataDir
    from ltrr.storage.postgres_catalog import PostgresCatalogStore

    schema = f"bench_capacity_{uuid.uuid4().hex[:12]}"
    store = PostgresCatalogStore(url, schema=schema)
    try:
        with DataDir(data, load_config(data_dir=data), writer=False) as dd:
            entities = dd.catalog.iter_entities()
            ingest(store, (Parsed(i, e) for i, e in enumerate(entities, 1)), batch_size=5000)
        tables = ("catalog_entities", "catalog_tombstones", "catalog_state")
        out["postgres_bytes"] = _pg_bytes(url, schema, tables)
    finally:
        store.close()
        _drop(url, schema)
    return out


def _postgres_server_cpu_s() -> float:
    """CPU seconds of every process named ``postgres`` on this machine (the local server's
    backends and background workers; readable as their owner or root), 0 when none is."""
    total, tick = 0, os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if text[text.index("(") + 1 : text.rindex(")")] == "postgres":
            fields = text[text.rindex(")") + 2 :].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def _traffic(data: Path, config: Config, n_warmup: int, n_searches: int) -> dict[str, Any]:
    """Searches with feedback through one engine; CPU per search and per action."""
    queries = mixed_queries(data, n_warmup + n_searches, seed=0)
    config = config.replaced("rank.lambdamart", retrain_every=10**9)
    n_actions, search_cpu, action_cpu = 0, 0.0, 0.0
    stage_ms: dict[str, float] = {}
    t0 = time.time()
    with Engine.open(data, config, writer=True) as engine:
        server_cpu = 0.0
        for n, query in enumerate(queries):
            t = t0 + 60.0 * n
            cpu = time.process_time()
            response = engine.search(query.text, event_time_s=t)
            searched = time.process_time()
            if query.target is not None:
                shown = {r.entity.id for r in response.results}
                engine.feedback(Action(action_id=f"cap-{n}", request_id=response.request_id,
                                       user_id=f"u{n % 500}", entity_id=EntityId(query.target),
                                       kind="click" if query.target in shown else "found",
                                       event_time_s=t + 5.0))  # fmt: skip
                n_actions += 1
            if n == n_warmup:
                server_cpu = _postgres_server_cpu_s()
            if n >= n_warmup:
                for stage, ms in response.stage_latency_ms.items():
                    stage_ms[stage] = stage_ms.get(stage, 0.0) + ms
                search_cpu += searched - cpu
                action_cpu += time.process_time() - searched if query.target else 0.0
        if engine.log is not None:
            engine.log.flush()  # the last impressions committed, their cost counted
        server_cpu = _postgres_server_cpu_s() - server_cpu
        n_measured_actions = sum(1 for q in queries[n_warmup:] if q.target is not None)
    return {
        "n_impressions": len(queries),
        "n_actions": n_actions,
        "cpu_ms_per_search": round(search_cpu / n_searches * 1000, 3),
        "cpu_ms_per_action": round(action_cpu / max(n_measured_actions, 1) * 1000, 3),
        "stage_mean_ms": {k: round(v / n_searches, 3) for k, v in stage_ms.items()},
        "n_measured_actions": n_measured_actions,
        "postgres_server_cpu_s": round(server_cpu, 3),
    }


def _per_event(sizes: dict[str, int], traffic: dict[str, Any]) -> dict[str, Any]:
    impression = sizes["impressions"] + sizes["features"]
    return {
        "bytes": sizes,
        "bytes_per_impression": round(impression / traffic["n_impressions"]),
        "bytes_per_action": round(sizes["actions"] / max(traffic["n_actions"], 1)),
    }


def _log(data: Path, args: argparse.Namespace) -> dict[str, Any]:
    config = load_config(data_dir=data)
    sqlite_traffic = _traffic(data, config, args.warmup, args.searches)
    out = {"sqlite": sqlite_traffic | _per_event(
        _sqlite_bytes(data / "ltrr.sqlite", LOG_TABLES), sqlite_traffic)}  # fmt: skip
    if args.url is not None:
        schema = f"bench_capacity_{uuid.uuid4().hex[:12]}"
        sep = "&" if "?" in args.url else "?"
        pg_config = config.replaced("log", url=f"{args.url}{sep}schema={schema}")
        try:
            traffic = _traffic(data, pg_config, args.warmup, args.searches)
            out["postgres"] = traffic | _per_event(_pg_bytes(args.url, schema, LOG_TABLES), traffic)
        finally:
            _drop(args.url, schema)
    return out


def _reachable(url: str) -> str | None:
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"PostgreSQL not reachable at {url.rsplit('@', 1)[-1]}: {exc}".strip()
    return None


def _in_child(part: str, data: Path, n_probes: int) -> Any:
    """``part`` measured in a fresh process, so that nothing loaded before counts."""
    done = subprocess.run(
        [sys.executable, __file__, "--part", part, "--data", str(data), "--probes", str(n_probes)],
        capture_output=True, text=True, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    return orjson.loads(done.stdout)


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="capacity-") as tmp:
        data = Path(tmp) / "data"
        shutil.copytree(args.data, data, ignore=shutil.ignore_patterns("writer.lock"))
        out: dict[str, Any] = {"data": str(args.data), "cpus": os.cpu_count()}
        with sqlite3.connect(data / "ltrr.sqlite") as conn:
            out["n_entities"] = conn.execute("SELECT COUNT(*) FROM entities").fetchone()[0]
        if args.url is not None and (reason := _reachable(args.url)) is not None:
            out["postgres_skipped"], args.url = reason, None
        out["indexes"] = _in_child("indexes", data, args.probes)
        out["engine_bytes"] = _in_child("engine", data, args.probes)
        out["catalog"] = _catalog(data, args.url)
        out["log"] = _log(data, args)
    n = out["n_entities"]
    out["per_entity"] = {
        name: {k.replace("_bytes", "_bytes_per_entity"): round(v / n, 1) for k, v in m.items()}
        for name, m in out["indexes"].items()
    } | {
        f"catalog_{backend}": round(sum(sizes.values()) / n, 1)
        for backend, sizes in (
            ("sqlite", out["catalog"]["sqlite_bytes"]),
            ("postgres", out["catalog"].get("postgres_bytes", {})),
        )
        if sizes
    }
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--searches", type=int, default=2000)
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--url", default=PG_URL, help="PostgreSQL; 'none' to skip")
    parser.add_argument("--part", choices=["indexes", "engine"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.url = None if args.url == "none" else args.url
    if args.part == "indexes":
        result: Any = _index_memory(args.data, args.probes)
    elif args.part == "engine":
        result = _engine_memory(args.data, args.probes)
    else:
        result = run(args)
    sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")


if __name__ == "__main__":
    main()

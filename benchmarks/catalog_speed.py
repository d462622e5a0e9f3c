"""Demo-catalog generation and ingest speed, beside bare baselines measured in the same run.

Usage: ``python benchmarks/catalog_speed.py [--size N] [--seed S] [--profile N] [--in-process]``;
prints one JSON object (``--profile`` adds the ingest's cProfile, top N by own time, on stderr:
the ingesting process only, not the JSONL worker that ``ltrr ingest`` starts for a large file;
``--in-process`` keeps that work in the ingesting process).

The ingested file is the demo catalog as ``write_jsonl`` writes it, so the rate is that of an
ltrr-written JSONL file, read the way ``ltrr ingest`` reads it (``load`` then ``ingest``,
strict, into a fresh data directory).

Baselines: writing the same records with ``orjson`` alone (no generation), and inserting the
same rows into SQLite with ``executemany`` in one transaction and no validation, versioning or
tombstones. Ratios say what ltrr's own work costs on top of the libraries it stands on.

Only the file is in memory while ingest runs: the baselines read it afterwards, 10,000 lines
at a time, so a ``--size 1000000`` run fits in memory and ingest's garbage collector does not
walk a million parsed records the real command would not hold. CPU seconds (the ingesting
process's and its worker's) are reported beside wall seconds because on a shared machine they
vary less.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import partial
from itertools import islice
from pathlib import Path
from typing import TypeVar

import orjson

from ltrr.catalog.demo import generate_demo_catalog
from ltrr.catalog.formats import load
from ltrr.catalog.ingest import ingest
from ltrr.catalog.jsonl import load_jsonl
from ltrr.catalog.writer import write_jsonl
from ltrr.config import Config, load_config
from ltrr.storage.datadir import DataDir

_CHUNK = 10_000
T = TypeVar("T")


def _cpu_s() -> float:
    """CPU seconds of this process and of its finished children (ingest's JSONL worker)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class _Clock:
    """Wall and CPU seconds summed over the timed sections (a worker's CPU included)."""

    def __init__(self) -> None:
        self.wall_s = 0.0
        self.cpu_s = 0.0

    def time(self, fn: Callable[[], T]) -> T:
        wall, cpu = time.perf_counter(), _cpu_s()
        result = fn()
        self.wall_s += time.perf_counter() - wall
        self.cpu_s += _cpu_s() - cpu
        return result


def _record_chunks(path: Path) -> Iterator[list[dict[str, object]]]:
    with path.open("rb") as fh:
        while lines := list(islice(fh, _CHUNK)):
            yield [orjson.loads(line) for line in lines]


def _ingest(
    path: Path, root: Path, config: Config, n_profile: int, in_process: bool
) -> tuple[_Clock, int]:
    clock = _Clock()
    profile = cProfile.Profile() if n_profile else None
    # As ``ltrr ingest`` reads it (``load``), unless told to keep the checks in this process.
    records = (
        load_jsonl(path, config.catalog, in_worker=False)
        if in_process
        else load(path, config.catalog)
    )
    with DataDir(root / "data", config, writer=True) as dd:
        if profile is not None:
            profile.enable()
        report = clock.time(lambda: ingest(dd.catalog, records))
        if profile is not None:
            profile.disable()
            pstats.Stats(profile, stream=sys.stderr).sort_stats("tottime").print_stats(n_profile)
    return clock, report.n_upserted


def _dump_baseline(path: Path) -> _Clock:
    clock = _Clock()
    for records in _record_chunks(path):
        clock.time(partial(_dump, records))
    return clock


def _dump(records: list[dict[str, object]]) -> bytes:
    return b"\n".join(orjson.dumps(r) for r in records)


def _insert_baseline(path: Path, root: Path) -> _Clock:
    clock = _Clock()
    conn = sqlite3.connect(root / "bare.sqlite")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE e (id TEXT PRIMARY KEY, title TEXT, doc TEXT)")
    for records in _record_chunks(path):
        rows = [(r["id"], r["title"], orjson.dumps(r).decode()) for r in records]
        clock.time(partial(conn.executemany, "INSERT INTO e VALUES (?, ?, ?)", rows))
    clock.time(conn.commit)
    conn.close()
    return clock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    parser.add_argument(
        "--in-process", action="store_true", help="check the lines in this process, no worker"
    )
    args = parser.parse_args()
    config = load_config()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        out = root / "demo.jsonl"
        gen = _Clock()
        gen.time(lambda: write_jsonl(generate_demo_catalog(args.size, args.seed), out))
        ingested, n_upserted = _ingest(out, root, config, args.profile, args.in_process)
        dump = _dump_baseline(out)
        bare = _insert_baseline(out, root)
        file_mb = out.stat().st_size / 1e6
    print(
        orjson.dumps(
            {
                "size": args.size,
                "file": "demo catalog as written by write_jsonl (ltrr JSONL)",
                "file_mb": round(file_mb, 1),
                "generate_and_write_s": round(gen.wall_s, 2),
                "baseline_orjson_dump_s": round(dump.wall_s, 2),
                "generate_vs_dump": round(gen.wall_s / dump.wall_s, 1),
                "n_upserted": n_upserted,
                "ingest_mode": "in process" if args.in_process else "ltrr ingest's default",
                "ingest_s": round(ingested.wall_s, 2),
                "ingest_cpu_s": round(ingested.cpu_s, 2),
                "ingest_entities_per_s": round(args.size / ingested.wall_s),
                "baseline_sqlite_insert_s": round(bare.wall_s, 2),
                "baseline_sqlite_insert_cpu_s": round(bare.cpu_s, 2),
                "ingest_vs_bare_insert": round(ingested.wall_s / bare.wall_s, 1),
                "ingest_vs_bare_insert_cpu": round(ingested.cpu_s / bare.cpu_s, 1),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            },
            option=orjson.OPT_INDENT_2,
        ).decode()
    )


if __name__ == "__main__":
    main()

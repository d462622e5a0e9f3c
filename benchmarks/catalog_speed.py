"""Demo-catalog generation and ingest speed, beside bare baselines measured in the same run.

Usage: ``python benchmarks/catalog_speed.py [--size N] [--seed S]``; prints one JSON object.

Baselines: writing the same records with ``orjson`` alone (no generation), and inserting the
same rows into SQLite with one ``executemany`` and no validation, versioning or tombstones.
Ratios say what ltrr's own work costs on top of the libraries it stands on.
"""

from __future__ import annotations

import argparse
import resource
import sqlite3
import tempfile
import time
from pathlib import Path

import orjson

from ltrr.catalog.demo import generate_demo_catalog
from ltrr.catalog.formats import load
from ltrr.catalog.ingest import ingest
from ltrr.catalog.writer import write_jsonl
from ltrr.config import load_config
from ltrr.storage.datadir import DataDir


def _timed(fn: object) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()  # type: ignore[operator]
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    config = load_config()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        out = root / "demo.jsonl"
        gen_s, _ = _timed(lambda: write_jsonl(generate_demo_catalog(args.size, args.seed), out))
        records = [orjson.loads(line) for line in out.read_bytes().splitlines()]
        dump_s, _ = _timed(lambda: b"\n".join(orjson.dumps(r) for r in records))
        with DataDir(root / "data", config, writer=True) as dd:
            ingest_s, _ = _timed(lambda: ingest(dd.catalog, load(out, config.catalog)))
        conn = sqlite3.connect(root / "bare.sqlite")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("CREATE TABLE e (id TEXT PRIMARY KEY, title TEXT, doc TEXT)")
        rows = [(r["id"], r["title"], orjson.dumps(r).decode()) for r in records]
        bare_s, _ = _timed(
            lambda: (conn.executemany("INSERT INTO e VALUES (?, ?, ?)", rows), conn.commit())
        )
    print(
        orjson.dumps(
            {
                "size": args.size,
                "generate_and_write_s": round(gen_s, 2),
                "baseline_orjson_dump_s": round(dump_s, 2),
                "generate_vs_dump": round(gen_s / dump_s, 1),
                "ingest_s": round(ingest_s, 2),
                "ingest_entities_per_s": round(args.size / ingest_s),
                "baseline_sqlite_insert_s": round(bare_s, 2),
                "ingest_vs_bare_insert": round(ingest_s / bare_s, 1),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            },
            option=orjson.OPT_INDENT_2,
        ).decode()
    )


if __name__ == "__main__":
    main()

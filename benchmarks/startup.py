"""Start-up of an engine over a large event log: full replay against snapshot plus tail.

Usage: ``python benchmarks/startup.py --data DIR --events 1000000 [--tail 20000]
[--work DIR]``; prints one JSON object. DIR is a served data directory (catalog and indexes,
e.g. ``ltrr demo --size 100000``); it is copied to ``--work`` and never changed.

The log is made from real searches: a few hundred searches of catalog titles and words through
the engine give template impressions, which are copied (new request ids, users and times; the
same plans and strategy lists) until it holds ``--events`` events, one click in four on a shown
result. Then, in this order: a full replay (``Engine.open`` with no snapshot), ``ltrr
snapshot``'s work, ``--tail`` more events, and ``Engine.open`` again (snapshot plus tail). The
references, measured in the same run: opening the indexes alone (no log), and reading every
log row with bare SQLite (a floor for anything that replays).
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ltrr.config import load_config
from ltrr.engine import Engine
from ltrr.log.events import Action
from ltrr.log.sqlite_schema import ACT_COLS, IMP_COLS, MAX_SEQ
from ltrr.retrieve.indexes import IndexSet
from ltrr.select import SelectParams
from ltrr.storage.datadir import DataDir
from ltrr.types import EntityId


def _templates(path: Path, n: int, seed: int) -> None:
    """``n`` real searches of catalog titles and words, with a click on a third of them."""
    conn = sqlite3.connect(f"file:{path / 'ltrr.sqlite'}?mode=ro", uri=True)
    titles = [r[0] for r in conn.execute("SELECT title FROM entities ORDER BY popularity DESC")]
    conn.close()
    rng = np.random.default_rng(seed)
    picks = rng.choice(min(len(titles), 20_000), size=n, replace=False)
    with Engine.open(path, load_config(data_dir=path), writer=True) as engine:
        for i, j in enumerate(picks.tolist()):
            query = titles[j] if i % 3 else titles[j].split(" ")[0]
            found = engine.search(query, request_id=f"tpl-{i}", event_time_s=1000.0 + i)
            if found.results and i % 3 == 0:
                engine.feedback(
                    Action(
                        action_id=f"tpl-a{i}", request_id=f"tpl-{i}", user_id="u",
                        entity_id=EntityId(found.results[0].entity.id), kind="click",
                        event_time_s=1000.5 + i,
                    )
                )  # fmt: skip


def _grow(path: Path, n_events: int, start_s: float, tag: str) -> int:
    """Copy template impressions (and a click on one in four) until ``n_events`` are added."""
    conn = sqlite3.connect(path / "ltrr.sqlite", isolation_level=None)
    rows = conn.execute(f"SELECT {IMP_COLS} FROM impressions WHERE request_id LIKE 'tpl-%'")
    templates = rows.fetchall()
    seq = int(conn.execute(MAX_SEQ).fetchone()[0])
    added, i = 0, 0
    conn.execute("BEGIN")
    while added < n_events:
        imps, acts = [], []
        for _ in range(5000):
            t = templates[i % len(templates)]
            rid = f"{tag}-{i}"
            when = start_s + i * 0.5
            seq += 1
            imps.append((seq, rid, f"u{i % 5000}", f"s{i % 20000}", *t[4:12], when, *t[13:]))
            shown = orjson.loads(t[8])
            if i % 4 == 0 and shown:
                seq += 1
                acts.append(
                    (seq, f"{tag}-a{i}", rid, f"u{i % 5000}", shown[i % len(shown)], "click",
                     None, when + 1, when + 1, 1)
                )  # fmt: skip
            i += 1
        marks = _marks(len(templates[0]))
        conn.executemany(f"INSERT INTO impressions ({IMP_COLS}) VALUES ({marks})", imps)
        conn.executemany(f"INSERT INTO actions ({ACT_COLS}) VALUES ({_marks(10)})", acts)
        added += len(imps) + len(acts)
    conn.execute("COMMIT")
    conn.close()
    return added


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def _timed(fn: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--tail", type=int, default=20_000)
    parser.add_argument("--templates", type=int, default=500)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    root = args.work or Path(tempfile.mkdtemp(prefix="ltrr-startup-"))
    path = root / "data"
    if path.exists():
        shutil.rmtree(path)
    shutil.copytree(args.data, path, ignore=shutil.ignore_patterns("writer.lock", "snapshots"))
    config = load_config(data_dir=path)
    result: dict[str, Any] = {"data": str(args.data), "events": args.events, "tail": args.tail}
    _templates(path, args.templates, args.seed)
    _, result["log_build_s"] = _timed(lambda: _grow(path, args.events, 1e6, "bulk"))
    strategies = config.params("select", SelectParams).strategies

    def open_indexes() -> None:
        with DataDir(path, config, writer=False) as dd:
            IndexSet.open(dd, strategies)

    _, result["reference_indexes_only_s"] = _timed(open_indexes)

    def scan() -> int:
        conn = sqlite3.connect(f"file:{path / 'ltrr.sqlite'}?mode=ro", uri=True)
        n = sum(1 for _ in conn.execute(f"SELECT {IMP_COLS} FROM impressions"))
        n += sum(1 for _ in conn.execute(f"SELECT {ACT_COLS} FROM actions"))
        conn.close()
        return n

    result["n_logged_events"], result["reference_bare_sqlite_scan_s"] = _timed(scan)
    engine, result["open_full_replay_s"] = _timed(lambda: Engine.open(path, config, writer=True))
    full_counts = asdict(engine.learner.counts)
    written, result["snapshot_s"] = _timed(engine.snapshot)
    engine.close()
    result["snapshot_mb"] = round(
        sum(f.stat().st_size for f in Path(written).rglob("*") if f.is_file()) / 1e6, 1
    )
    _grow(path, args.tail, 2e6, "tail")
    engine, result["open_snapshot_plus_tail_s"] = _timed(
        lambda: Engine.open(path, config, writer=True)
    )
    counts = engine.learner.counts
    engine.close()
    result["n_impressions_learned"] = counts.n_impressions
    result["n_actions_learned"] = counts.n_actions
    result["full_replay_counts"] = full_counts
    result["snapshot_speedup"] = round(
        result["open_full_replay_s"] / result["open_snapshot_plus_tail_s"], 1
    )
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()

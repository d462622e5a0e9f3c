"""Worker-to-worker learning delay of ``ltrr serve --workers N``.

Usage: ``python benchmarks/learning_delay.py --data DIR [--workers 2] [--trials 50]``; prints
one JSON object. For each trial: a search, a click on its first result (answered once durable),
the click's log position read from the database, then ``GET /v1/stats`` polled on fresh
connections (the kernel spreads them over the workers) until every worker reports a log
position at or past the click: the time from the acknowledgement until the last worker has
learned it. The reference is the follow interval (``[service] follow_interval_ms``), the bound
the design promises, measured in the same run as the ratio of the p99 delay to it.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _serving import free_port, serving  # noqa: E402


def _call(port: int, path: str, body: object | None = None) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=None if body is None else orjson.dumps(body),
        headers={"content-type": "application/json", "connection": "close"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return orjson.loads(response.read())


def _position(db: Path, action_id: str) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT seq FROM actions WHERE action_id = ?", (action_id,))
                   .fetchone()[0])  # fmt: skip
    finally:
        conn.close()


def trial(port: int, db: Path, n_workers: int, i: int, timeout_s: float = 10.0) -> float:
    """Seconds from a click's acknowledgement until every worker has applied it."""
    found = _call(port, "/v1/search", {"query": "love", "k": 3})
    entity = found["results"][0]["id"]
    action_id = f"delay-{os.getpid()}-{i}-{time.time_ns()}"
    body = {"action_id": action_id, "request_id": found["request_id"], "entity_id": entity}
    _call(port, "/v1/feedback", body)
    acknowledged = time.perf_counter()
    position = _position(db, action_id)
    caught_up: dict[int, float] = {}
    seen: set[int] = set()
    while time.perf_counter() - acknowledged < timeout_s:
        worker = _call(port, "/v1/stats")["worker"]
        seen.add(worker["pid"])
        if worker["log_position"] >= position and worker["pid"] not in caught_up:
            caught_up[worker["pid"]] = time.perf_counter() - acknowledged
        if len(caught_up) >= n_workers:
            return max(caught_up.values())
    raise RuntimeError(f"workers {sorted(seen - set(caught_up))} did not learn in {timeout_s} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--trials", type=int, default=50)
    args = parser.parse_args()
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "ltrr.cli.app", "serve", "--data", str(args.data),
           "--port", str(port), "--workers", str(args.workers)]  # fmt: skip
    with serving(cmd, f"http://127.0.0.1:{port}/readyz", env):
        delays = [
            trial(port, args.data / "ltrr.sqlite", args.workers, i) for i in range(args.trials)
        ]
        interval_ms = float(_call(port, "/v1/stats")["worker"]["follow_interval_ms"])
    ms = np.array(delays) * 1000
    p50, p99 = np.percentile(ms, [50, 99]).tolist()
    print(
        orjson.dumps(
            {
                "workers": args.workers,
                "trials": args.trials,
                "delay_ms": {
                    "p50": round(p50, 1),
                    "p99": round(p99, 1),
                    "max": round(float(ms.max()), 1),
                },
                "follow_interval_ms": interval_ms,
                "p99_over_interval": round(p99 / interval_ms, 2),
            },
            option=orjson.OPT_INDENT_2,
        ).decode()
    )


if __name__ == "__main__":
    main()

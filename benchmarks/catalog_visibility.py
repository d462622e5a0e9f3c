"""How long until a catalog change made through one worker is searchable on every worker.

Usage: ``python benchmarks/catalog_visibility.py --data DIR [--workers 2] [--trials 10]``;
prints one JSON object. Each trial upserts one entity with a new title through
``POST /v1/catalog/upsert`` (answered once the answering worker's indexes, dense included, have
caught up) and then searches its title on fresh connections until every worker (the
``x-ltrr-worker`` header) has returned it first. Reported: the upsert's own latency and the time
from its answer until the last worker found it; the reference is the follow interval.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _serving import free_port, serving
from learning_delay import ROOT


def _post(port: int, path: str, body: object) -> tuple[Any, str]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=orjson.dumps(body),
        headers={"content-type": "application/json", "connection": "close"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return orjson.loads(response.read()), response.headers.get("x-ltrr-worker", "")


def trial(port: int, n_workers: int, i: int, timeout_s: float = 30.0) -> tuple[float, float]:
    title = f"zyxwv quorble {os.getpid()} {i} {time.time_ns()}"
    started = time.perf_counter()
    _post(port, "/v1/catalog/upsert", {"records": [{"id": f"vis-{title}", "title": title}]})
    answered = time.perf_counter()
    seen: set[str] = set()
    while time.perf_counter() - answered < timeout_s:
        found, worker = _post(port, "/v1/search", {"query": title, "k": 1})
        if found["results"] and found["results"][0]["title"] == title:
            seen.add(worker)
            if len(seen) >= n_workers:
                return answered - started, time.perf_counter() - answered
    raise RuntimeError(f"only workers {sorted(seen)} found the new entity in {timeout_s} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--trials", type=int, default=10)
    args = parser.parse_args()
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "ltrr.cli.app", "serve", "--data", str(args.data),
           "--port", str(port), "--workers", str(args.workers)]  # fmt: skip
    with serving(cmd, f"http://127.0.0.1:{port}/readyz", env):
        times = [trial(port, args.workers, i) for i in range(args.trials)]
    upsert = np.array([t[0] for t in times]) * 1000
    everywhere = np.array([t[1] for t in times]) * 1000
    print(
        orjson.dumps(
            {
                "workers": args.workers,
                "trials": args.trials,
                "upsert_ms": {"p50": round(float(np.median(upsert)), 1),
                              "max": round(float(upsert.max()), 1)},
                "all_workers_after_answer_ms": {
                    "p50": round(float(np.median(everywhere)), 1),
                    "max": round(float(everywhere.max()), 1),
                },
            },
            option=orjson.OPT_INDENT_2,
        ).decode()
    )  # fmt: skip


if __name__ == "__main__":
    main()

"""Every benchmark under ``benchmarks/`` runs at the 10k size and prints its JSON.

A smoke test, not a measurement: the counts are tiny and nothing is timed or compared (timing
assertions do not belong in tests; the figures are in docs/performance.md). What it catches
is a benchmark that no longer runs against the code beside it. One test, so that the 10k demo
catalog (MiniLM vectors included) is built once, on one xdist worker.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks"

FEEDBACK_ARGS = [
    "--data", "{data}", "--searches", "50", "--actions", "200", "--thread-actions", "40",
    "--batch", "50", "--threads", "2", "--rounds", "1",
]  # fmt: skip
#: name -> (arguments, keys its JSON must hold); ``{data}`` is a fresh copy of the 10k demo.
RUNS: dict[str, tuple[list[str], tuple[str, ...]]] = {
    "search_latency": (
        ["--data", "{data}", "--warmup", "300", "--searches", "100", "--cache-candidates", "1000"],
        ("end_to_end", "bare_strategies", "overhead_share", "stages", "list_cache"),
    ),
    "ranker_latency": (
        ["--data", "{data}", "--searches", "200", "--rounds", "2"],
        ("features_on", "lambdamart", "scoring", "during_retrain"),
    ),
    "http_load": (
        ["--data", "{data}", "--seconds", "2", "--connections", "4", "--warmup", "100"],
        ("bare_fastapi", "ltrr_search", "ltrr_feedback", "search_while_ingesting", "warmup"),
    ),
    "catalog_speed": (["--size", "10000"], ()),
    "index_speed": (["--size", "10000", "--dense-size", "1000"], ("lexical", "dense")),
    "retriever_latency": (["--size", "10000", "--queries", "50", "--repeats", "1"], ()),
    "dense_latency": (["--n", "10000", "--queries", "20", "--ef", "32", "--no-torch"], ()),
    "log_throughput": (
        ["--impressions", "2000", "--actions", "100", "--rounds", "1", "--threads", "2"],
        (),
    ),
    "feedback_speed": (
        FEEDBACK_ARGS,
        ("batched_now", "batched_background", "batched_serve", "threads_2_now", "bare_sqlite"),
    ),
    "startup": (["--data", "{data}", "--events", "5000", "--tail", "500", "--templates", "50"], ()),
    "catalog_visibility": (["--data", "{data}", "--trials", "2"], ()),
    "catalog_backends": (["--size", "2000", "--lookups", "50", "--trials", "3"], ("sqlite",)),
    "learning_delay": (["--data", "{data}", "--trials", "3"], ()),
    "shared_state": (
        ["--data", "{data}", "--searches", "200", "--tail", "30"],
        ("full_replay", "start_from_shared_snapshot_s", "request_path"),
    ),
    "capacity": (
        ["--data", "{data}", "--warmup", "50", "--searches", "100", "--probes", "20"],
        ("indexes", "catalog", "log", "per_entity"),
    ),
}
#: Not run here, and why.
SKIPPED = {
    "dashboard_load": "needs a running service's URL (docs/service.md runs it)",
    "cluster_load": "needs PostgreSQL and HAProxy, and minutes per setup (docs/scale.md runs it)",
    "eval_scifact": "needs ../shared's SciFact (a slow test runs it)",
    "replica_quality": "needs PostgreSQL, HAProxy, a benchmark and an hour (docs/scale.md runs it)",
}


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT / "src")}


def _run(script: str, args: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(BENCH / f"{script}.py"), *args],
        capture_output=True, text=True, env=_env(), timeout=900, cwd=ROOT,
    )  # fmt: skip
    if done.returncode != 0:
        raise AssertionError(f"{script} exited {done.returncode}: {done.stderr[-2000:]}")
    start = done.stdout.find("{")
    result: dict[str, Any] = orjson.loads(done.stdout[start:])
    return result


def test_every_benchmark_is_run_or_skipped_with_a_reason() -> None:
    scripts = {p.stem for p in BENCH.glob("*.py") if not p.stem.startswith("_")}
    assert scripts == set(RUNS) | set(SKIPPED)


@pytest.mark.skipif(shutil.which("wrk") is None, reason="needs wrk (apt-get install wrk)")
def test_every_benchmark_runs_at_10k(tmp_path: Path) -> None:
    demo = tmp_path / "demo10k"
    subprocess.run(
        [sys.executable, "-m", "ltrr.cli.app", "demo", "--size", "10000", "--data", str(demo)],
        check=True, capture_output=True, env=_env(), timeout=900,
    )  # fmt: skip
    failures = []
    for n, (script, (args, keys)) in enumerate(RUNS.items()):
        data = tmp_path / f"data{n}"
        if "{data}" in args:
            shutil.copytree(demo, data, ignore=shutil.ignore_patterns("writer.lock"))
        try:
            result = _run(script, [a.replace("{data}", str(data)) for a in args])
            missing = [k for k in keys if k not in result]
            if missing:
                failures.append(f"{script}: no {missing} in {sorted(result)}")
        except (AssertionError, ValueError, subprocess.TimeoutExpired) as exc:
            failures.append(f"{script}: {exc}")
    assert not failures, "\n".join(failures)

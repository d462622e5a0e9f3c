"""Do replicas learn as one? The same simulated users against ``ltrr cluster up`` with 1 and
with 2 replicas: found-rate and nDCG@10 of the shown pages, per seed and over seeds.

Usage: ``python benchmarks/replica_quality.py --data DIR --benchmark BENCH [--searches 20000]
[--seeds 3] [--replicas 1,2] [--click-model navigational]
[--postgres postgresql://postgres@127.0.0.1:5432/test] [--config FILE]``; prints one JSON
object. ``DIR`` is a prepared data directory (``ltrr import``/``ltrr demo`` then ``ltrr
index``) and ``BENCH`` a benchmark built from its catalog (``ltrr benchmark build``).

Every (replicas, seed) run starts from nothing learned: a fresh copy of ``DIR`` (its catalog
and indexes; no log, snapshots or models) and a fresh PostgreSQL schema for the shared log,
dropped afterwards. ``ltrr traffic`` sends the seed's searches through the cluster's front
(HAProxy, round robin per request, so a search and its feedback batch usually reach different
replicas, and each replica learns from the other's clicks only through the shared log). A seed
gives the same searches whatever the number of replicas, so the difference between setups is
paired per seed; the spread between seeds is the noise it is compared with.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _serving import free_port, wait_ok  # noqa: E402

#: What each run reports, read from ``ltrr traffic --json``: (name, path in its summary).
METRICS = (
    ("found_rate", ("found_rate",)),
    ("ndcg_at_10", ("ndcg_at_10",)),
    ("last_quarter_found_rate", ("last_quarter", "found_rate")),
    ("last_quarter_ndcg_at_10", ("last_quarter", "ndcg_at_10")),
)


def _copy_data(source: Path, to: Path) -> None:
    """The catalog and indexes of ``source`` (nothing learned: no snapshots, models, replicas,
    and the database's log tables are empty in a directory that never served)."""
    ignore = shutil.ignore_patterns("replicas", "snapshots", "models", "*.lock")
    shutil.copytree(source, to, ignore=ignore)


def _drop_schema(postgres: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(postgres, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def _run(args: argparse.Namespace, n_replicas: int, seed: int, work: Path) -> dict[str, Any]:
    data = work / f"r{n_replicas}-s{seed}"
    _copy_data(args.data, data)
    schema = f"rq_{os.getpid()}_{n_replicas}_{seed}"
    log_url = f"{args.postgres}{'&' if '?' in args.postgres else '?'}schema={schema}"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cli = [sys.executable, "-m", "ltrr.cli.app"]
    config = ["--config", str(args.config)] if args.config else []
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1"}
    env.pop("LTRR_LOG_URL", None)
    up = [*cli, "cluster", "up", "--data", str(data), "--port", str(port)]
    up += ["--replicas", str(n_replicas), "--log-url", log_url, *config]
    log = (work / f"cluster-r{n_replicas}-s{seed}.log").open("wb")
    cluster = subprocess.Popen(up, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ok(f"{url}/readyz", timeout_s=900)
        traffic = [*cli, "traffic", "--url", url, "--searches", str(args.searches)]
        traffic += ["--click-model", args.click_model, "--benchmark", str(args.benchmark)]
        traffic += ["--seed", str(seed), "--json", *config]
        started = time.perf_counter()
        done = subprocess.run(traffic, env=env, capture_output=True, check=False)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"ltrr traffic failed: {done.stderr.decode()[-2000:]}")
        summary: dict[str, Any] = orjson.loads(done.stdout)
    finally:
        cluster.send_signal(signal.SIGTERM)
        try:
            cluster.wait(timeout=90)
        except subprocess.TimeoutExpired:
            cluster.kill()
            cluster.wait()
        log.close()
        _drop_schema(args.postgres, schema)
        shutil.rmtree(data, ignore_errors=True)
    return {"seconds": round(seconds, 1), "searches_per_s": round(args.searches / seconds, 1),
            "summary": summary}  # fmt: skip


def _metric(summary: dict[str, Any], path: tuple[str, ...]) -> float:
    value: Any = summary
    for key in path:
        value = value[key]
    return float(value)


def _compare(runs: dict[int, dict[int, dict[str, Any]]], seeds: list[int]) -> dict[str, Any]:
    """Mean and std over seeds per setup, and the paired difference of each setup from the
    first (per seed, then mean and std)."""
    setups = sorted(runs)
    out: dict[str, Any] = {}
    for name, path in METRICS:
        values = {
            r: np.array([_metric(runs[r][s]["summary"], path) for s in seeds]) for r in setups
        }
        row: dict[str, Any] = {
            f"replicas_{r}": {"mean": round(float(v.mean()), 4), "std": round(float(v.std()), 4)}
            for r, v in values.items()
        }
        base = values[setups[0]]
        for r in setups[1:]:
            diff = values[r] - base
            row[f"replicas_{r}_minus_{setups[0]}"] = {
                "per_seed": [round(float(d), 4) for d in diff],
                "mean": round(float(diff.mean()), 4),
                "std": round(float(diff.std()), 4),
            }
        out[name] = row
    return out


def _partial(args: argparse.Namespace, runs: dict[int, dict[int, dict[str, Any]]]) -> None:
    """Each finished run's summary, written as soon as it ends (a long run can be read early
    or survive a later failure)."""
    if args.partial is not None:
        flat = {f"{r}-{s}": v for r, by in runs.items() for s, v in by.items()}
        args.partial.write_bytes(orjson.dumps(flat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--benchmark", type=Path, required=True)
    parser.add_argument("--searches", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--replicas", default="1,2")
    parser.add_argument("--click-model", default="navigational")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--config", type=Path, help="settings for every replica and the users")
    parser.add_argument("--partial", type=Path, help="JSON of the finished runs, kept current")
    args = parser.parse_args()
    if shutil.which("haproxy") is None:
        sys.exit("haproxy is not installed (apt-get install haproxy)")
    setups = [int(r) for r in args.replicas.split(",") if r]
    seeds = list(range(args.seeds))
    result: dict[str, Any] = {
        "data": str(args.data), "benchmark": str(args.benchmark), "searches": args.searches,
        "click_model": args.click_model, "seeds": seeds, "n_cpus": os.cpu_count(),
        "load_average_before": os.getloadavg(),
    }  # fmt: skip
    runs: dict[int, dict[int, dict[str, Any]]] = {r: {} for r in setups}
    failed: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:  # interleaved, so a change in the machine's load hits both setups
            for r in setups:
                try:
                    runs[r][seed] = _run(args, r, seed, Path(tmp))
                except RuntimeError as exc:  # reported, and the other runs still count
                    failed.append({"replicas": r, "seed": seed, "error": str(exc)[-1500:]})
                    print(f"replicas {r} seed {seed}: failed", file=sys.stderr)
                    continue
                print(f"replicas {r} seed {seed}: {runs[r][seed]['seconds']} s", file=sys.stderr)
                _partial(args, runs)
    done = [s for s in seeds if all(s in runs[r] for r in setups)]  # paired seeds only
    result["comparison"] = _compare(runs, done) if done else None
    result["failed_runs"] = failed
    result["runs"] = {str(r): {str(s): v for s, v in by.items()} for r, by in runs.items()}
    result["load_average_after"] = os.getloadavg()
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()

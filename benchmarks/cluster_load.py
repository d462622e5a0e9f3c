"""Throughput of a local cluster: ``ltrr cluster up`` with 2 replicas against 1, and against one
``ltrr serve --workers 2`` on the embedded SQLite log, under wrk, on the same machine.

Usage: ``python benchmarks/cluster_load.py --data DIR [--seconds 15] [--connections 16]
[--postgres postgresql://postgres@127.0.0.1:5432/test] [--setups serve2,cluster1,cluster2]``
(``pgserveN``: ``ltrr serve --workers N`` on a PostgreSQL log, without a proxy);
prints one JSON object. Needs ``wrk``, ``haproxy`` and a PostgreSQL server.

Each setup runs alone (one after the other), with the search and feedback load of
``http_load.py`` (the same Lua bodies, query mix and wrk options) sent to its one address:
the front (HAProxy) of a cluster, or the port of ``ltrr serve``. Each cluster gets a fresh log
schema, dropped afterwards. CPU time is reported per process of the setup (replicas, proxy,
workers) beside wrk's, as shares of one core over the search run, so what the proxy costs on
the same cores is visible.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _serving import free_port, wait_ok  # noqa: E402
from http_load import (  # noqa: E402
    FEEDBACK_LUA,
    SEARCH_LUA,
    _feedback_bodies,
    _queries,
    _search_bodies,
    _wrk,
)

SETUPS = ("serve2", "cluster1", "cluster2")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (read from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def _cpu_s(pids: list[int]) -> dict[str, float]:
    """CPU seconds (user + system) per process name: ``python`` processes named by their
    ``--data`` folder or role, ``haproxy`` as is."""
    out: dict[str, float] = {}
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        seconds = (int(fields[11]) + int(fields[12])) / CLK_TCK
        name = _name(pid, stat, [c.decode() for c in cmdline])
        out[name] = out.get(name, 0.0) + seconds
    return out


def _name(pid: int, stat: str, cmdline: list[str]) -> str:
    comm = stat[stat.index("(") + 1 : stat.rindex(")")]
    if comm == "haproxy":
        return "haproxy"
    if "cluster" in cmdline:
        return "cluster (supervisor)"
    if "--data" in cmdline:
        data = Path(cmdline[cmdline.index("--data") + 1]).name
        return f"serve {data}"
    if comm == "postgres":
        return "postgresql server"
    return f"worker {pid}"  # of ltrr serve --workers (or its uvicorn supervisor)


def _postgres_pids() -> list[int]:
    """The PostgreSQL server's processes (it shares the cores too)."""
    pids = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == "postgres":
                pids.append(int(comm.parent.name))
        except OSError:
            continue
    return pids


@contextmanager
def _running(cmd: list[str], env: dict[str, str], ready: str, log: Path) -> Iterator[int]:
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_ok(ready, timeout_s=900)
        yield proc.pid
    finally:
        proc.send_signal(signal.SIGTERM if "cluster" in cmd else signal.SIGINT)
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _drop_schema(postgres: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(postgres, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def _measure(
    pid: int, url: str, work: Path, args: argparse.Namespace, data: Path
) -> dict[str, Any]:
    search = work / "search.lua"
    _wrk(url, search, 3, args.connections, args.threads)  # warm-up
    pids = _descendants(pid) + _postgres_pids()
    before = _cpu_s(pids)
    result: dict[str, Any] = {
        "search": _wrk(url, search, args.seconds, args.connections, args.threads)
    }
    after = _cpu_s(pids)
    result["cpu_share_of_one_core"] = {
        name: round((after[name] - before.get(name, 0.0)) / args.seconds, 3) for name in after
    }
    port = int(url.rsplit(":", 1)[1])
    n = _feedback_bodies(port, _queries(data, 500, args.seed + 1), work / "fb.tsv")
    (work / "feedback.lua").write_text(FEEDBACK_LUA % (work / "fb.tsv"))
    result["n_feedback_requests_prepared"] = n
    result["feedback"] = _wrk(
        url, work / "feedback.lua", args.seconds, args.connections, args.threads
    )
    return result


def _setup(name: str, args: argparse.Namespace, env: dict[str, str], work: Path) -> dict[str, Any]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cli = [sys.executable, "-m", "ltrr.cli.app"]
    if name.startswith("serve"):
        cmd = [*cli, "serve", "--data", str(args.data), "--port", str(port)]
        cmd += ["--workers", name.removeprefix("serve")]
        cmd += ["--config", str(args.config)] if args.config else []
        with _running(cmd, env, f"{url}/readyz", work / f"{name}.log") as pid:
            return {
                "log": "sqlite (the data directory's)",
                **_measure(pid, url, work, args, args.data),
            }
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    log_url = f"{args.postgres}{'&' if '?' in args.postgres else '?'}schema={schema}"
    if name.startswith("pgserve"):  # ltrr serve --workers N on the PostgreSQL log, no proxy
        cmd = [*cli, "serve", "--data", str(args.data), "--port", str(port)]
        cmd += ["--workers", name.removeprefix("pgserve")]
        env = {**env, "LTRR_LOG_URL": log_url}
    else:
        cmd = [*cli, "cluster", "up", "--data", str(args.data), "--port", str(port)]
        cmd += ["--replicas", name.removeprefix("cluster"), "--log-url", log_url]
    cmd += ["--config", str(args.config)] if args.config else []
    try:
        with _running(cmd, env, f"{url}/readyz", work / f"{name}.log") as pid:
            return {
                "log": f"postgresql schema {schema}",
                **_measure(pid, url, work, args, args.data),
            }
    finally:
        _drop_schema(args.postgres, schema)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--config", type=Path, help="settings for every setup (--config)")
    parser.add_argument("--setups", default=",".join(SETUPS), help=f"of {', '.join(SETUPS)}")
    args = parser.parse_args()
    setups = [s for s in args.setups.split(",") if s]
    if bad := [s for s in setups if not re.fullmatch(r"(pg)?serve\d+|cluster\d+", s)]:
        sys.exit(f"unknown setups {bad}; allowed: serveN, pgserveN, clusterN")
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1"}
    env.pop("LTRR_LOG_URL", None)
    result: dict[str, Any] = {
        "data": str(args.data),
        "seconds": args.seconds,
        "connections": args.connections,
        "wrk_threads": args.threads,
        "n_cpus": os.cpu_count(),
        "load_average_before": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bodies = _search_bodies(_queries(args.data, 5000, args.seed), work / "bodies.jsonl")
        (work / "search.lua").write_text(SEARCH_LUA % bodies)
        for name in setups:
            started = time.perf_counter()
            result[name] = _setup(name, args, env, work)
            result[name]["wall_s"] = round(time.perf_counter() - started, 1)
    result["load_average_after"] = os.getloadavg()
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()

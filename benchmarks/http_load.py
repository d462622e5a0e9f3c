"""HTTP search and feedback throughput: ``ltrr serve`` beside a bare FastAPI route, under wrk.

Usage: ``python benchmarks/http_load.py --data DIR [--seconds 15] [--connections 16]
[--threads 1] [--workers 1] [--feedback-connections N] [--mixed-search-connections 4]
[--config FILE] [--warmup N]``; prints
one JSON object. Needs Debian's ``wrk`` on the PATH.

Both servers run in the same way (uvicorn, uvloop, httptools, loopback; ltrr with
``--workers`` processes, the bare app with one),
one after the other so they never share the cores: the reference is a FastAPI app whose POST
route parses the same JSON body and answers a constant, so the ratio says what ltrr's search
costs over the HTTP stack itself. The query mix is the one of ``search_latency.py``
(``_queries``: head queries repeat, Zipf, with typos and broad one-word queries). wrk's own
CPU time is reported, so a saturated generator is visible.
Feedback: after the search run, wrk posts clicks on request ids the searches returned
(each with a fresh action id), answered only once durable, from ``--feedback-connections``
(default ``--connections``). Then ``search_while_ingesting``: the same feedback wrk and a search
wrk of ``--mixed-search-connections`` at once, for search latency (p50, p99) while feedback
is ingested as fast as it goes. The 1-minute load average is reported before and after.
``--warmup N`` first teaches the data directory's policy and ranker in process with ``N``
searches and their clicks (``_queries.warm_up``, as ``search_latency.py`` does), so the
service is measured with a learned policy rather than the cold start's deep plans.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _queries import mixed_queries, warm_up  # noqa: E402
from _serving import free_port, serving, tree_cpu_s  # noqa: E402

BARE_APP = """
from fastapi import FastAPI
from pydantic import BaseModel

class Body(BaseModel):
    query: str
    k: int = 10

app = FastAPI()

@app.post("/v1/search")
def search(body: Body) -> dict[str, object]:
    return {"request_id": "r", "query": body.query, "results": []}
"""
SEARCH_LUA = """
local bodies = {}
local i = 0
for line in io.lines("%s") do bodies[#bodies + 1] = line end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i %% #bodies + 1
  return wrk.format(nil, "/v1/search", nil, bodies[i])
end
done = function(summary, latency, requests)
  io.write(string.format("JSON {\\"p50_ms\\": %%f, \\"p99_ms\\": %%f, \\"requests\\": %%d, "
    .. "\\"errors\\": %%d, \\"non2xx\\": %%d}\\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.requests,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
"""


def _queries(data: Path, n: int, seed: int) -> list[str]:
    return [q.text for q in mixed_queries(data, n, seed)]


def _wrk(
    url: str, script: Path, seconds: int, connections: int, threads: int, server: int
) -> dict[str, Any]:
    return _wrk_many(url, [(script, connections)], seconds, threads, server)[0]


def _wrk_many(
    url: str, runs: list[tuple[Path, int]], seconds: int, threads: int, server: int
) -> list[dict[str, Any]]:
    """One wrk per ``(script, connections)``, all at once; their stats (wrk CPU: all of them;
    the server's CPU ms per request, all its processes over all the runs' requests)."""
    server_before = tree_cpu_s(server)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    procs = []
    for script, connections in runs:
        cmd = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "-s",
               str(script), "--latency", url]  # fmt: skip
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True))
    outs = [proc.communicate(timeout=seconds + 60)[0] for proc in procs]
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu = tree_cpu_s(server) - server_before
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    results = []
    for out in outs:
        line = next(x for x in out.splitlines() if x.startswith("JSON "))
        stats: dict[str, Any] = orjson.loads(line[5:])
        stats["requests_per_s"] = stats["requests"] / seconds
        stats["wrk_cpu_share_of_one_core"] = round(cpu / seconds, 3)
        results.append(stats)
    n_requests = sum(r["requests"] for r in results)
    for stats in results:
        stats["server_cpu_ms_per_request"] = round(1000 * server_cpu / max(n_requests, 1), 3)
    return results


def _search_bodies(queries: list[str], path: Path) -> Path:
    path.write_bytes(b"\n".join(orjson.dumps({"query": q, "k": 10}) for q in queries) + b"\n")
    return path


def _feedback_bodies(port: int, queries: list[str], path: Path) -> int:
    """Search once per query through the served API; write one click body per answer."""
    lines = []
    for n, q in enumerate(queries):
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/search",
            data=orjson.dumps({"query": q, "k": 3}),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            answer = orjson.loads(response.read())
        if answer["results"]:
            lines.append((answer["request_id"], answer["results"][0]["id"], n))
    path.write_text("\n".join(f"{r}\t{e}\t{n}" for r, e, n in lines) + "\n")
    return len(lines)


FEEDBACK_LUA = """
local rows = {}
local i = 0
local tag = tostring(math.random(1, 1e9))
for line in io.lines("%s") do
  local r, e = line:match("([^\\t]+)\\t([^\\t]+)")
  rows[#rows + 1] = {r, e}
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i + 1
  local row = rows[(i %% #rows) + 1]
  local body = string.format('{"action_id": "w%%s-%%d", "request_id": "%%s", "entity_id": "%%s"}',
    tag, i, row[1], row[2])
  return wrk.format(nil, "/v1/feedback", nil, body)
end
""" + SEARCH_LUA[SEARCH_LUA.index("done = function") :]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1, help="ltrr serve --workers")
    parser.add_argument("--feedback-connections", type=int, default=None)
    parser.add_argument("--mixed-search-connections", type=int, default=4)
    parser.add_argument(
        "--search-only", action="store_true", help="stop after the search run (no feedback)"
    )
    parser.add_argument("--config", type=Path, help="TOML settings for ltrr serve (an A/B)")
    parser.add_argument("--warmup", type=int, default=0, help="searches teaching it first")
    args = parser.parse_args()
    args.feedback_connections = args.feedback_connections or args.connections
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1"}
    result: dict[str, Any] = {
        "load_average_before": os.getloadavg(),
        "data": str(args.data),
        "seconds": args.seconds,
        "connections": args.connections,
        "wrk_threads": args.threads,
        "workers": args.workers,
        "feedback_connections": args.feedback_connections,
        "mixed_search_connections": args.mixed_search_connections,
        "config": None if args.config is None else args.config.read_text(),
    }
    if args.warmup:
        from ltrr.engine import Engine

        with Engine.open(args.data, writer=True) as engine:
            queries = mixed_queries(args.data, args.warmup, args.seed + 2)
            result["warmup"] = {"searches": args.warmup} | warm_up(engine, queries, time.time())
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bodies = _search_bodies(_queries(args.data, 5000, args.seed), work / "bodies.jsonl")
        (work / "search.lua").write_text(SEARCH_LUA % bodies)
        (work / "bare.py").write_text(BARE_APP)
        port = free_port()
        bare = [sys.executable, "-m", "uvicorn", "bare:app", "--port", str(port), "--loop",
                "uvloop", "--http", "httptools", "--log-level", "warning", "--no-access-log",
                "--app-dir", str(work)]  # fmt: skip
        with serving(bare, f"http://127.0.0.1:{port}/openapi.json", env) as proc:
            result["bare_fastapi"] = _wrk(
                f"http://127.0.0.1:{port}", work / "search.lua", args.seconds,
                args.connections, args.threads, proc.pid,
            )  # fmt: skip
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        ltrr = [sys.executable, "-m", "ltrr.cli.app", "serve", "--data", str(args.data),
                "--port", str(port), "--workers", str(args.workers),
                *(["--config", str(args.config)] if args.config else [])]  # fmt: skip
        started = time.perf_counter()
        with serving(ltrr, f"{url}/openapi.json", env) as proc:
            result["startup_s"] = round(time.perf_counter() - started, 2)
            _wrk(url, work / "search.lua", 3, args.connections, args.threads, proc.pid)  # warm-up
            result["ltrr_search"] = _wrk(
                url, work / "search.lua", args.seconds, args.connections, args.threads, proc.pid
            )
            if not args.search_only:
                n = _feedback_bodies(port, _queries(args.data, 500, args.seed + 1), work / "fb.tsv")
                (work / "feedback.lua").write_text(FEEDBACK_LUA % (work / "fb.tsv"))
                result["n_feedback_requests_prepared"] = n
                result["ltrr_feedback"] = _wrk(
                    url, work / "feedback.lua", args.seconds, args.feedback_connections,
                    args.threads, proc.pid,
                )  # fmt: skip
                both = _wrk_many(
                    url, [(work / "feedback.lua", args.feedback_connections),
                          (work / "search.lua", args.mixed_search_connections)],
                    args.seconds, args.threads, proc.pid,
                )  # fmt: skip
                result["search_while_ingesting"] = {"feedback": both[0], "search": both[1]}
    bare_rps = result["bare_fastapi"]["requests_per_s"]
    result["search_rps_over_bare"] = round(result["ltrr_search"]["requests_per_s"] / bare_rps, 3)
    result["search_p50_over_bare"] = round(
        result["ltrr_search"]["p50_ms"] / max(result["bare_fastapi"]["p50_ms"], 1e-9), 2
    )
    result["load_average_after"] = os.getloadavg()
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()

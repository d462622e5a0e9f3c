"""Does the dashboard slow searches? Search latency with and without its endpoints polled.

Usage: ``python benchmarks/dashboard_load.py --url http://127.0.0.1:8000 [--searches 300]
[--poll-s 0.5]``; prints one JSON object. One client sends sequential searches three times:
alone, while another thread polls what the dashboard reads (``/v1/stats?detail=true`` and
``/v1/requests/recent``) every ``--poll-s`` seconds (the page polls every 3 s), and alone
again; the first and last runs are the reference.
"""

from __future__ import annotations

import argparse
import threading
import time
import urllib.request

import numpy as np
import orjson

QUERIES = ["love", "night drive", "chill jazz playlist", "midnigth dreams", "rock songs", "summer"]


def _call(url: str, body: object | None = None) -> bytes:
    data = None if body is None else orjson.dumps(body)
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return bytes(response.read())


def run(url: str, n: int, poll_s: float | None) -> dict[str, float]:
    stop = threading.Event()

    def dashboard() -> None:
        while not stop.is_set():
            _call(f"{url}/v1/stats?detail=true")
            _call(f"{url}/v1/requests/recent?n=20")
            stop.wait(poll_s or 1.0)

    poller = threading.Thread(target=dashboard, daemon=True)
    if poll_s is not None:
        poller.start()
    latency = []
    for i in range(n):
        started = time.perf_counter()
        _call(f"{url}/v1/search", {"query": QUERIES[i % len(QUERIES)], "k": 10})
        latency.append((time.perf_counter() - started) * 1000)
    stop.set()
    p50, p99 = np.percentile(latency, [50, 99]).tolist()
    return {"p50_ms": round(p50, 2), "p99_ms": round(p99, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--searches", type=int, default=300)
    parser.add_argument("--poll-s", type=float, default=0.5)
    args = parser.parse_args()
    result = {
        "without_dashboard": run(args.url, args.searches, None),
        "dashboard_polled": run(args.url, args.searches, args.poll_s),
        "without_again": run(args.url, args.searches, None),
        "poll_s": args.poll_s,
    }
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()

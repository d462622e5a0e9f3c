"""SciFact test: ltrr's strategies against the published numbers, lexical speed beside tantivy.

Usage: ``python benchmarks/eval_scifact.py [--strategies lexical] [--work DIR] [--split test]``;
prints one JSON object. Quality comes from ``ltrr.evaluate.runner.evaluate`` (the code behind
``ltrr evaluate``); the published numbers are EVALUATION.md's. For lexical, every judged query
is then timed three ways on the saved index, interleaved so machine load hits them alike:
the bare tantivy search of the very same query object (top ``depth``), that search plus the
FAST-field id lookup, and the whole ``retrieve`` (analyzer, query building, prior, candidates).
Each figure is the per-query minimum of ``--repeat`` runs, then p50/p99 over queries.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ltrr.config import load_config
from ltrr.evaluate.beir import read_benchmark
from ltrr.evaluate.runner import evaluate
from ltrr.evaluate.workspace import Workspace
from ltrr.retrieve.lexical import LexicalRetriever
from ltrr.types import Context

DATASET = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "beir-scifact"
PUBLISHED = {
    "lexical": {"ndcg@10": 0.6789, "recall@100": 0.925, "source": "Anserini BM25 flat"},
    "dense": {"ndcg@10": 0.645, "source": "MTEB all-MiniLM-L6-v2"},
    "fusion": {"ndcg@10": 0.718, "source": "Qdrant BM25 + dense RRF"},
}


def _min_ms(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter_ns()
        fn()
        best = min(best, (time.perf_counter_ns() - started) / 1e6)
    return best


def _ids(retriever: LexicalRetriever, search: Callable[[], Any]) -> list[int]:
    return retriever.ordinals([hit[1] for hit in search().hits])


def lexical_speed(
    work_dir: Path | None, directory: Path, split: str, repeat: int
) -> dict[str, object]:
    benchmark = read_benchmark(directory, split)
    with Workspace.open(benchmark.corpus_path, load_config(), work_dir) as workspace:
        understander = workspace.index("understand").component
        retriever: LexicalRetriever = workspace.index("lexical").component
    queries = [understander.understand(q.text) for q in benchmark.queries.values()]
    depth, context, searcher = 100, Context(), retriever.searcher
    timings: dict[str, list[float]] = {"bare_search": [], "search_and_ids": [], "retrieve": []}
    for query in queries:
        built = retriever.query_for(query.corrected_tokens)
        if built is None:
            continue
        bare = partial(searcher.search, built, depth, count=False)
        timings["bare_search"].append(_min_ms(bare, repeat))
        timings["search_and_ids"].append(_min_ms(partial(_ids, retriever, bare), repeat))
        timings["retrieve"].append(
            _min_ms(partial(retriever.retrieve, query, context, depth), repeat)
        )
    summary: dict[str, object] = {}
    for name, values in timings.items():
        p50, p99 = np.percentile(values, [50, 99])
        summary[name] = {"p50_ms": round(float(p50), 4), "p99_ms": round(float(p99), 4)}
    ratio = np.percentile(timings["retrieve"], 50) / np.percentile(timings["bare_search"], 50)
    summary["retrieve_over_bare_p50"] = round(float(ratio), 2)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, default=DATASET)
    parser.add_argument("--strategies", default="lexical")
    parser.add_argument("--split", default="test")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    names = [s for s in args.strategies.split(",") if s]
    report = evaluate(args.dir, names, args.split, args.work)
    result: dict[str, object] = {
        "command": f"python benchmarks/eval_scifact.py --strategies {args.strategies}",
        "strategies": report["strategies"],
        "published": {n: PUBLISHED[n] for n in report["strategies"] if n in PUBLISHED},
        "fusion_of": report["fusion_of"],
        "n_queries": report["n_queries"],
        "build_s": report["build_s"],
        "reused": report["reused"],
        "latency_ms": report["latency_ms"],
    }
    if "lexical" in names:
        result["lexical_speed"] = lexical_speed(args.work, args.dir, args.split, args.repeat)
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()

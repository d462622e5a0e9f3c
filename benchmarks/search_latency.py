"""End-to-end ``Engine.search`` latency in process, beside the bare calls of the strategies run.

Usage: ``python benchmarks/search_latency.py --data DIR [--warmup 5000] [--searches 5000]``;
prints one JSON object. DIR is a data directory (``ltrr demo --size N --data DIR``); the run
appends its searches and actions to DIR's event log, so use a copy you can throw away.

Traffic is the mixed query set of ``_queries`` (Zipf, head queries repeat, 15% typos, a fifth
broad one-word queries). The warm-up searches teach the learned policy (a title query's entity
is clicked when shown, else reported found elsewhere) and are not measured; a LambdaMART model
is trained after them when the log holds enough (``--no-train`` keeps the fusion). Then, one
thread, per search:

- ``end_to_end``: ``SearchResponse.latency_ms``, from the call to the logged impression;
- ``bare_strategies``: right after the search, each strategy of its plan called again on its
  own (``retriever.retrieve`` with the same understood query and depth), plus the query
  encoder's call when the search's dense retrieval had to encode (the replay then hits the
  query-vector cache the search filled, so the encoder is timed alone): the reference that
  says what the pipeline adds around its retrievers;
- ``overhead_share``: (end-to-end - bare strategies) / end-to-end, per search, p50 and mean;
- ``stages``: p50 and p99 of every pipeline stage (``SearchResponse.stage_latency_ms``), and of
  every strategy inside the pipeline;
- the plans: mean candidates and strategies per search.

The retrieval list cache (``[search.cache] candidates``) is off by default here: the
reference is the bare calls of the strategies, and a cache hit makes no call, so the share
would measure the cache rather than the pipeline. ``--cache-candidates N`` turns it on (the
shipped setting is 500000) and reports its hits and misses; the end-to-end figures then
include the hits.

``--profile FILE`` writes cProfile's top functions (by own time) of the measured searches (the
bare replays included, and every call slower for the profiler's hooks).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _queries import mixed_queries, warm_up
from ltrr.config import load_config
from ltrr.engine import Engine
from ltrr.retrieve.dense import DenseRetriever
from ltrr.types import Context


def _stats(ms: list[float] | np.ndarray) -> dict[str, float]:
    a = np.asarray(ms, dtype=np.float64)
    if not len(a):
        return {"n": 0}
    return {"n": len(a), "p50_ms": round(float(np.percentile(a, 50)), 3),
            "p99_ms": round(float(np.percentile(a, 99)), 3),
            "mean_ms": round(float(a.mean()), 3)}  # fmt: skip


def _bare(engine: Engine, response: Any, context: Context, dense_missed: bool) -> float:
    """The strategies of ``response``'s plan called alone, in ms."""
    total = 0.0
    for name, depth in response.plan.depths.items():
        if depth <= 0 or name not in engine.indexes.retrievers:
            continue
        retriever = engine.indexes.retrievers[name]
        if isinstance(retriever, DenseRetriever) and dense_missed:
            text = retriever.query_text(response.query)
            started = time.perf_counter()
            retriever.encoder.encode_query(text)
            total += (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        retriever.retrieve(response.query, context, depth)
        total += (time.perf_counter() - started) * 1000
    return total


def run(
    data: Path,
    n_warmup: int,
    n_searches: int,
    seed: int,
    train: bool,
    profile: Path | None = None,
    cache_candidates: int = 0,
) -> dict[str, Any]:
    queries = mixed_queries(data, n_warmup + n_searches, seed)
    out: dict[str, Any] = {"data": str(data), "warmup": n_warmup, "searches": n_searches}
    started = time.perf_counter()
    config = load_config(data_dir=data).replaced("rank.lambdamart", retrain_every=10**9)
    config = config.replaced("search.cache", candidates=cache_candidates)
    with Engine.open(data, config, writer=True) as engine:
        out["open_s"] = round(time.perf_counter() - started, 2)
        out["n_entities"] = len(engine.data_dir.catalog)
        t0 = time.time()
        out |= warm_up(engine, queries[:n_warmup], t0, train)
        out["model_versions"] = engine.search("warm").model_versions
        dense = next((r for r in engine.indexes.retrievers.values()
                      if isinstance(r, DenseRetriever)), None)  # fmt: skip
        e2e, bare, share = [], [], []
        stages: dict[str, list[float]] = defaultdict(list)
        strategies: dict[str, list[float]] = defaultdict(list)
        candidates, n_strategies = [], []
        context = Context()
        cache = engine.indexes.cache
        if cache is not None:
            cache.hits = cache.misses = 0
        gc.collect()
        profiler = cProfile.Profile() if profile is not None else None
        if profiler is not None:
            profiler.enable()
        for n, query in enumerate(queries[n_warmup:], start=n_warmup):
            t = t0 + 60.0 * n
            understood = engine.indexes.understander.understand(query.text)
            missed = dense is not None and not dense.is_cached(dense.query_text(understood))
            response = engine.search(query.text, context, event_time_s=t)
            reference = _bare(engine, response, context, missed)
            e2e.append(response.latency_ms)
            bare.append(reference)
            share.append((response.latency_ms - reference) / response.latency_ms)
            for stage, ms in response.stage_latency_ms.items():
                stages[stage].append(ms)
            for name, ms in response.strategy_latency_ms.items():
                strategies[name].append(ms)
            candidates.append(sum(d for d in response.plan.depths.values() if d > 0))
            n_strategies.append(sum(1 for d in response.plan.depths.values() if d > 0))
        if profiler is not None and profile is not None:
            profiler.disable()
            with profile.open("w") as f:
                stats = pstats.Stats(profiler, stream=f).sort_stats("tottime")
                stats.print_stats(40)
        out["end_to_end"] = _stats(e2e)
        out["bare_strategies"] = _stats(bare)
        out["end_to_end_over_bare_p50"] = round(
            out["end_to_end"]["p50_ms"] / max(out["bare_strategies"]["p50_ms"], 1e-9), 2
        )
        out["overhead_share"] = {"p50": round(float(np.median(share)), 3),
                                 "mean": round(float(np.mean(share)), 3),
                                 "of_total_time": round(1 - sum(bare) / sum(e2e), 3)}  # fmt: skip
        out["stages"] = {s: _stats(v) for s, v in stages.items()}
        out["strategies_in_pipeline"] = {s: _stats(v) | {"share_of_searches": round(
            len(v) / n_searches, 3)} for s, v in sorted(strategies.items())}  # fmt: skip
        out["plan"] = {"candidates_mean": round(float(np.mean(candidates)), 1),
                       "strategies_mean": round(float(np.mean(n_strategies)), 2)}  # fmt: skip
        if cache is not None:
            out["list_cache"] = {"candidates": cache_candidates, "hits": cache.hits,
                                 "misses": cache.misses, "lists": len(cache)}  # fmt: skip
    out["max_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--warmup", type=int, default=5000)
    parser.add_argument("--searches", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-train", dest="train", action="store_false")
    parser.add_argument("--profile", type=Path, help="cProfile of the measured searches here")
    parser.add_argument("--cache-candidates", type=int, default=0, help="[search.cache] candidates")
    args = parser.parse_args(argv)
    result = run(
        args.data, args.warmup, args.searches, args.seed, args.train, args.profile,
        args.cache_candidates,
    )  # fmt: skip
    sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")


if __name__ == "__main__":
    main()

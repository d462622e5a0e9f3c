"""What the learned ranker costs a search: features and their logging, LambdaMART scoring, and
searching while a retrain runs.

Usage: ``python benchmarks/ranker_latency.py --data DIR [--searches 2000] [--rounds 5]``; prints
one JSON object. DIR is a data directory (``ltrr demo --data DIR``); the run appends its
searches and clicks to DIR's event log and stores its models in ``DIR/models``, so use a copy
you can throw away.

Queries: entity titles of the catalog drawn with Zipf frequencies (exponent 1, head queries
repeat), each search followed by a click on the entity whose title was asked for when it was
shown, else a "found" action (so the log holds training data). In-process ``Engine.search``
latencies (its own ``latency_ms``), measured:

1. ``features_off`` against ``features_on`` (the same engine, features and their logging off
   or on), in alternating rounds so that drift hits both alike: the overhead ratio the issue
   bounds at 1.05;
2. ``lambdamart``: after ``Engine.train``, the model serving, against ``features_on`` (the
   fusion with features) as the reference;
3. ``during_retrain``: searches while a background retrain runs (LightGBM on one thread),
   against ``lambdamart`` idle: the p99 ratio the issue bounds at 1.5;
4. ``scoring``: the served model's compiled form (``rank.forest``) against LightGBM's own
   ``Booster.predict`` (one thread) on the same feature matrices, one search's candidates per
   call, alternating: per-call p50 of each and the ratio.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ltrr.config import load_config
from ltrr.engine import Engine
from ltrr.log.events import Action
from ltrr.types import EntityId


def _queries(engine: Engine, n_titles: int, n: int, seed: int) -> list[tuple[str, str]]:
    titles: list[tuple[str, str]] = []
    for entity in engine.data_dir.catalog.iter_entities():
        titles.append((entity.title, entity.id))
        if len(titles) >= n_titles:
            break
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, len(titles) + 1)
    picks = rng.choice(len(titles), size=n, p=p / p.sum())
    return [titles[int(i)] for i in picks]


def _search(engine: Engine, query: str, wanted: str, i: int, tag: str) -> float:
    response = engine.search(query, request_id=f"bench-{tag}-{i}-{time.time_ns()}")
    shown = {r.entity.id for r in response.results}
    kind = "click" if wanted in shown else "found"
    action = Action(action_id=f"a-{response.request_id}", request_id=response.request_id,
                    user_id="bench", entity_id=EntityId(wanted), kind=kind,
                    event_time_s=time.time())  # fmt: skip
    engine.feedback(action)
    return response.latency_ms


def _stats(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {"n": len(a), "p50_ms": round(float(np.percentile(a, 50)), 3),
            "p99_ms": round(float(np.percentile(a, 99)), 3),
            "mean_ms": round(float(a.mean()), 3)}  # fmt: skip


def run(data: Path, n_searches: int, n_rounds: int, seed: int) -> dict[str, Any]:
    out: dict[str, Any] = {"data": str(data), "searches": n_searches, "rounds": n_rounds}
    # background retrains only where this benchmark starts them
    config = load_config(data_dir=data).replaced("rank.lambdamart", retrain_every=10**9)
    with Engine.open(data, config, writer=True) as engine:
        queries = _queries(engine, 5000, 4 * n_searches, seed)
        for i, (q, e) in enumerate(queries[:200]):  # warm-up: caches, lazy imports
            _search(engine, q, e, i, "warm")
        off: list[float] = []
        on: list[float] = []
        per_round = max(1, n_searches // n_rounds)
        for r in range(n_rounds):
            for enabled, sink in ((False, off), (True, on)):
                engine.ranking.enabled = enabled
                block = queries[(2 * r + enabled) * per_round : (2 * r + enabled + 1) * per_round]
                tag = f"r{r}{enabled}"
                sink.extend(_search(engine, q, e, i, tag) for i, (q, e) in enumerate(block))
        engine.ranking.enabled = True
        out["features_off"], out["features_on"] = _stats(off), _stats(on)
        for stat in ("p50_ms", "mean_ms"):
            ratio = out["features_on"][stat] / out["features_off"][stat]
            out[f"features_overhead_{stat[:-3]}"] = round(ratio, 3)
        started = time.perf_counter()
        report = engine.train()
        out["train"] = {**asdict(report), "seconds": round(time.perf_counter() - started, 2)}
        tail = queries[2 * n_rounds * per_round :]
        idle = [_search(engine, q, e, i, "lm") for i, (q, e) in enumerate(tail[:n_searches])]
        out["lambdamart"] = _stats(idle)
        ratio = out["lambdamart"]["p50_ms"] / out["features_on"]["p50_ms"]
        out["lambdamart_vs_fusion_p50"] = round(ratio, 3)
        out["scoring"] = _scoring(engine, tail[:300])
        out["during_retrain"] = _during_retrain(engine, tail[n_searches:])
        busy = out["during_retrain"]
        if busy.get("n"):
            out["retrain_p99_ratio"] = round(busy["p99_ms"] / out["lambdamart"]["p99_ms"], 3)
    return out


def _scoring(engine: Engine, queries: list[tuple[str, str]]) -> dict[str, Any]:
    """The served model's forest against its booster on the rows of real searches (the
    matrices the model is asked to score, recorded during ``queries``)."""
    wrapper = engine.ranking._wrapper  # the served model (no public accessor: a benchmark)
    model = wrapper.model if wrapper is not None else None
    if model is None or model.forest is None:
        return {"n": 0, "reason": "no model with a flat form is serving"}
    matrices: list[Any] = []
    serve = model.predict
    model.predict = lambda x: matrices.append(x.copy()) or serve(x)  # type: ignore[method-assign]
    try:
        for i, (q, e) in enumerate(queries):
            _search(engine, q, e, i, "score")
    finally:
        del model.predict
    forest_ms: list[float] = []
    booster_ms: list[float] = []
    for x in matrices:
        for sink, score in (
            (forest_ms, model.forest.predict),
            (booster_ms, lambda x: model.booster.predict(x, num_threads=1)),
        ):
            started = time.perf_counter()
            score(x)
            sink.append(1000 * (time.perf_counter() - started))
    out: dict[str, Any] = {
        "n": len(matrices),
        "rows_mean": round(float(np.mean([len(x) for x in matrices])), 1),
        "forest": _stats(forest_ms),
        "booster": _stats(booster_ms),
    }
    out["booster_over_forest_p50"] = round(out["booster"]["p50_ms"] / out["forest"]["p50_ms"], 2)
    return out


def _during_retrain(engine: Engine, queries: list[tuple[str, str]]) -> dict[str, Any]:
    """Search while ``Engine.train`` runs on another thread, until it ends."""
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.update(report=engine.train()))
    started = time.perf_counter()
    thread.start()
    ms = []
    for i, (q, e) in enumerate(queries):
        if not thread.is_alive():
            break
        ms.append(_search(engine, q, e, i, "busy"))
    thread.join()
    stats = _stats(ms) if ms else {"n": 0}
    stats["retrain_seconds"] = round(time.perf_counter() - started, 2)
    return stats


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--searches", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    result = run(args.data, args.searches, args.rounds, args.seed)
    sys.stdout.write(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode() + "\n")


if __name__ == "__main__":
    main()

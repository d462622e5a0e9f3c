"""``ltrr evaluate``: every strategy alone, and their fusion, on a BEIR-layout benchmark.

The corpus goes into an evaluation workspace (``evaluate.workspace``: a data directory of its
own keyed by a fingerprint of corpus and index settings, never the user's ``--data``), which
reuses the catalog and every saved index while nothing that shapes them changed.

Each judged query is understood once, by the catalog's own query understander (built and
saved like an index), then every strategy retrieves at the configured depth, timed alone;
``fusion`` is RRF over the ``[merge.fusion]`` subset of the strategies that ran. Metrics come
from pytrec_eval (``evaluate.metrics``). With ``runs_dir``, the very rankings scored are also
written as TREC run files (``evaluate.runs``), so other tools can score and compare them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ltrr import __version__
from ltrr.config import Config, load_config
from ltrr.errors import ConfigError, UnknownStrategyError
from ltrr.evaluate.beir import Benchmark, read_benchmark
from ltrr.evaluate.metrics import CLASS_METRICS, METRICS, mean, per_query
from ltrr.evaluate.runs import Ranking, check_directory, write_runs
from ltrr.evaluate.workspace import Opened, Progress, Workspace
from ltrr.merge.rrf import fusion_params, rrf
from ltrr.retrieve import RETRIEVERS, retriever_class
from ltrr.retrieve.base import Candidate, Retriever
from ltrr.retrieve.indexes import UNDERSTAND
from ltrr.types import Context
from ltrr.understand.base import UnderstoodQuery

logger = logging.getLogger(__name__)

FUSION = "fusion"


@dataclass(frozen=True, slots=True)
class EvaluateParams:
    """``[evaluate]``: candidates per strategy and the strategies run by default."""

    depth: int = 100
    strategies: tuple[str, ...] = ()  # empty: every registered strategy


def evaluate_params(config: Config) -> EvaluateParams:
    """``[evaluate]`` of ``config``, or the defaults while that section is absent."""
    try:
        config.section("evaluate")
    except ConfigError:
        return EvaluateParams()
    return config.params("evaluate", EvaluateParams)


def _understand(
    understander: Any, benchmark: Benchmark
) -> tuple[dict[str, UnderstoodQuery], list[float]]:
    """Every judged query through the catalog's own understander, as a live search would be."""
    queries, latency = {}, []
    for query_id, query in benchmark.queries.items():
        started = time.perf_counter_ns()
        queries[query_id] = understander.understand(query.text)
        latency.append((time.perf_counter_ns() - started) / 1e6)
    return queries, latency


def strategy_names(requested: Iterable[str]) -> list[str]:
    """Requested names in order without repeats (all registered ones if none), checked."""
    names = list(dict.fromkeys(requested)) or list(RETRIEVERS)
    unknown = [n for n in names if n not in RETRIEVERS]
    if unknown:
        raise UnknownStrategyError(
            f"unknown strategy {', '.join(map(repr, unknown))}; allowed: {', '.join(RETRIEVERS)}"
        )
    return names


def evaluate(
    directory: Path,
    strategies: Sequence[str] | None = None,
    split: str = "test",
    work_dir: Path | None = None,
    config: Config | None = None,
    on_progress: Progress | None = None,
    runs_dir: Path | None = None,
) -> dict[str, Any]:
    """Evaluate ``strategies`` (default ``[evaluate] strategies``) on ``split`` of ``directory``.

    Returns the JSON-ready report: ``strategies`` -> name -> metric -> mean over the judged
    queries (``fusion`` included), ``n_queries``, ``by_class`` when queries carry a class,
    and per strategy ``build_s``, ``reused`` and ``latency_ms`` (p50/p99/mean of retrieve).
    With ``runs_dir``, ``runs`` maps each of those names to the TREC run file written there.
    """
    config = config if config is not None else load_config()
    tick: Progress = on_progress if on_progress is not None else (lambda *_: None)
    params = evaluate_params(config)
    names = strategy_names(strategies if strategies else params.strategies)
    kinds = {name: retriever_class(name) for name in names}  # import errors before any work
    if runs_dir is not None:
        check_directory(runs_dir)  # a bad path fails now, not after every strategy ran
    benchmark = read_benchmark(directory, split)
    with Workspace.open(benchmark.corpus_path, config, work_dir, tick) as workspace:
        runs: dict[str, dict[str, list[Candidate]]] = {}
        report: dict[str, Any] = {"build_s": {}, "reused": {}, "latency_ms": {}}
        opened = workspace.index(UNDERSTAND)
        queries, latency = _understand(opened.component, benchmark)
        _record(report, UNDERSTAND, opened, latency)
        for name in kinds:
            opened = workspace.index(name)
            runs[name], latency = run_strategy(name, opened.component, queries, params.depth, tick)
            _record(report, name, opened, latency)
        n_entities = len(workspace.data.catalog)
        ingest_s = workspace.ingest_s
    fusion = fusion_params(config)
    weights = {s: w for s, w in fusion.strategy_to_weight.items() if s in runs}
    if weights:
        runs[FUSION], latency = _fuse(runs, list(weights), weights, fusion.k, params.depth)
        report["latency_ms"][FUSION] = _percentiles(latency)
    report["fusion_of"] = {
        "strategies": list(weights),
        "weights": [*weights.values()],
        "k": fusion.k,
    }
    report.update(_scores(benchmark, runs))
    if runs_dir is not None:
        written = write_runs(runs_dir, {name: _ranking(run) for name, run in runs.items()})
        report["runs"] = {name: str(path) for name, path in written.items()}
    report.update(
        {
            "directory": str(directory),
            "split": split,
            "depth": params.depth,
            "n_entities": n_entities,
            "n_unknown_queries": len(benchmark.unknown_query_ids),
            "work_dir": str(workspace.path),
            "ingest_s": ingest_s,
            "ltrr_version": __version__,
        }
    )
    return report


def _record(report: dict[str, Any], name: str, opened: Opened, latency: list[float]) -> None:
    report["build_s"][name] = opened.build_s
    report["reused"][name] = opened.reused
    report["latency_ms"][name] = _percentiles(latency)


def run_strategy(
    name: str,
    retriever: Retriever,
    queries: Mapping[str, UnderstoodQuery],
    depth: int,
    tick: Progress,
) -> tuple[dict[str, list[Candidate]], list[float]]:
    """Each query's candidates from ``retriever`` and the milliseconds each retrieve took.

    One warm-up call first; ``tick`` reports ``query <name>`` every 100 queries.
    """
    context = Context()
    if queries:
        retriever.retrieve(next(iter(queries.values())), context, depth)
    run, latency = {}, []
    for n, (query_id, query) in enumerate(queries.items(), start=1):
        started = time.perf_counter_ns()
        run[query_id] = retriever.retrieve(query, context, depth)
        latency.append((time.perf_counter_ns() - started) / 1e6)
        if n % 100 == 0 or n == len(queries):
            tick(f"query {name}", n, len(queries))
    return run, latency


def _fuse(
    runs: Mapping[str, Mapping[str, list[Candidate]]],
    names: Sequence[str],
    weights: Mapping[str, float],
    k: int,
    depth: int,
) -> tuple[dict[str, list[Candidate]], list[float]]:
    fused, latency = {}, []
    for query_id in runs[names[0]]:
        started = time.perf_counter_ns()
        merged = rrf({s: runs[s][query_id] for s in names}, weights, k=k, depth=depth)
        latency.append((time.perf_counter_ns() - started) / 1e6)
        fused[query_id] = [Candidate(f.entity_id, f.score) for f in merged]
    return fused, latency


def _ranking(run: Mapping[str, list[Candidate]]) -> Ranking:
    """A strategy's candidates as the run writer takes any ranking: (doc id, score) pairs."""
    return {q: [(c.entity_id, c.score) for c in candidates] for q, candidates in run.items()}


def _percentiles(latency_ms: Sequence[float]) -> dict[str, float]:
    if not latency_ms:
        return {"p50": 0.0, "p99": 0.0, "mean": 0.0}
    p50, p99 = np.percentile(latency_ms, [50, 99])
    return {"p50": float(p50), "p99": float(p99), "mean": float(np.mean(latency_ms))}


def _scores(
    benchmark: Benchmark, runs: Mapping[str, Mapping[str, list[Candidate]]]
) -> dict[str, Any]:
    """``strategies`` (means over judged queries), ``n_queries`` and, with classes, ``by_class``."""
    query_ids = list(benchmark.queries)
    classes: dict[str, list[str]] = {}
    for query_id, query in benchmark.queries.items():
        if query.query_class is not None:
            classes.setdefault(query.query_class, []).append(query_id)
    metrics = list(dict.fromkeys((*METRICS, *(CLASS_METRICS if classes else ()))))
    values = {
        name: per_query(benchmark.qrels, {q: [c.entity_id for c in run[q]] for q in run}, metrics)
        for name, run in runs.items()
    }
    result: dict[str, Any] = {
        "strategies": {
            n: {m: mean(v, query_ids).get(m, 0.0) for m in METRICS} for n, v in values.items()
        },
        "n_queries": len(query_ids),
    }
    if classes:
        result["by_class"] = {
            cls: {n: {m: mean(v, ids)[m] for m in CLASS_METRICS} for n, v in values.items()}
            for cls, ids in sorted(classes.items())
        }
        result["n_queries_by_class"] = {cls: len(ids) for cls, ids in sorted(classes.items())}
    return result

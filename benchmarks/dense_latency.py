"""Dense retrieval latency beside its parts: bare hnswlib, ONNX and torch query encoding.

Usage: ``python benchmarks/dense_latency.py [--n 100000] [--queries 300] [--threads 1]
[--ef 32,64,128,256] [--real 0] [--precision int8] [--no-torch] [--cache-dir DIR]``; prints one
JSON object.

- ``ann``: ``--n`` random unit vectors (seeded) go into a ``DenseRetriever`` through
  ``add_vectors`` (the HNSW build is timed); recall@10 against exact numpy search and the bare
  ``hnswlib.Index.knn_query`` top-100 latency are given for every ``--ef``. Random vectors are
  the hard case for HNSW (no cluster structure); ``--real N`` repeats the recall sweep on the
  MiniLM vectors of an N-entity demo catalog, queried with its own titles' neighbours.
- ``latency``: per query, interleaved so that machine load hits every path alike: the bare
  ``knn_query`` top-100 of the query's vector, ``DenseRetriever.retrieve`` (encode + ANN +
  candidates), the ONNX encode alone at ``--precision`` (the retriever's query graph, int8 by
  default) and through the float graph, exact numpy top-100 over all vectors, and the
  sentence-transformers (torch) encode of the same text, whose vector is compared with both.

All query paths use ``--threads`` threads (ONNX Runtime, torch and hnswlib); p50/p99 in ms.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

from ltrr.catalog.demo import generate_demo_catalog
from ltrr.retrieve.dense import DenseParams, DenseRetriever, entity_text
from ltrr.retrieve.encoder import DIM, Encoder, packaged_model_dir
from ltrr.types import Context, EntityId
from ltrr.understand.base import plain_query

QUERIES = [
    "sad rainy day songs", "taylor swift", "love story", "songs by the weeknd",
    "chill lofi beats to study", "90s hip hop classics", "workout motivation playlist",
    "jazz for a quiet evening", "album by adele", "podcast about startups and business",
    "happy summer pop", "dark techno", "acoustic covers of rock songs", "bohemian rhapsody",
    "latin reggaeton party", "piano music for sleep", "road trip anthems", "kpop dance",
    "sad love songs", "country roads", "electronic music for coding", "true crime podcast",
    "indie folk autumn", "metal", "classical opera arias", "running up that hill kate bush",
    "tayler swift shake it off", "relaxing spa music", "best of 2010s", "feel good friday",
]  # fmt: skip


def _summary(ms: Sequence[float]) -> dict[str, float]:
    a = np.asarray(ms)
    return {
        "p50": round(float(np.percentile(a, 50)), 4),
        "p99": round(float(np.percentile(a, 99)), 4),
    }


def _timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[float, Any]:
    started = time.perf_counter_ns()
    out = fn(*args, **kwargs)
    return (time.perf_counter_ns() - started) / 1e6, out


def _unit(rng: np.random.Generator, n: int) -> NDArray[np.float32]:
    x = rng.standard_normal((n, DIM), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def _exact_top(vectors: NDArray[np.float32], queries: NDArray[np.float32], k: int) -> Any:
    scores = queries @ vectors.T
    return np.argpartition(-scores, k - 1, axis=1)[:, :k]


def recall_sweep(
    dense: DenseRetriever, vectors: NDArray[np.float32], queries: NDArray[np.float32], efs: Any
) -> dict[str, dict[str, float]]:
    """recall@10 against exact search and bare knn_query top-100 latency per ef_search."""
    truth = _exact_top(vectors, queries, 10)
    index = dense.ann_index
    out = {}
    for ef in efs:
        index.set_ef(max(ef, 100))
        times, hits = [], 0
        for q, true in zip(queries, truth, strict=True):
            ms, _ = _timed(index.knn_query, q, k=100, num_threads=1)
            times.append(ms)
            index.set_ef(ef)
            labels10, _ = index.knn_query(q, k=10, num_threads=1)
            index.set_ef(max(ef, 100))
            hits += len(set(labels10[0].tolist()) & set(true.tolist()))
        out[str(ef)] = {"recall@10": round(hits / (10 * len(queries)), 4), **_summary(times)}
    return out


def real_sweep(n: int, params: DenseParams, encoder: Encoder, efs: Any) -> dict[str, Any]:
    entities = list(generate_demo_catalog(n, seed=7))
    started = time.perf_counter()
    vectors = encoder.encode([entity_text(e, params) for e in entities])
    encode_s = time.perf_counter() - started
    dense = DenseRetriever(replace(params, exact_below=0), encoder)
    dense.add_vectors([e.id for e in entities], vectors)
    rng = np.random.default_rng(3)
    picks = rng.choice(n, size=min(300, n), replace=False)
    queries = encoder.encode([entities[i].title for i in picks])
    return {
        "n": n,
        "encode_s": round(encode_s, 1),
        "per_ef": recall_sweep(dense, vectors, queries, efs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--ef", default="32,64,128,256")
    parser.add_argument("--m", type=int, default=DenseParams().hnsw_m)
    parser.add_argument("--real", type=int, default=0)
    parser.add_argument("--precision", default=DenseParams().query_precision)
    parser.add_argument("--no-torch", action="store_true")
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args()
    efs = [int(x) for x in args.ef.split(",")]
    params = DenseParams(
        n_threads=args.threads, hnsw_m=args.m, exact_below=0, query_precision=args.precision
    )

    started = time.perf_counter()
    encoder = Encoder.open(
        args.cache_dir, n_threads=args.threads, query_precision=params.query_precision
    )
    float_encoder = Encoder.open(args.cache_dir, n_threads=args.threads, query_precision="fp32")
    report: dict[str, Any] = {"n": args.n, "threads": args.threads, "params": asdict(params)}
    report["encoder_open_s"] = round(time.perf_counter() - started, 2)

    rng = np.random.default_rng(11)
    vectors = _unit(rng, args.n)
    dense = DenseRetriever(params, encoder)
    build_s, _ = _timed(
        lambda: dense.add_vectors([EntityId(f"e{i}") for i in range(args.n)], vectors)
    )
    report["ann"] = {
        "hnsw_build_s": round(build_s / 1e3, 1),
        "per_ef": recall_sweep(dense, vectors, _unit(rng, 200), efs),
    }
    if args.real:
        report["ann_real_vectors"] = real_sweep(args.real, params, encoder, efs)

    torch_st = None
    if not args.no_torch:
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(args.threads)
        torch_st = SentenceTransformer(str(packaged_model_dir()), device="cpu")

    texts = [QUERIES[i % len(QUERIES)] for i in range(args.queries)]
    paths: dict[str, list[float]] = {
        k: [] for k in ("ann_bare", "retrieve", "encode_onnx", "encode_onnx_fp32", "exact_numpy")
    }
    cosines: list[float] = []
    float_cosines: list[float] = []
    paths["encode_torch"] = []
    dense.search(encoder.encode_query("warm up"), 100)  # sets ef as serving does
    context = Context()
    for i, text in enumerate(texts):
        query = plain_query(text)
        vec = encoder.encode_query(query.text)
        ms, _ = _timed(dense.ann_index.knn_query, vec, k=100, num_threads=1)
        paths["ann_bare"].append(ms)
        ms, _ = _timed(dense.retrieve, query, context, 100)
        paths["retrieve"].append(ms)
        ms, _ = _timed(encoder.encode_query, query.text)
        paths["encode_onnx"].append(ms)
        ms, exact = _timed(float_encoder.encode_query, query.text)
        paths["encode_onnx_fp32"].append(ms)
        float_cosines.append(float(exact @ vec))
        if i < 50:  # exact search is ~100x slower: a sample is enough
            ms, _ = _timed(_exact_top, vectors, vec[None, :], 100)
            paths["exact_numpy"].append(ms)
        if torch_st is not None:
            ms, ref = _timed(torch_st.encode, query.text, normalize_embeddings=True)
            paths["encode_torch"].append(ms)
            cosines.append(float(ref @ vec))
    latency = {k: _summary(v[10:] if len(v) > 20 else v) for k, v in paths.items() if v}

    def ratio(a: str, b: str) -> float:
        return round(latency[a]["p50"] / latency[b]["p50"], 2)

    report["latency_ms"] = latency
    report["ratios_p50"] = {
        "retrieve_over_ann_bare": ratio("retrieve", "ann_bare"),
        "retrieve_over_encode_plus_ann": round(
            latency["retrieve"]["p50"]
            / (latency["encode_onnx"]["p50"] + latency["ann_bare"]["p50"]),
            2,
        ),
        "exact_over_ann_bare": ratio("exact_numpy", "ann_bare"),
        "fp32_over_query_encode": ratio("encode_onnx_fp32", "encode_onnx"),
    }
    report["query_vs_fp32_min_cosine"] = round(min(float_cosines), 6)
    if cosines:
        report["ratios_p50"]["torch_over_onnx_encode"] = ratio("encode_torch", "encode_onnx")
        report["onnx_vs_torch_min_cosine"] = round(min(cosines), 6)
    print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()

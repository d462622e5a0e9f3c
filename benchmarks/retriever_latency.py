"""Latency of the in-process retrievers on a demo catalog, beside bare library calls.

Usage: ``python benchmarks/retriever_latency.py [--size 100000] [--seed 7] [--queries 1000]
[--depth 100]``; prints one JSON object: build, save and load seconds per retriever, and query
latency p50/p99 (ms, one thread) per retriever next to a reference measured in the same run:

- lexical: tantivy's bare ``searcher.search(query, depth)`` with the very query object the
  retriever builds (same terms), so the ratio is what id lookup, the prior and Candidates cost;
- fuzzy: ``rapidfuzz.process.extract(q, all_titles, scorer=fuzz.ratio, limit=depth)``, the
  brute-force scan the index avoids (on a tenth of the queries: it is slow), and the same
  with ``scorer=WRatio``;
- memory: a Python ``dict.get`` of the canonical key (the floor of any lookup);
- structured, popular: ``np.intersect1d`` of the attribute's and the type's row arrays, then
  ``np.argpartition`` on popularity (the same filter, hand-written in numpy);
- related: two hops over a ``dict`` of id -> related ids;
- explore: ``np.argpartition`` of a precomputed score over the whole catalog.

Queries are drawn from the catalog with a seeded generator: misspelled titles and "title
artist" strings (one edit: deletion, transposition, substitution or insertion in a token of at
least 4 letters) for fuzzy and memory, tagged (attribute, type) spans for structured and
popular, artist names as entity spans for related, title words for explore.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from rapidfuzz import fuzz, process

from ltrr.catalog import demo_names as dn
from ltrr.catalog.demo import generate_demo_catalog
from ltrr.config import load_config
from ltrr.retrieve import retriever_class
from ltrr.retrieve.memory import canonical
from ltrr.types import Context, Entity
from ltrr.understand.base import Span, UnderstoodQuery, plain_query
from ltrr.understand.text import normalize, tokenize

NAMES = ("lexical", "fuzzy", "structured", "memory", "popular", "related", "explore")
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def misspell(rng: np.random.Generator, text: str) -> str:
    """``text`` normalised with one edit in one token of at least 4 letters (if it has one)."""
    tokens = tokenize(text)
    long = [i for i, t in enumerate(tokens) if len(t) >= 4]
    if not long:
        return " ".join(tokens)
    i = long[int(rng.integers(len(long)))]
    t = tokens[i]
    j = int(rng.integers(1, len(t) - 1))
    kind = int(rng.integers(4))
    c = _LETTERS[int(rng.integers(26))]
    if kind == 0:
        t = t[:j] + t[j + 1 :]
    elif kind == 1:
        t = t[: j - 1] + t[j] + t[j - 1] + t[j + 1 :]
    elif kind == 2:
        t = t[:j] + c + t[j + 1 :]
    else:
        t = t[:j] + c + t[j:]
    tokens[i] = t
    return " ".join(tokens)


def percentiles(
    fn: Callable[[Any], object], queries: Sequence[Any], repeats: int = 1
) -> dict[str, float]:
    """p50 and p99 (ms) over every timed call and, with ``repeats`` > 1, the p99 of each
    query's fastest call: on a shared machine the latter strips time the process spent
    descheduled, so it shows the code's own cost."""
    for q in queries[:20]:
        fn(q)
    times = np.empty((repeats, len(queries)))
    for r in range(repeats):
        for i, q in enumerate(queries):
            started = time.perf_counter_ns()
            fn(q)
            times[r, i] = time.perf_counter_ns() - started
    ms = times / 1e6
    out = {
        "p50": round(float(np.percentile(ms, 50)), 4),
        "p99": round(float(np.percentile(ms, 99)), 4),
    }
    if repeats > 1:
        out[f"p99_best_of_{repeats}"] = round(float(np.percentile(ms.min(axis=0), 99)), 4)
    return out


def text_queries(rng: np.random.Generator, entities: list[Entity], n: int) -> list[str]:
    """Misspelled titles, half of them followed by the artist."""
    out = []
    for k in rng.choice(len(entities), n, replace=False).tolist():
        e = entities[k]
        text = e.title + (" " + e.fields["artist"] if "artist" in e.fields and k % 2 else "")
        out.append(misspell(rng, text))
    return out


def exact_queries(rng: np.random.Generator, entities: list[Entity], n: int) -> list[str]:
    out = []
    for k in rng.choice(len(entities), n, replace=False).tolist():
        e = entities[k]
        artist = e.fields.get("artist", "")
        out.append(normalize(f"{artist} {e.title}" if artist and k % 2 else e.title))
    return out


def span_queries(rng: np.random.Generator, n: int) -> list[UnderstoodQuery]:
    """Tagged "<mood> <type>" and "<genre> <mood> songs" queries."""
    out = []
    for k in range(n):
        mood = dn.MOODS[int(rng.integers(len(dn.MOODS)))]
        genre = dn.GENRES[int(rng.integers(len(dn.GENRES)))]
        if k % 2:
            out.append(
                UnderstoodQuery(
                    raw=f"{mood} playlist",
                    tokens=(mood, "playlist"),
                    corrected_tokens=(mood, "playlist"),
                    spans=(
                        Span(0, 1, "attribute", "mood", mood, 0.9),
                        Span(1, 2, "type", "playlist", "playlist", 1.0),
                    ),
                )
            )
        else:
            g = tuple(genre.split())
            toks = (*g, mood, "songs", "night")
            out.append(
                UnderstoodQuery(
                    raw=" ".join(toks),
                    tokens=toks,
                    corrected_tokens=toks,
                    spans=(
                        Span(0, len(g), "attribute", "genre", genre, 0.9),
                        Span(len(g), len(g) + 1, "attribute", "mood", mood, 0.8),
                        Span(len(g) + 1, len(g) + 2, "type", "track", "songs", 1.0),
                    ),
                )
            )
    return out


def entity_queries(
    rng: np.random.Generator, entities: list[Entity], n: int
) -> list[UnderstoodQuery]:
    artists = [e for e in entities if e.type == "artist"]
    out = []
    for k in rng.choice(len(artists), n, replace=True).tolist():
        name = normalize(artists[k].title)
        toks = tuple(name.split())
        out.append(
            UnderstoodQuery(
                raw=name,
                tokens=toks,
                corrected_tokens=toks,
                spans=(Span(0, len(toks), "entity", "artist", name, 0.9),),
            )
        )
    return out


def references(
    entities: list[Entity], queries: dict[str, list[Any]], depth: int
) -> dict[str, dict[str, Any]]:
    """The bare library calls, timed on the same queries."""
    titles = [normalize(e.title) for e in entities]
    n = len(entities)
    popularity = np.array([e.popularity for e in entities])
    by_key: dict[str, list[str]] = {}
    for e in entities:
        by_key.setdefault(canonical(tokenize(e.title), ("the",)), []).append(e.id)
    facet_rows: dict[tuple[str, str], list[int]] = {}
    for r, e in enumerate(entities):
        facet_rows.setdefault(("type", e.type), []).append(r)
        for a, values in e.attributes.items():
            for v in values:
                facet_rows.setdefault((a, v), []).append(r)
    facets = {k: np.array(v) for k, v in facet_rows.items()}
    graph = {e.id: e.related for e in entities}
    name_to_id = {normalize(e.title): e.id for e in entities if e.type == "artist"}
    score = np.random.default_rng(0).random(n)

    def filtered(q: UnderstoodQuery) -> object:
        rows = facets[("type", q.spans[-1].label)]
        for s in q.spans[:-1]:
            rows = np.intersect1d(rows, facets[(s.label, s.value)], assume_unique=True)
        if len(rows) > depth:
            rows = rows[np.argpartition(-popularity[rows], depth - 1)[:depth]]
        return rows

    def two_hops(q: UnderstoodQuery) -> object:
        seed = name_to_id.get(q.spans[0].value)
        first = set(graph.get(seed, ())) if seed else set()
        return first | {t for s in first for t in graph.get(s, ())}

    def scan(q: str) -> object:
        return process.extract(q, titles, scorer=fuzz.ratio, limit=depth)

    def wratio(q: str) -> object:
        return process.extract(q, titles, scorer=fuzz.WRatio, limit=depth)

    some = queries["fuzzy"][: max(20, len(queries["fuzzy"]) // 10)]

    def bare_tantivy(index: Any) -> dict[str, Any]:
        prebuilt = [index.query_for(plain_query(q).tokens) for q in queries["lexical"]]
        prebuilt = [q for q in prebuilt if q is not None]
        return {
            "what": "tantivy searcher.search(same query object, depth)",
            **percentiles(lambda q: index.searcher.search(q, depth, count=False), prebuilt),
        }

    return {
        "lexical": bare_tantivy,
        "fuzzy": {"what": "rapidfuzz.process.extract(scorer=fuzz.ratio) over all titles",
                  **percentiles(scan, some),
                  "wratio": {"what": "the same with scorer=fuzz.WRatio",
                             **percentiles(wratio, some[: len(some) // 2])}},
        "memory": {"what": "dict.get(canonical key)",
                   **percentiles(lambda q: by_key.get(canonical(tokenize(q), ("the",))),
                                 queries["memory"])},
        "structured": {"what": "np.intersect1d + argpartition on popularity",
                       **percentiles(filtered, queries["structured"])},
        "popular": {"what": "np.intersect1d + argpartition on popularity",
                    **percentiles(filtered, queries["popular"])},
        "related": {"what": "two hops over a dict of related ids",
                    **percentiles(two_hops, queries["related"])},
        "explore": {"what": "np.argpartition of a precomputed score over the catalog",
                    **percentiles(lambda q: np.argpartition(-score, depth - 1)[:depth],
                                  queries["explore"])},
    }  # fmt: skip


def measure(
    name: str,
    entities: list[Entity],
    queries: dict[str, list[UnderstoodQuery]],
    refs: dict[str, dict[str, Any]],
    args: argparse.Namespace,
    folder: Path,
) -> dict[str, Any]:
    """Build, save and load one retriever, then time it on each of its query sets."""
    config = load_config()
    cls = retriever_class(name)
    out: dict[str, Any] = {}
    started = time.perf_counter()
    index = cls.build(entities, config, catalog_version=1)
    out["build_s"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    index.save(folder / name)
    out["save_s"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    index = cls.load(folder / name, config)
    out["load_s"] = round(time.perf_counter() - started, 2)
    context = Context()

    def run(q: UnderstoodQuery) -> object:
        return index.retrieve(q, context, args.depth)

    out["latency_ms"] = {}
    for label, qs in queries.items():
        ours = percentiles(run, qs, args.repeats)
        ref = refs[name](index) if callable(refs[name]) else refs[name]
        out["latency_ms"][label] = {
            **ours,
            "reference": ref,
            "ratio_p50": round(ours["p50"] / max(ref["p50"], 1e-6), 2),
            "ratio_p99": round(ours["p99"] / max(ref["p99"], 1e-6), 2),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    entities = list(generate_demo_catalog(args.size, args.seed))
    rng = np.random.default_rng(args.seed)
    n = args.queries
    misspelled = text_queries(rng, entities, n)
    spans = span_queries(rng, n)
    words = [e.title.split()[0] for e in entities[: 10 * n : 10]]
    raw: dict[str, list[Any]] = {
        "lexical": exact_queries(rng, entities, n),
        "fuzzy": misspelled,
        "memory": exact_queries(rng, entities, n),
        "structured": spans,
        "popular": spans,
        "related": entity_queries(rng, entities, n),
        "explore": words,
    }
    refs = references(entities, raw, args.depth)
    result: dict[str, Any] = {
        "size": args.size, "seed": args.seed, "n_queries": n, "depth": args.depth,
        "repeats": args.repeats, "load_average_1m": round(os.getloadavg()[0], 2),
    }  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for name in NAMES:
            queries = {
                name: [q if isinstance(q, UnderstoodQuery) else plain_query(q) for q in raw[name]]
            }
            if name == "memory":
                queries["memory_misspelled"] = [plain_query(q) for q in misspelled]
            result[name] = measure(name, entities, queries, refs, args, Path(tmp))
    result["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()

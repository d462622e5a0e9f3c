"""The traffic pool and the unseen pool of a simulation (EVALUATION.md section 3, "Pools").

Traffic comes from the traffic split (``train``) when the benchmark judges one, else from a
seeded ``traffic_share`` (80%) of the judged queries; the unseen pool is the unseen split
(``test``), else the rest. The judged queries, when neither split is given, are those of the
unseen split if it exists, else of every split together. A query of the unseen pool is never
in the traffic pool (a query judged in both splits stays unseen), so it never reaches the
learner. The split seed is one per benchmark (``split_seed``), not per simulation seed, so
every seed evaluates on the same unseen queries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ltrr.catalog.jsonl import beir_corpus_path
from ltrr.errors import CatalogError
from ltrr.evaluate.beir import Benchmark, read_benchmark, splits


@dataclass(frozen=True, slots=True)
class Pools:
    """Query ids of both pools, with every pool query's text, class and judgements."""

    traffic: tuple[str, ...]
    unseen: tuple[str, ...]
    texts: Mapping[str, str]
    classes: Mapping[str, str | None]
    qrels: Mapping[str, Mapping[str, int]]
    corpus_path: Path
    traffic_source: str
    unseen_source: str

    @property
    def query_ids(self) -> tuple[str, ...]:
        return self.traffic + self.unseen

    def describe(self) -> dict[str, object]:
        return {
            "traffic": {"source": self.traffic_source, "n_queries": len(self.traffic)},
            "unseen": {"source": self.unseen_source, "n_queries": len(self.unseen)},
        }


def _merge(
    benchmarks: list[Benchmark],
) -> tuple[dict[str, str], dict[str, str | None], dict[str, dict[str, int]]]:
    texts: dict[str, str] = {}
    classes: dict[str, str | None] = {}
    qrels: dict[str, dict[str, int]] = {}
    for bench in benchmarks:
        for query_id, query in bench.queries.items():
            texts[query_id], classes[query_id] = query.text, query.query_class
            judged = qrels.setdefault(query_id, {})
            for entity_id, grade in bench.qrels[query_id].items():
                judged[entity_id] = max(grade, judged.get(entity_id, grade))
    return texts, classes, qrels


def _split(ids: list[str], share: float, seed: int) -> tuple[list[str], list[str]]:
    """A seeded ``share`` of ``ids`` and the rest, each in the original order."""
    if len(ids) < 2:
        raise CatalogError(f"needs at least 2 judged queries to split, found {len(ids)}")
    order = np.random.default_rng(seed).permutation(len(ids))
    n_traffic = min(max(round(share * len(ids)), 1), len(ids) - 1)
    chosen = set(order[:n_traffic].tolist())
    return [q for i, q in enumerate(ids) if i in chosen], [
        q for i, q in enumerate(ids) if i not in chosen
    ]


def read_pools(
    directory: Path, traffic_split: str, unseen_split: str, share: float, seed: int
) -> Pools:
    """Both pools of the benchmark in ``directory`` (see the module docstring)."""
    available = splits(directory)
    if not available:
        raise CatalogError("has no qrels/<split>.tsv", path=str(directory))
    pct = f"{share:.0%}"
    if traffic_split in available and unseen_split in available and traffic_split != unseen_split:
        traffic_b, unseen_b = (read_benchmark(directory, s) for s in (traffic_split, unseen_split))
        texts, classes, qrels = _merge([traffic_b, unseen_b])
        unseen = list(unseen_b.queries)
        held = set(unseen)
        traffic = [q for q in traffic_b.queries if q not in held]
        sources = (f"split {traffic_split}", f"split {unseen_split}")
    else:
        names = [traffic_split] if traffic_split in available else []
        names = names or ([unseen_split] if unseen_split in available else available)
        benches = [read_benchmark(directory, s) for s in names]
        texts, classes, qrels = _merge(benches)
        traffic, unseen = _split(list(texts), share, seed)
        label = "+".join(names)
        sources = (f"seeded {pct} of split {label}", f"the other {1 - share:.0%} of split {label}")
    if not traffic or not unseen:
        raise CatalogError(
            f"traffic pool has {len(traffic)} and unseen pool {len(unseen)} judged queries; "
            "both need at least one",
            path=str(directory),
        )
    return Pools(
        traffic=tuple(traffic),
        unseen=tuple(unseen),
        texts=texts,
        classes=classes,
        qrels=qrels,
        corpus_path=beir_corpus_path(directory),
        traffic_source=sources[0],
        unseen_source=sources[1],
    )


def read_judged(
    directory: Path,
) -> tuple[dict[str, str], dict[str, str | None], dict[str, dict[str, int]]]:
    """Every judged query of every split: texts, classes and qrels (a query judged in two
    splits keeps each entity's highest grade). Live traffic has no unseen pool to hold out."""
    available = splits(directory)
    if not available:
        raise CatalogError("has no qrels/<split>.tsv", path=str(directory))
    return _merge([read_benchmark(directory, s) for s in available])

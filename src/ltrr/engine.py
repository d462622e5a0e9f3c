"""The engine: one object that wires the stages for a data directory.

``Engine.search`` runs understand -> retrieve (each chosen strategy to its depth) -> merge
with provenance -> rank. Until a learned policy and ranker exist, every requested strategy
runs at the configured depth and the merged candidates are ranked by reciprocal rank fusion;
the CLI and the HTTP service are thin layers over this class.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ltrr.config import Config, load_config
from ltrr.errors import LtrrError, UnknownStrategyError
from ltrr.merge.rrf import rrf
from ltrr.retrieve import RETRIEVERS
from ltrr.retrieve.base import Candidate
from ltrr.retrieve.indexes import IndexSet, Progress
from ltrr.storage.datadir import DataDir
from ltrr.types import Context, Entity
from ltrr.understand.base import UnderstoodQuery


@dataclass(frozen=True, slots=True)
class SearchParams:
    """``[search]``: what a search runs when the caller does not say."""

    strategies: tuple[str, ...] = ("lexical", "fuzzy", "structured", "dense", "memory")
    depth: int = 100
    max_k: int = 100
    fusion_k: int = 60


@dataclass(frozen=True, slots=True)
class Result:
    """A shown entity, its fused score, and ``{strategy: (1-based rank, score)}``."""

    entity: Entity
    score: float
    provenance: Mapping[str, tuple[int, float]]


@dataclass(frozen=True, slots=True)
class SearchResponse:
    query: UnderstoodQuery
    results: tuple[Result, ...]
    n_candidates: int
    strategy_latency_ms: Mapping[str, float]
    latency_ms: float


class Engine:
    """Search over one data directory. Open with ``Engine.open``; close when done."""

    def __init__(self, data_dir: DataDir, indexes: IndexSet, params: SearchParams) -> None:
        self.data_dir = data_dir
        self.indexes = indexes
        self.params = params

    @classmethod
    def open(
        cls,
        path: Path,
        config: Config | None = None,
        *,
        strategies: Sequence[str] | None = None,
        writer: bool = False,
        on_progress: Progress | None = None,
    ) -> Engine:
        """Open ``path`` and its indexes (built or caught up if the catalog moved on)."""
        config = config or load_config(data_dir=path)
        params = search_params(config)
        names = tuple(strategies or params.strategies)
        for name in names:
            if name not in RETRIEVERS:
                raise UnknownStrategyError(
                    f"unknown strategy {name!r}; allowed: {', '.join(RETRIEVERS)}"
                )
        data_dir = DataDir(path, config, writer=writer).open()
        try:
            indexes = IndexSet.open(data_dir, names, on_progress=on_progress)
        except BaseException:
            data_dir.close()
            raise
        return cls(data_dir, indexes, params)

    def close(self) -> None:
        self.data_dir.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def search(
        self,
        query: str,
        context: Context | None = None,
        *,
        k: int = 10,
        offset: int = 0,
        strategies: Sequence[str] | None = None,
        depth: int | None = None,
    ) -> SearchResponse:
        """The top ``k`` results after ``offset`` for ``query``, with provenance."""
        if not 1 <= k <= self.params.max_k:
            raise LtrrError(f"k must be between 1 and {self.params.max_k}, got {k}")
        if offset < 0:
            raise LtrrError(f"offset must be >= 0, got {offset}")
        started = time.perf_counter()
        context = context or Context()
        understood = self.indexes.understander.understand(query)
        rankings, latency = self._retrieve(understood, context, strategies, depth)
        fused = rrf(rankings, k=self.params.fusion_k)
        page = fused[offset : offset + k]
        store = self.data_dir.catalog
        results = []
        for item in page:
            entity = store.get(item.entity_id)
            if entity is not None:
                results.append(Result(entity, item.score, item.provenance))
        return SearchResponse(
            query=understood,
            results=tuple(results),
            n_candidates=len(fused),
            strategy_latency_ms=latency,
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    def _retrieve(
        self,
        query: UnderstoodQuery,
        context: Context,
        strategies: Sequence[str] | None,
        depth: int | None,
    ) -> tuple[dict[str, list[Candidate]], dict[str, float]]:
        names = tuple(strategies or self.indexes.retrievers)
        unknown = [n for n in names if n not in self.indexes.retrievers]
        if unknown:
            raise UnknownStrategyError(
                f"strategy {unknown[0]!r} is not open; open: {', '.join(self.indexes.retrievers)}"
            )
        rankings: dict[str, list[Candidate]] = {}
        latency: dict[str, float] = {}
        for name in names:
            started = time.perf_counter()
            rankings[name] = self.indexes.retrievers[name].retrieve(
                query, context, depth or self.params.depth
            )
            latency[name] = (time.perf_counter() - started) * 1000
        return rankings, latency


def search_params(config: Config) -> SearchParams:
    params = config.params("search", SearchParams)
    if not params.strategies:
        raise LtrrError("search.strategies must name at least one strategy")
    return params

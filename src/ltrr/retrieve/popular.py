"""``popular``: the most popular entities among those the query or the user implies.

In order of precedence:

1. the query's tagged ``attribute`` and ``type`` spans (as ``structured`` reads them): the most
   popular entities carrying those values, types being a hard filter;
2. else the user's taste (``Context.taste``: attribute value -> affinity): the most popular
   entities carrying the values the user likes, weighted by affinity;
3. else, with ``global_fallback``, the most popular entities of the catalog.

Score: ``match * (1 + prior) / 2``, with ``match`` in [0, 1] the (affinity- or confidence-)
weighted share of the implied values an entity carries (times the value's weight) and
``prior`` the popularity prior; the top ``depth`` come from one ``argpartition`` over the
carriers. Global popularity is an order precomputed at build and load.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ltrr.config import Config, section_params
from ltrr.retrieve._index import (
    EntityRows,
    Postings,
    Vocabulary,
    candidates,
    read_index,
    remap_rows,
    top_rows,
    write_index,
)
from ltrr.retrieve.base import Candidate
from ltrr.retrieve.structured import Facets, attribute_match, constraints, filtered
from ltrr.types import Context, Entity, EntityId
from ltrr.understand.base import UnderstoodQuery

NAME = "popular"
_BATCH = 5000


@dataclass(frozen=True, slots=True)
class PopularParams:
    """``[retrieve.popular]`` (see defaults.toml)."""

    max_taste_values: int = 8
    min_affinity: float = 0.0
    global_fallback: bool = True


def popular_params(config: Config) -> PopularParams:
    return section_params(config, "retrieve.popular", PopularParams)


class PopularRetriever:
    """Popularity within the attributes and types the query or user implies."""

    name = NAME

    def __init__(
        self,
        params: PopularParams,
        *,
        catalog_version: int,
        rows: EntityRows,
        facets: Facets,
        order: NDArray[np.int64],
    ) -> None:
        self.params = params
        self.catalog_version = catalog_version
        self._rows, self._facets = rows, facets
        self._order = order  # rows [0, len(order)) by popularity, most popular first

    @classmethod
    def build(
        cls,
        entities: Iterable[Entity],
        config: Config,
        *,
        catalog_version: int,
        on_progress: Callable[[int], None] | None = None,
    ) -> PopularRetriever:
        index = cls(
            popular_params(config),
            catalog_version=catalog_version,
            rows=EntityRows.empty(),
            facets=Facets(Vocabulary([]), Postings.empty()),
            order=np.zeros(0, np.int64),
        )
        pairs: tuple[list[int], list[int], list[float]] = ([], [], [])
        batch: list[Entity] = []
        n_done = 0
        for entity in entities:
            batch.append(entity)
            if len(batch) == _BATCH:
                index._collect(batch, pairs)
                n_done += len(batch)
                batch = []
                if on_progress is not None:
                    on_progress(n_done)
        index._collect(batch, pairs)
        if on_progress is not None:
            on_progress(n_done + len(batch))
        index._facets.postings = Postings.from_pairs(
            np.array(pairs[0], np.int64),
            np.array(pairs[1], np.int64),
            np.array(pairs[2], np.float32),
            n_keys=len(index._facets.vocab),
        )
        index._order = _popularity_order(index._rows.popularity)
        return index

    @classmethod
    def load(cls, directory: Path, config: Config) -> PopularRetriever:
        params = popular_params(config)
        manifest, arrays, docs = read_index(directory, NAME, params, ())
        rows = EntityRows.from_files(arrays, docs)
        return cls(
            params,
            catalog_version=int(manifest["catalog_version"]),
            rows=rows,
            facets=Facets(
                Vocabulary(list(docs["facet_words"])), Postings.from_files(arrays, "facets")
            ),
            order=_popularity_order(rows.popularity),
        )

    def _collect(
        self, entities: Sequence[Entity], pairs: tuple[list[int], list[int], list[float]]
    ) -> None:
        if not entities:
            return
        first, _ = self._rows.append(entities)
        for offset, entity in enumerate(entities):
            for key, weight in self._facets.pairs(entity):
                pairs[0].append(key)
                pairs[1].append(first + offset)
                pairs[2].append(weight)

    def add(self, entities: Sequence[Entity]) -> None:
        pairs: tuple[list[int], list[int], list[float]] = ([], [], [])
        self._collect(entities, pairs)
        self._facets.postings.extend(*pairs)

    def remove(self, ids: Sequence[EntityId]) -> None:
        self._rows.retire(ids)

    def save(self, directory: Path) -> None:
        keep = self._rows.keep()
        remap = remap_rows(keep, self._rows.n)
        rows = self._rows.compacted(keep)
        arrays, docs = rows.to_files()
        facets = self._facets.postings.merged(remap, n_keys=len(self._facets.vocab))
        arrays.update(facets.to_files("facets"))
        docs["facet_words"] = self._facets.vocab.words
        write_index(directory, NAME, self.params, self.catalog_version, arrays, docs)

    def __len__(self) -> int:
        return len(self._rows)

    # -- querying -----------------------------------------------------------------------

    def retrieve(self, query: UnderstoodQuery, context: Context, depth: int) -> list[Candidate]:
        """The most popular entities the query's spans, else the user's taste, imply."""
        if query.is_empty or depth <= 0 or not len(self._rows):
            return []
        implied = constraints(query, self._facets, self._rows)
        if implied.usable:
            rows, match = filtered(self._facets, self._rows, implied)
        elif taste := self._taste_groups(context):
            rows, match = attribute_match(self._facets, taste, self._rows.n)
            live = self._rows.alive[rows]
            rows, match = rows[live], match[live]
        elif self.params.global_fallback:
            return self._global(depth)
        else:
            return []
        scores = match * (1.0 + self._rows.prior[rows]) / 2.0
        best, best_scores = top_rows(rows, scores, depth)
        return candidates(self._rows.ids, best, best_scores)

    def _taste_groups(self, context: Context) -> list[tuple[list[int], float]]:
        """(facet keys, affinity) of the user's strongest tastes the catalog knows."""
        liked = sorted(
            ((float(a), v) for v, a in context.taste.items() if a > self.params.min_affinity),
            key=lambda av: (-av[0], av[1]),
        )
        groups = []
        for affinity, value in liked:
            keys = self._facets.value_keys(value)
            if keys:
                groups.append((keys, affinity))
            if len(groups) == self.params.max_taste_values:
                break
        return groups

    def _global(self, depth: int) -> list[Candidate]:
        alive, order = self._rows.alive, self._order
        head = order[: 2 * depth]
        head = head[alive[head]]
        if len(head) < depth:
            head = order[alive[order]]
        newer = np.arange(len(order), self._rows.n, dtype=np.int64)
        rows = np.concatenate([head[:depth], newer[alive[newer]]])
        best, best_scores = top_rows(rows, self._rows.prior[rows].astype(np.float64), depth)
        return candidates(self._rows.ids, best, best_scores)


def _popularity_order(popularity: NDArray[np.float64]) -> NDArray[np.int64]:
    return np.lexsort((np.arange(len(popularity)), -popularity)).astype(np.int64)

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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ltrr.retrieve._index import Files, RowIndex, candidates, top_rows
from ltrr.retrieve._postings import Pairs, Rows
from ltrr.retrieve._rows import EntityRows
from ltrr.retrieve.base import Candidate
from ltrr.retrieve.structured import Facets, attribute_match, constraints, filtered
from ltrr.types import Context, Entity
from ltrr.understand.base import UnderstoodQuery

NAME = "popular"


@dataclass(frozen=True, slots=True)
class PopularParams:
    """``[retrieve.popular]`` (see defaults.toml)."""

    max_taste_values: int = 8
    min_affinity: float = 0.0
    global_fallback: bool = True


class PopularRetriever(RowIndex[PopularParams]):
    """Popularity within the attributes and types the query or user implies."""

    name = NAME
    params_type = PopularParams

    def __init__(
        self,
        params: PopularParams,
        *,
        catalog_version: int,
        rows: EntityRows,
        facets: Facets,
        order: NDArray[np.int64],
    ) -> None:
        super().__init__(params, catalog_version, rows)
        self._facets = facets
        self._order = order  # rows [0, len(order)) by popularity, most popular first

    # -- indexing -----------------------------------------------------------------------

    @classmethod
    def empty(cls, params: PopularParams, catalog_version: int) -> PopularRetriever:
        return cls(
            params,
            catalog_version=catalog_version,
            rows=EntityRows.empty(),
            facets=Facets.empty(),
            order=np.zeros(0, np.int64),
        )

    def _build(self, batches: Iterable[Sequence[Entity]]) -> None:
        pairs = Pairs()
        for batch in batches:
            self._collect(batch, pairs)
        self._facets.postings = pairs.postings(len(self._facets.vocab))
        self._order = _popularity_order(self._rows.popularity)

    @classmethod
    def _from_files(
        cls, params: PopularParams, catalog_version: int, rows: EntityRows, files: Files
    ) -> PopularRetriever:
        return cls(
            params,
            catalog_version=catalog_version,
            rows=rows,
            facets=Facets.from_files(files),
            order=_popularity_order(rows.popularity),
        )

    def _files(self, keep: Rows, remap: Rows) -> Files:
        return self._facets.to_files(remap)

    def _collect(self, entities: Sequence[Entity], pairs: Pairs) -> None:
        if not entities:
            return
        first, _ = self._rows.append(entities)
        for offset, entity in enumerate(entities):
            self._facets.collect(entity, first + offset, pairs)

    def add(self, entities: Sequence[Entity]) -> None:
        pairs = Pairs()
        self._collect(entities, pairs)
        pairs.extend_into(self._facets.postings)

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

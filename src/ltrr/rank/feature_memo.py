"""The query-entity feature columns of repeated queries, computed once per catalog version.

Most of a candidate's feature row depends on the query and the entity alone: text match,
popularity, the entity's type and attributes against the query's tags, its date. Head queries
repeat and retrieve mostly the same candidates, so ``Featurizer`` keeps those columns per query
(keyed by what they read of it: the corrected tokens and the tags) and computes only the
candidates it has not seen with that query; what depends on the request (provenance: which
lists found it, at which rank, and the memory index learns; age at the event time; the user's
taste) is computed every time. A memo belongs to one catalog version: it is emptied when the
text index's version moves, so a remembered row is exactly the row computed now.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence

import numpy as np
from numpy.typing import NDArray

from ltrr.types import EntityId

#: float64: the event time's precision survives in the date column (float32 would round it).
Matrix = NDArray[np.float64]
#: Computes the memoised columns of the given ids, shape (len(ids), n_columns).
Compute = Callable[[Sequence[EntityId]], Matrix]


class _QueryRows:
    """One query's remembered rows: entity -> row of ``values``."""

    __slots__ = ("position", "values")

    def __init__(self, n_columns: int) -> None:
        self.position: dict[EntityId, int] = {}
        self.values: Matrix = np.empty((0, n_columns), np.float64)


class FeatureMemo:
    """Per query, the memoised columns of the entities seen with it; at most ``max_rows`` rows
    over all queries (least recently used queries are dropped first)."""

    def __init__(self, n_columns: int, max_rows: int = 200_000) -> None:
        self.n_columns = n_columns
        self.max_rows = max_rows
        self._queries: OrderedDict[Hashable, _QueryRows] = OrderedDict()
        self._rows = 0
        self._version: object = None
        self.hits = 0
        self.misses = 0

    def columns(
        self, version: object, key: Hashable, ids: Sequence[EntityId], compute: Compute
    ) -> Matrix:
        """The columns of ``ids`` for query ``key`` at catalog ``version``: remembered rows
        gathered, the others computed by one ``compute`` call and remembered."""
        if version != self._version:
            self.clear()
            self._version = version
        memo = self._queries.get(key)
        if memo is None:
            memo = self._queries[key] = _QueryRows(self.n_columns)
        else:
            self._queries.move_to_end(key)
        get = memo.position.get
        at = np.fromiter((get(e, -1) for e in ids), np.int64, len(ids))
        missing = np.flatnonzero(at < 0)
        self.hits += len(ids) - len(missing)
        self.misses += len(missing)
        if len(missing):
            new_ids = list(dict.fromkeys(ids[i] for i in missing.tolist()))  # once each
            first = len(memo.values)
            memo.values = np.concatenate([memo.values, compute(new_ids)])
            for offset, entity_id in enumerate(new_ids, start=first):
                memo.position[entity_id] = offset
            at[missing] = [memo.position[ids[i]] for i in missing.tolist()]
            self._rows += len(new_ids)
            self._shrink()
        return memo.values[at]

    def _shrink(self) -> None:
        """Drop least recently used queries over the bound: the one just used last, if alone it
        holds more (an exploring strategy adds random candidates to a head query forever)."""
        while self._rows > self.max_rows and self._queries:
            _, oldest = self._queries.popitem(last=False)
            self._rows -= len(oldest.values)

    def clear(self) -> None:
        self._queries.clear()
        self._rows = 0

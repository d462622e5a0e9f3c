"""The entity table every in-process index is built on: append-only rows.

An entity gets the next row when it is added, and an update appends a new row and retires the
old one instead of editing in place, so posting lists (``retrieve._postings``) never need
deletions: a reader masks retired rows with ``alive``. ``save`` compacts (``keep``,
``remap_rows``): a loaded index is dense again. Kept apart from the postings because every
retriever has exactly one table but its own set of posting lists.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ltrr.types import Entity, EntityId


class Growable:
    """A numpy column that appends in amortised O(1) (capacity doubles)."""

    def __init__(self, data: NDArray[Any]) -> None:
        self._data = data
        self.n = len(data)

    def extend(self, values: NDArray[Any]) -> None:
        need = self.n + len(values)
        if need > len(self._data):
            grown = np.zeros(max(need, 2 * len(self._data), 16), dtype=self._data.dtype)
            grown[: self.n] = self._data[: self.n]
            self._data = grown
        self._data[self.n : need] = values
        self.n = need

    @property
    def view(self) -> NDArray[Any]:
        return self._data[: self.n]


class EntityRows:
    """Append-only rows of the indexed entities with the per-entity numbers every retriever reads.

    ``prior`` is the popularity prior ``log1p(popularity) / log1p(max popularity seen)`` in
    [0, 1]; the maximum only grows (it is saved), so scores do not drift when the most popular
    entity is removed.
    """

    def __init__(
        self,
        ids: list[EntityId | None],
        popularity: NDArray[np.float64],
        added_at_s: NDArray[np.float64],
        type_code: NDArray[np.int32],
        types: list[str],
        max_popularity: float,
    ) -> None:
        self.ids = ids
        self.row_of: dict[EntityId, int] = {e: r for r, e in enumerate(ids) if e is not None}
        self._alive = Growable(np.fromiter((e is not None for e in ids), bool, len(ids)))
        self._popularity = Growable(popularity.astype(np.float64))
        self._added_at = Growable(added_at_s.astype(np.float64))
        self._type_code = Growable(type_code.astype(np.int32))
        self.types = types
        self.type_index = {t: i for i, t in enumerate(types)}
        self.max_popularity = max_popularity
        self._prior: NDArray[np.float32] | None = None

    @classmethod
    def empty(cls) -> EntityRows:
        return cls([], np.zeros(0), np.zeros(0), np.zeros(0, np.int32), [], 0.0)

    def __len__(self) -> int:
        return len(self.row_of)

    @property
    def n(self) -> int:
        """Rows in use, retired ones included."""
        return self._alive.n

    @property
    def alive(self) -> NDArray[np.bool_]:
        return self._alive.view

    @property
    def popularity(self) -> NDArray[np.float64]:
        return self._popularity.view

    @property
    def added_at_s(self) -> NDArray[np.float64]:
        """Epoch seconds; NaN where the entity has no date."""
        return self._added_at.view

    @property
    def type_code(self) -> NDArray[np.int32]:
        return self._type_code.view

    @property
    def prior(self) -> NDArray[np.float32]:
        if self._prior is None or len(self._prior) != self.n:
            scale = math.log1p(self.max_popularity) or 1.0
            self._prior = (np.log1p(np.maximum(self.popularity, 0.0)) / scale).astype(np.float32)
        return self._prior

    def type_codes(self, names: Iterable[str]) -> list[int]:
        return [self.type_index[t] for t in names if t in self.type_index]

    def append(self, entities: Sequence[Entity]) -> tuple[int, list[int]]:
        """Give ``entities`` new rows; returns the first new row and the rows they replace."""
        first, replaced = self.n, []
        codes = []
        for offset, entity in enumerate(entities):
            old = self.row_of.get(entity.id)
            if old is not None:
                replaced.append(old)
                self.ids[old] = None
                self._alive.view[old] = False
            self.row_of[entity.id] = first + offset
            self.ids.append(entity.id)
            if entity.type not in self.type_index:
                self.type_index[entity.type] = len(self.types)
                self.types.append(entity.type)
            codes.append(self.type_index[entity.type])
        popularity = np.array([e.popularity for e in entities], np.float64)
        added = [math.nan if e.added_at_s is None else e.added_at_s for e in entities]
        self._alive.extend(np.ones(len(entities), bool))
        self._popularity.extend(popularity)
        self._added_at.extend(np.array(added, np.float64))
        self._type_code.extend(np.array(codes, np.int32))
        if len(popularity):
            self.max_popularity = max(self.max_popularity, float(popularity.max()))
        self._prior = None
        return first, replaced

    def retire(self, ids: Iterable[EntityId]) -> list[int]:
        """Mark the rows of ``ids`` dead; unknown ids are ignored."""
        rows = [self.row_of.pop(i) for i in ids if i in self.row_of]
        for r in rows:
            self.ids[r] = None
        self.alive[rows] = False
        return rows

    def keep(self) -> NDArray[np.int64]:
        """The live rows in order: row ``keep[i]`` becomes row ``i`` after compaction."""
        return np.flatnonzero(self.alive).astype(np.int64)

    def compacted(self, keep: NDArray[np.int64]) -> EntityRows:
        ids = [self.ids[r] for r in keep.tolist()]
        return EntityRows(
            ids,
            self.popularity[keep],
            self.added_at_s[keep],
            self.type_code[keep],
            list(self.types),
            self.max_popularity,
        )

    def to_files(self) -> tuple[dict[str, NDArray[Any]], dict[str, Any]]:
        """Arrays and JSON documents of a compacted table (call on ``compacted(...)``)."""
        arrays: dict[str, NDArray[Any]] = {
            "popularity": self.popularity,
            "added_at_s": self.added_at_s,
            "type_code": self.type_code,
        }
        docs: dict[str, Any] = {
            "ids": self.ids,
            "types": self.types,
            "max_popularity": self.max_popularity,
        }
        return arrays, docs

    @classmethod
    def from_files(cls, arrays: Mapping[str, NDArray[Any]], docs: Mapping[str, Any]) -> EntityRows:
        return cls(
            [EntityId(i) for i in docs["ids"]],
            arrays["popularity"],
            arrays["added_at_s"],
            arrays["type_code"],
            list(docs["types"]),
            float(docs["max_popularity"]),
        )


def remap_rows(keep: NDArray[np.int64], n: int) -> NDArray[np.int64]:
    """Old row -> new row (-1 for retired rows) for a compaction that keeps ``keep``."""
    remap = np.full(n, -1, np.int64)
    remap[keep] = np.arange(len(keep))
    return remap

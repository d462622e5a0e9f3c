"""Posting lists: integer key -> rows, as a compressed sparse row (CSR) base plus a delta.

Rows only ever append (``retrieve._rows``), so a key's list never needs a deletion: new pairs
go to a small delta, read together with the base and folded into it when it grows or the index
is saved. ``Vocabulary`` gives string keys their dense integers; ``Pairs`` collects the
triples of many entities so that a build sorts them into a CSR once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

Rows = NDArray[np.int64]
Weights = NDArray[np.float32]


class Postings:
    """Integer key -> rows with a float32 weight each: a CSR base plus a delta of new pairs.

    ``indptr`` has shape (n_keys + 1,), ``rows`` and ``weights`` shape (n_pairs,). A key's rows
    are ascending: the base is sorted by (key, row) and the delta only receives rows newer
    than any in the base (rows are append-only), which lets a reader binary-search them.
    """

    def __init__(self, indptr: NDArray[np.int64], rows: Rows, weights: Weights) -> None:
        self.indptr, self.rows, self.weights = indptr, rows, weights
        self._delta: dict[int, tuple[list[int], list[float]]] = {}
        self._n_delta = 0

    @classmethod
    def empty(cls) -> Postings:
        return cls(np.zeros(1, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))

    @classmethod
    def from_pairs(
        cls,
        keys: NDArray[np.int64],
        rows: Rows,
        weights: NDArray[Any] | None = None,
        *,
        n_keys: int | None = None,
    ) -> Postings:
        """CSR of (key, row, weight) triples, each key's rows ascending."""
        w = np.ones(len(keys), np.float32) if weights is None else weights.astype(np.float32)
        n_keys = int(keys.max()) + 1 if n_keys is None and len(keys) else (n_keys or 0)
        order = np.lexsort((rows, keys))
        counts = np.bincount(keys, minlength=n_keys)[:n_keys]
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return cls(indptr, rows[order].astype(np.int64), w[order])

    @property
    def n_base_keys(self) -> int:
        return len(self.indptr) - 1

    def __len__(self) -> int:
        return len(self.rows) + self._n_delta

    def get(self, key: int) -> tuple[Rows, Weights]:
        """Rows and weights of ``key`` (retired rows included; filter with ``alive``)."""
        if 0 <= key < self.n_base_keys:
            lo, hi = self.indptr[key], self.indptr[key + 1]
            rows, weights = self.rows[lo:hi], self.weights[lo:hi]
        else:
            rows, weights = self.rows[:0], self.weights[:0]
        extra = self._delta.get(key)
        if extra is None:
            return rows, weights
        return (
            np.concatenate([rows, np.array(extra[0], np.int64)]),
            np.concatenate([weights, np.array(extra[1], np.float32)]),
        )

    def count(self, key: int) -> int:
        n = int(self.indptr[key + 1] - self.indptr[key]) if 0 <= key < self.n_base_keys else 0
        extra = self._delta.get(key)
        return n + (len(extra[0]) if extra else 0)

    def live_count(self, key: int, alive: NDArray[np.bool_]) -> int:
        """Live rows of ``key``: the document frequency, as a fresh build would count it."""
        rows, _ = self.get(key)
        return int(np.count_nonzero(alive[rows]))

    def gather(self, keys: NDArray[np.int64]) -> tuple[Rows, Weights, NDArray[np.int64]]:
        """Every pair of ``keys`` at once: rows, weights and, per pair, its position in ``keys``."""
        keys = np.asarray(keys, np.int64)
        inside = np.flatnonzero((keys >= 0) & (keys < self.n_base_keys))
        starts = self.indptr[keys[inside]]
        lengths = self.indptr[keys[inside] + 1] - starts
        total = int(lengths.sum())
        seg = np.repeat(inside, lengths)
        offsets = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        idx = np.repeat(starts, lengths) + offsets
        parts_r, parts_w, parts_s = [self.rows[idx]], [self.weights[idx]], [seg]
        if self._delta:
            for pos, key in enumerate(keys.tolist()):
                extra = self._delta.get(key)
                if extra:
                    parts_r.append(np.array(extra[0], np.int64))
                    parts_w.append(np.array(extra[1], np.float32))
                    parts_s.append(np.full(len(extra[0]), pos, np.int64))
        if len(parts_r) == 1:
            return parts_r[0], parts_w[0], parts_s[0]
        return np.concatenate(parts_r), np.concatenate(parts_w), np.concatenate(parts_s)

    def extend(self, keys: Iterable[int], rows: Iterable[int], weights: Iterable[float]) -> None:
        """Append pairs to the delta; folded into the base when it grows large."""
        for key, row, weight in zip(keys, rows, weights, strict=True):
            entry = self._delta.get(key)
            if entry is None:
                entry = self._delta[key] = ([], [])
            entry[0].append(row)
            entry[1].append(weight)
            self._n_delta += 1
        if self._n_delta > max(50_000, len(self.rows) // 4):
            merged = self.merged(None)
            self.indptr, self.rows, self.weights = merged.indptr, merged.rows, merged.weights
            self._delta, self._n_delta = {}, 0

    def pairs(self) -> tuple[NDArray[np.int64], Rows, Weights]:
        """All (key, row, weight) triples, base then delta."""
        keys = np.repeat(np.arange(self.n_base_keys, dtype=np.int64), np.diff(self.indptr))
        parts = [(keys, self.rows, self.weights)]
        for key, (rows, weights) in self._delta.items():
            n = len(rows)
            parts.append(
                (np.full(n, key, np.int64), np.array(rows, np.int64), np.array(weights, np.float32))
            )
        return (
            np.concatenate([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]),
        )

    def merged(
        self,
        remap: NDArray[np.int64] | None,
        *,
        n_keys: int | None = None,
    ) -> Postings:
        """Base and delta as one CSR; ``remap`` (old row -> new row or -1) drops dead rows."""
        keys, rows, weights = self.pairs()
        if remap is not None:
            rows = remap[rows]
            live = rows >= 0
            keys, rows, weights = keys[live], rows[live], weights[live]
        n = max(self.n_base_keys, max(self._delta, default=-1) + 1) if n_keys is None else n_keys
        return Postings.from_pairs(keys, rows, weights, n_keys=n)

    def to_files(self, prefix: str) -> dict[str, NDArray[Any]]:
        """Arrays of a merged CSR (call on ``merged(...)``)."""
        return {
            f"{prefix}_indptr": self.indptr,
            f"{prefix}_rows": self.rows,
            f"{prefix}_weights": self.weights,
        }

    @classmethod
    def from_files(cls, arrays: Mapping[str, NDArray[Any]], prefix: str) -> Postings:
        return cls(
            arrays[f"{prefix}_indptr"].astype(np.int64),
            arrays[f"{prefix}_rows"].astype(np.int64),
            arrays[f"{prefix}_weights"].astype(np.float32),
        )


class Vocabulary:
    """String -> dense integer key, append-only (keys of ``Postings``)."""

    def __init__(self, words: list[str]) -> None:
        self.words = words
        self.index = {w: i for i, w in enumerate(words)}

    def __len__(self) -> int:
        return len(self.words)

    def add(self, word: str) -> int:
        key = self.index.get(word)
        if key is None:
            key = self.index[word] = len(self.words)
            self.words.append(word)
        return key

    def get(self, word: str) -> int:
        """The key of ``word``, or -1."""
        return self.index.get(word, -1)


@dataclass(slots=True)
class Pairs:
    """(key, row, weight) triples collected for one ``Postings``.

    A build collects every entity's pairs and sorts them once (``postings``); a later ``add``
    appends its few pairs to the delta (``extend_into``).
    """

    keys: list[int] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)

    def append(self, key: int, row: int, weight: float = 1.0) -> None:
        self.keys.append(key)
        self.rows.append(row)
        self.weights.append(weight)

    def postings(self, n_keys: int) -> Postings:
        """The pairs as one CSR over ``n_keys`` keys."""
        return Postings.from_pairs(
            np.array(self.keys, np.int64),
            np.array(self.rows, np.int64),
            np.array(self.weights, np.float32),
            n_keys=n_keys,
        )

    def extend_into(self, postings: Postings) -> None:
        postings.extend(self.keys, self.rows, self.weights)

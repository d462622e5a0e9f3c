"""Forward indexes: row -> (key, value) pairs, what the ranker reads per candidate.

A retriever asks "which rows hold this token" (``retrieve._postings.Postings``); the ranker
asks the transpose, "what does this candidate hold", for a few hundred candidates at once. Rows
only append (``retrieve._rows``), so a forward CSR grows at its end in place (``Growable``)
and needs no delta; a retired row keeps its slice until ``compacted`` drops it at save.

``TextFields`` holds an entity's text fields on top of it: (token, field) keys with term
frequencies per row, the row's length per field, and the live document frequencies and total
lengths BM25 needs, kept right as rows are appended and retired.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ltrr.retrieve._rows import Growable

Rows = NDArray[np.int64]


class Forward:
    """Row -> (key, value) pairs of rows appended in order: a CSR that grows at its end.

    ``indptr`` has shape (n_rows + 1,); ``keys`` (int32) and ``values`` (float32) have shape
    (n_pairs,). Row ``r``'s pairs are ``keys[indptr[r]:indptr[r + 1]]``, each key once.
    """

    def __init__(self, indptr: NDArray[Any], keys: NDArray[Any], values: NDArray[Any]) -> None:
        self._indptr = Growable(indptr.astype(np.int64))
        self._keys = Growable(keys.astype(np.int32))
        self._values = Growable(values.astype(np.float32))

    @classmethod
    def empty(cls) -> Forward:
        return cls(np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32))

    @property
    def n_rows(self) -> int:
        return self._indptr.n - 1

    @property
    def keys(self) -> NDArray[np.int32]:
        return self._keys.view

    @property
    def values(self) -> NDArray[np.float32]:
        return self._values.view

    def append(self, counts: Sequence[int], keys: Sequence[int], values: Sequence[float]) -> None:
        """Append one row per entry of ``counts``, holding the next ``counts[i]`` pairs."""
        ends = int(self._indptr.view[-1]) + np.cumsum(np.asarray(counts, np.int64))
        self._indptr.extend(ends)
        self._keys.extend(np.asarray(keys, np.int32))
        self._values.extend(np.asarray(values, np.float32))

    def slices(self, rows: Rows) -> tuple[Rows, Rows]:
        """Where every pair of ``rows`` (all >= 0) is, at once: per pair its position in
        ``rows`` and its index into ``keys``/``values``.

        One ``np.repeat`` of the slices' starts, shifted by a running count, instead of a loop
        over rows: pair ``j`` of the output lies at ``start[seg[j]] + (j - first[seg[j]])``.
        """
        indptr = self._indptr.view
        starts = indptr[rows]
        lengths = indptr[rows + 1] - starts
        seg = np.repeat(np.arange(len(rows), dtype=np.int64), lengths)
        firsts = np.cumsum(lengths) - lengths
        idx = np.arange(len(seg), dtype=np.int64) + np.repeat(starts - firsts, lengths)
        return seg, idx

    def matches(self, rows: Rows, keys: NDArray[np.int64]) -> tuple[Rows, Rows, NDArray[Any]]:
        """The pairs of ``rows`` whose key is in ``keys`` (sorted, distinct, non-empty): per
        pair its position in ``rows``, its key's position in ``keys``, and its value."""
        seg, idx = self.slices(rows)
        found = self.keys[idx]
        pos = np.searchsorted(keys, found)  # len(keys) past the last: the -1 sentinel
        hit = np.flatnonzero(np.append(keys, -1)[pos] == found)
        return seg[hit], pos[hit], self.values[idx[hit]]

    def compacted(self, keep: Rows) -> Forward:
        """Only the rows ``keep``, renumbered 0..len(keep)-1 (what ``save`` writes)."""
        seg, idx = self.slices(keep)
        counts = np.bincount(seg, minlength=len(keep))
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return Forward(indptr, self.keys[idx], self.values[idx])

    def to_files(self, prefix: str) -> dict[str, NDArray[Any]]:
        return {
            f"{prefix}_indptr": self._indptr.view,
            f"{prefix}_keys": self.keys,
            f"{prefix}_values": self.values,
        }

    @classmethod
    def from_files(cls, arrays: Mapping[str, NDArray[Any]], prefix: str) -> Forward:
        return cls(arrays[f"{prefix}_indptr"], arrays[f"{prefix}_keys"], arrays[f"{prefix}_values"])


def _plus_counts(df: NDArray[np.int64], keys: NDArray[Any], sign: int) -> NDArray[np.int64]:
    """``df`` with ``sign`` added once per occurrence of each of ``keys`` (grown to fit)."""
    counts = np.bincount(keys.astype(np.int64), minlength=len(df))
    if len(counts) > len(df):
        df = np.concatenate([df, np.zeros(len(counts) - len(df), np.int64)])
    df += sign * counts
    return df


class TextFields:
    """Text fields of every row in one forward index: the keys are (token, field) pairs,
    ``token * n_fields + field``, each with its term frequency, so one gather per request
    serves every field. Beside it: each row's length per field, and over the live rows the
    document frequency of each key and each field's total length.

    Frequencies and totals count live rows: ``append`` adds a row's tokens, ``retire``
    subtracts them, so an index caught up by adds and removes reads exactly as one built
    from scratch on the final catalog.
    """

    def __init__(self, n_fields: int, forward: Forward, lengths: NDArray[Any]) -> None:
        self.n_fields = n_fields
        self.forward = forward
        self._lengths = Growable(lengths.astype(np.int32).ravel())
        self.df = _plus_counts(np.zeros(0, np.int64), forward.keys, 1)
        self.total_length = self.lengths.sum(axis=0, dtype=np.int64)

    @classmethod
    def empty(cls, n_fields: int) -> TextFields:
        return cls(n_fields, Forward.empty(), np.zeros((0, n_fields), np.int32))

    @property
    def lengths(self) -> NDArray[np.int32]:
        """Tokens per (row, field), shape (n_rows, n_fields)."""
        return self._lengths.view.reshape(-1, self.n_fields)

    def append(self, token_ids: Sequence[Sequence[Sequence[int]]]) -> None:
        """Append one row per entry of ``token_ids``: each field's token ids, in order."""
        n = self.n_fields
        counts: list[int] = []
        keys: list[int] = []
        tfs: list[int] = []
        lengths: list[int] = []
        for fields in token_ids:
            row = Counter(t * n + f for f, ids in enumerate(fields) for t in ids)
            counts.append(len(row))
            keys.extend(row)
            tfs.extend(row.values())
            lengths.extend(len(ids) for ids in fields)
        self.forward.append(counts, keys, tfs)
        added = np.asarray(lengths, np.int32)
        self._lengths.extend(added)
        self.df = _plus_counts(self.df, np.asarray(keys, np.int64), 1)
        self.total_length += added.reshape(-1, n).sum(axis=0, dtype=np.int64)

    def retire(self, rows: Rows) -> None:
        """Take the retired ``rows`` out of the document frequencies and the totals."""
        _, idx = self.forward.slices(rows)
        self.df = _plus_counts(self.df, self.forward.keys[idx], -1)
        self.total_length -= self.lengths[rows].sum(axis=0, dtype=np.int64)

    def doc_freq(self, keys: NDArray[np.int64]) -> NDArray[np.int64]:
        """Live rows holding each of ``keys`` (0 for a key no row ever held)."""
        out = np.zeros(len(keys), np.int64)
        inside = keys < len(self.df)
        out[inside] = self.df[keys[inside]]
        return out

    def compacted(self, keep: Rows) -> TextFields:
        return TextFields(self.n_fields, self.forward.compacted(keep), self.lengths[keep])

    def to_files(self, prefix: str) -> dict[str, NDArray[Any]]:
        return {**self.forward.to_files(prefix), f"{prefix}_lengths": self.lengths}

    @classmethod
    def from_files(cls, arrays: Mapping[str, NDArray[Any]], prefix: str) -> TextFields:
        """The fields ``to_files`` wrote; frequencies are recounted (saved rows are all live)."""
        lengths = arrays[f"{prefix}_lengths"]
        return cls(lengths.shape[1], Forward.from_files(arrays, prefix), lengths)

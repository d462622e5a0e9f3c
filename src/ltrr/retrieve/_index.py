"""Machinery shared by the in-process retrievers: entity rows, postings, atomic saves.

Every index here is built on *rows*: an entity gets the next row when it is added, and an
update appends a new row and retires the old one instead of editing in place. Postings (key ->
rows) therefore never need deletions: a compressed sparse row (CSR) base plus a small delta of
appended pairs, read through the ``alive`` mask. ``save`` compacts (drops retired rows and
folds the delta in), so a loaded index is dense again.

A saved index is a folder of npy and JSON files with a ``manifest.json`` (format, versions,
parameters, catalog version, sha256 of every file), written to a temporary folder and renamed
into place, as ``retrieve.lexical`` does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

from ltrr import __version__
from ltrr.errors import ConfigError, StorageError
from ltrr.retrieve.base import Candidate
from ltrr.storage.folder import read_arrays, staged, write_arrays
from ltrr.types import Entity, EntityId

FORMAT_VERSION = 1
MANIFEST = "manifest.json"

Rows = NDArray[np.int64]
Weights = NDArray[np.float32]


def check_positive(params: object, section: str, names: Iterable[str]) -> None:
    """Raise ``ConfigError`` naming the first of ``names`` that is < 1."""
    for name in names:
        value = getattr(params, name)
        if value < 1:
            raise ConfigError(f"{section}.{name} must be >= 1, got {value}")


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


def bm25_idf(df: NDArray[Any], n_docs: int) -> NDArray[np.float32]:
    """Robertson-Sparck Jones idf as in BM25 (Robertson & Zaragoza 2009), kept >= 0."""
    df = np.asarray(df, np.float64)
    return np.log1p((n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)


def top_rows(rows: Rows, scores: NDArray[Any], depth: int) -> tuple[Rows, NDArray[Any]]:
    """The ``depth`` best (row, score) pairs, best first; ties go to the lower row."""
    if len(rows) > depth:
        part = np.argpartition(-scores, depth - 1)[:depth]
        rows, scores = rows[part], scores[part]
    order = np.lexsort((rows, -scores))
    return rows[order], scores[order]


def best_per_row(
    rows: NDArray[np.int64], scores: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Unique rows, ascending, each with its highest score."""
    if not len(rows):
        return rows, scores
    order = np.lexsort((-scores, rows))
    rows, scores = rows[order], scores[order]
    first = np.concatenate([[True], rows[1:] != rows[:-1]])
    return rows[first], scores[first]


def candidates(ids: Sequence[EntityId | None], rows: Rows, scores: NDArray[Any]) -> list[Candidate]:
    """``Candidate`` objects of live ``rows`` (already ordered)."""
    return [Candidate(ids[r], s) for r, s in zip(rows.tolist(), scores.tolist(), strict=True)]


# -- saving -------------------------------------------------------------------------------


def write_index(
    directory: Path,
    kind: str,
    params: object,
    catalog_version: int,
    arrays: Mapping[str, NDArray[Any]],
    documents: Mapping[str, Any],
) -> None:
    """Write ``arrays`` (npy) and ``documents`` (JSON) plus a manifest, atomically."""
    with staged(directory) as tmp:
        manifest = {
            "format": f"ltrr-{kind}",
            "format_version": FORMAT_VERSION,
            "ltrr_version": __version__,
            "params": asdict(params),  # type: ignore[call-overload]
            "catalog_version": catalog_version,
        }
        write_arrays(tmp, manifest, arrays, documents)


def read_index(
    directory: Path, kind: str, params: object, index_params: Sequence[str]
) -> tuple[dict[str, Any], dict[str, NDArray[Any]], dict[str, Any]]:
    """Manifest, arrays and documents of a folder ``write_index`` wrote, checked.

    Raises
    ------
    StorageError
        If the folder holds no index of this kind and format version, a checksum fails, or
        it was built with index-shaping parameters (``index_params``) other than ``params``.
    """
    path = directory / MANIFEST
    if not path.is_file():
        raise StorageError(f"{directory} holds no {kind} index (no {MANIFEST})")
    try:
        manifest: dict[str, Any] = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise StorageError(f"{path} is not valid JSON: {exc}") from exc
    wanted = f"ltrr-{kind}"
    if manifest.get("format") != wanted or manifest.get("format_version") != FORMAT_VERSION:
        raise StorageError(
            f"{path}: format {manifest.get('format')!r} version {manifest.get('format_version')!r}"
            f" is not {wanted} version {FORMAT_VERSION}; rebuild the index"
        )
    _check_params(directory, kind, manifest["params"], params, index_params)
    arrays, documents = read_arrays(directory, manifest, "rebuild the index")
    return manifest, arrays, documents


def _check_params(
    directory: Path, kind: str, saved: Mapping[str, Any], params: object, names: Sequence[str]
) -> None:
    known = {f.name for f in fields(params)}  # type: ignore[arg-type]
    for name in names:
        if name not in known:
            continue
        wanted = getattr(params, name)
        got = saved.get(name)
        if (tuple(got) if isinstance(wanted, tuple) and got is not None else got) != wanted:
            raise StorageError(
                f"{directory}: built with retrieve.{kind}.{name} = {got!r}, the config says "
                f"{wanted!r}; rebuild the index"
            )

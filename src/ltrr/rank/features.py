"""The learned ranker's features: one code path for serving and training.

Every search computes, for each merged candidate, one float32 row of features; the engine
logs the rows with the impression and the ranker trains on exactly those logged rows, so the
features a model was trained on cannot drift from the ones it is served (Metarank's rule).
A candidate missing from a strategy's list has NaN for that strategy's score and rank, which
LightGBM treats as "missing" and learns a direction for.

The columns (``Featurizer.names``), per candidate:

- ``<s>.score``, ``<s>.rank`` for each configured strategy ``s`` (its provenance; the
  ``memory`` score is its estimate of p(entity | query) from actions, the memory statistics);
- ``n_strategies`` (how many lists found it) and ``rrf`` (the unweighted RRF score, k = 60);
- ``dense.similarity``: the cosine of query and entity for every candidate when the dense
  strategy ran (its query vector is cached, so this costs one matrix-vector product);
- text match per field from ``rank.text_index.TextIndex``: BM25 and the share of query terms
  for ``title``, ``names`` and ``body``, exact title match, title and body lengths;
- catalog: ``popularity`` (log1p), ``age_days`` at the event time, ``type_match`` (the
  entity's type is one the query asked for), ``entity_type_match`` (its type is the type of
  an entity name tagged in the query), ``attribute_match`` (weight of the tagged attribute
  values it carries), ``affinity`` (its attribute values weighted by the user's taste);
- query: token count, correction distance, spearfish and topic intent scores.

``fingerprint`` hashes the version and the names: a model trained on another feature set is
refused (``rank.lambdamart``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from ltrr.merge.rrf import DEFAULT_K, Fused, rrf
from ltrr.rank.feature_memo import FeatureMemo
from ltrr.retrieve.base import Candidate
from ltrr.types import Context, EntityId
from ltrr.understand.base import UnderstoodQuery

#: Bumped whenever a column's meaning changes (not only its name).
FEATURE_VERSION = 1
TEXT_COLUMNS: tuple[str, ...] = (
    "title.bm25", "title.overlap", "names.bm25", "names.overlap", "body.bm25", "body.overlap",
    "title.exact", "title.length", "body.length",
)  # fmt: skip
CATALOG_COLUMNS: tuple[str, ...] = (
    "popularity", "age_days", "type_match", "entity_type_match", "attribute_match", "affinity",
)  # fmt: skip
#: The columns of a (query, entity) pair alone, remembered per query (``rank.feature_memo``);
#: the memo's last column is the entity's ``added_at_s``, for ``age_days`` at the event time.
MEMO_COLUMNS: tuple[str, ...] = (
    *TEXT_COLUMNS, "popularity", "type_match", "entity_type_match", "attribute_match",
)  # fmt: skip
_MEMO_AT = {name: j for j, name in enumerate(MEMO_COLUMNS)}
QUERY_COLUMNS: tuple[str, ...] = (
    "query.n_tokens",
    "query.corrected",
    "query.spearfish",
    "query.topic",
)
DAY_S = 86_400.0
Matrix = NDArray[np.float32]


class TextFeatures(Protocol):
    """What the featurizer reads from the catalog (``rank.text_index.TextIndex``)."""

    #: The catalog version the index reflects (remembered features are of one version).
    catalog_version: int

    def rows_of(self, ids: Sequence[EntityId]) -> NDArray[np.int64]: ...

    def text_match(
        self, rows: NDArray[np.int64], tokens: Sequence[str]
    ) -> dict[str, NDArray[np.float32]]: ...

    def attribute_match(self, rows: NDArray[np.int64], values: Sequence[str]) -> Matrix: ...

    def affinity(self, rows: NDArray[np.int64], taste: Mapping[str, float]) -> Matrix: ...

    def columns(
        self, rows: NDArray[np.int64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int32]]: ...

    @property
    def types(self) -> list[str]: ...


@runtime_checkable
class Similarities(Protocol):
    """The dense retriever's cosine of the query to given entities (NaN where unknown)."""

    def similarities(self, query: UnderstoodQuery, ids: Sequence[EntityId]) -> Matrix: ...


@dataclass(frozen=True, slots=True)
class CandidateFeatures:
    """One request's candidates in RRF order (``fused``) and their feature rows ``x``,
    shape ``(len(fused), len(names))``."""

    fused: tuple[Fused, ...]
    x: Matrix
    fingerprint: str

    @property
    def ids(self) -> list[EntityId]:
        return [f.entity_id for f in self.fused]

    def in_order(self, served: Sequence[Fused]) -> tuple[tuple[EntityId, ...], Matrix]:
        """The featurized candidates in the order of ``served`` (others skipped) and their
        rows: what is logged and trained on, in served order."""
        row_of = {f.entity_id: i for i, f in enumerate(self.fused)}
        ids = tuple(f.entity_id for f in served if f.entity_id in row_of)
        rows = np.fromiter(map(row_of.__getitem__, ids), np.int64, len(ids))
        return ids, self.x[rows]


def feature_names(strategies: Sequence[str]) -> tuple[str, ...]:
    """The columns for ``strategies`` (in config order), in the order of the rows."""
    per_strategy = [f"{s}.{part}" for s in strategies for part in ("score", "rank")]
    return (
        *per_strategy, "n_strategies", "rrf", "dense.similarity",
        *TEXT_COLUMNS, *CATALOG_COLUMNS, *QUERY_COLUMNS,
    )  # fmt: skip


def fingerprint_of(names: Sequence[str]) -> str:
    """A short hash of the feature version and names: equal iff a model's inputs match."""
    text = f"v{FEATURE_VERSION}:" + ",".join(names)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Featurizer:
    """Computes ``CandidateFeatures`` for one request, vectorised over the candidates."""

    def __init__(
        self,
        strategies: Sequence[str],
        text: TextFeatures | None = None,
        dense: Similarities | None = None,
        k: float = DEFAULT_K,
        memo_rows: int = 200_000,
    ) -> None:
        self.strategies = tuple(strategies)
        self.text = text
        self.dense = dense
        self.k = k
        self.names = feature_names(self.strategies)
        self.fingerprint = fingerprint_of(self.names)
        self._column = {name: i for i, name in enumerate(self.names)}
        self._memo_at = [self._column[name] for name in MEMO_COLUMNS]
        #: None: every row computed every time (``[rank.lambdamart] feature_memo_rows = 0``).
        self.memo = FeatureMemo(len(MEMO_COLUMNS) + 1, memo_rows) if memo_rows else None

    def __call__(
        self,
        query: UnderstoodQuery,
        context: Context,
        rankings: Mapping[str, Sequence[Candidate]],
        event_time_s: float,
        merged: Sequence[Fused] | None = None,
    ) -> CandidateFeatures:
        """The features of every candidate of ``rankings``, rows in the order of ``merged``
        (the fallback ranker's complete order, which the caller has anyway) or else of their
        unweighted RRF."""
        fused = tuple(merged) if merged is not None else tuple(rrf(rankings, k=self.k))
        ids = [f.entity_id for f in fused]
        x = np.full((len(ids), len(self.names)), np.nan, dtype=np.float32)
        if ids:
            self._provenance(x, ids, rankings)
            if self.dense is not None and "dense" in rankings:
                x[:, self._column["dense.similarity"]] = self.dense.similarities(query, ids)
            if self.text is not None:
                self._catalog(x, self.text, ids, query, context, event_time_s)
            self._query(x, query)
        return CandidateFeatures(fused, x, self.fingerprint)

    def _provenance(
        self, x: Matrix, ids: Sequence[EntityId], rankings: Mapping[str, Sequence[Candidate]]
    ) -> None:
        position = {e: i for i, e in enumerate(ids)}
        found = np.zeros(len(ids), np.float32)
        votes = np.zeros(len(ids))
        for name in sorted(rankings):  # RRF sums in name order (``merge.rrf``)
            ranked = rankings[name]
            if f"{name}.score" not in self._column:
                continue  # a strategy outside the feature set (not configured)
            n = len(ranked)
            rows = np.fromiter((position.get(c.entity_id, -1) for c in ranked), np.int64, n)
            rows, first = np.unique(rows, return_index=True)  # an id listed twice: best rank
            if len(rows) and rows[0] < 0:  # candidates below the featurized top
                rows, first = rows[1:], first[1:]
            scores = np.fromiter((c.score for c in ranked), np.float32, n)[first]
            x[rows, self._column[f"{name}.score"]] = scores
            x[rows, self._column[f"{name}.rank"]] = first + 1
            found[rows] += 1
            votes += np.bincount(rows, 1.0 / (self.k + first + 1), minlength=len(ids))
        x[:, self._column["n_strategies"]] = found
        x[:, self._column["rrf"]] = votes  # computed here, not read from ``merged``

    def _catalog(
        self,
        x: Matrix,
        text: TextFeatures,
        ids: Sequence[EntityId],
        query: UnderstoodQuery,
        context: Context,
        event_time_s: float,
    ) -> None:
        key = (query.corrected_tokens, query.spans)  # all the memo's columns read of the query
        pair = (
            self._pair_columns(text, ids, query)
            if self.memo is None
            else self.memo.columns(
                text.catalog_version, key, ids, lambda new: self._pair_columns(text, new, query)
            )
        )
        x[:, self._memo_at] = pair[:, :-1]
        x[:, self._column["age_days"]] = (event_time_s - pair[:, -1]) / DAY_S
        if context.taste:  # else NaN, as the row starts: the user's taste is unknown
            x[:, self._column["affinity"]] = text.affinity(text.rows_of(ids), context.taste)

    def _pair_columns(
        self, text: TextFeatures, ids: Sequence[EntityId], query: UnderstoodQuery
    ) -> NDArray[np.float64]:
        """``MEMO_COLUMNS`` and ``added_at_s`` of ``ids`` for ``query``, computed."""
        out = np.full((len(ids), len(MEMO_COLUMNS) + 1), np.nan)
        at = _MEMO_AT
        rows = text.rows_of(ids)
        for name, column in text.text_match(rows, query.corrected_tokens).items():
            if name in at:
                out[:, at[name]] = column
        popularity, out[:, -1], type_code = text.columns(rows)
        out[:, at["popularity"]] = np.log1p(np.maximum(popularity, 0.0))
        known = rows >= 0
        for name, labels in (
            ("type_match", {s.label for s in query.spans_of("type")}),
            ("entity_type_match", {s.label for s in query.spans_of("entity")}),
        ):
            if labels:  # else NaN: the query asked for no type
                types = text.types
                asked = np.zeros(len(types) + 1, np.float32)  # the last slot: code -1
                asked[[code for code, t in enumerate(types) if t in labels]] = 1.0
                out[:, at[name]] = np.where(known, asked[type_code], np.nan)
        values = [s.value for s in query.spans_of("attribute")]
        out[:, at["attribute_match"]] = text.attribute_match(rows, values)
        return out

    def _query(self, x: Matrix, query: UnderstoodQuery) -> None:
        x[:, self._column["query.n_tokens"]] = len(query.corrected_tokens)
        x[:, self._column["query.corrected"]] = query.correction_distance
        x[:, self._column["query.spearfish"]] = query.intent_scores.get("spearfish", math.nan)
        x[:, self._column["query.topic"]] = query.intent_scores.get("topic", math.nan)

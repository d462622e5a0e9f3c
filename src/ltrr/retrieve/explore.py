"""``explore``: fresh or rarely shown entities, loosely matched to the query.

Two signals, both in [0, 1]:

- freshness ``2 ** (-age / freshness_half_life)``, the age measured from the newest
  ``added_at_s`` in the catalog (not the wall clock, so results are reproducible); entities
  without a date count as old;
- novelty ``1 / (1 + exposure)``, where ``exposure`` counts how often an entity was shown
  (``record_exposure``), decayed with ``exposure_half_life`` by event time.

An entity must share a token with the query (title, ``text_fields``, type, attribute values);
the idf-weighted share of query tokens it matches scales its score:

    score = match * (freshness_weight * freshness + (1 - freshness_weight) * novelty)

Ties are broken by a tiny jitter drawn from ``numpy.random.default_rng([seed, crc32(text)])``,
so the same seed and query text give the same list. Exposure counts are learned state (rebuilt
from the impression log); they are saved beside the index as a snapshot.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ltrr.retrieve._index import (
    DAY_S,
    Files,
    RowIndex,
    bm25_idf,
    candidates,
    check_positive,
    decay,
    top_rows,
)
from ltrr.retrieve._postings import Pairs, Postings, Rows, Vocabulary
from ltrr.retrieve._rows import EntityRows, Growable
from ltrr.retrieve.base import Candidate
from ltrr.types import Context, Entity, EntityId
from ltrr.understand.base import UnderstoodQuery
from ltrr.understand.text import tokenize

NAME = "explore"
_JITTER = 1e-6
INDEX_PARAMS = ("text_fields", "match_attributes")


@dataclass(frozen=True, slots=True)
class ExploreParams:
    """``[retrieve.explore]`` (see defaults.toml)."""

    seed: int = 0
    freshness_half_life_days: float = 180.0
    exposure_half_life_days: float = 7.0
    freshness_weight: float = 0.5
    text_fields: tuple[str, ...] = ("artist", "album")
    match_attributes: bool = True
    max_query_tokens: int = 16

    def __post_init__(self) -> None:
        check_positive(self, "retrieve.explore", ("max_query_tokens",))


class ExploreRetriever(RowIndex[ExploreParams]):
    """Fresh and rarely shown entities that share a token with the query."""

    name = NAME
    params_type = ExploreParams
    index_params = INDEX_PARAMS

    def __init__(
        self,
        params: ExploreParams,
        *,
        catalog_version: int,
        rows: EntityRows,
        vocab: Vocabulary,
        tokens: Postings,
        exposure: NDArray[np.float64],
        clock_s: float,
    ) -> None:
        super().__init__(params, catalog_version, rows)
        self._vocab, self._tokens = vocab, tokens
        self._exposure = Growable(exposure.astype(np.float64))  # decayed to clock_s
        self.clock_s = clock_s  # the latest exposure event time seen
        self._newest_s: float | None = None  # newest added_at_s of a live entity, cached

    # -- indexing -----------------------------------------------------------------------

    @classmethod
    def empty(cls, params: ExploreParams, catalog_version: int) -> ExploreRetriever:
        return cls(
            params,
            catalog_version=catalog_version,
            rows=EntityRows.empty(),
            vocab=Vocabulary([]),
            tokens=Postings.empty(),
            exposure=np.zeros(0),
            clock_s=-math.inf,
        )

    def _build(self, batches: Iterable[Sequence[Entity]]) -> None:
        pairs = Pairs()
        for batch in batches:
            self._collect(batch, pairs)
        self._tokens = pairs.postings(len(self._vocab))

    @classmethod
    def _from_files(
        cls, params: ExploreParams, catalog_version: int, rows: EntityRows, files: Files
    ) -> ExploreRetriever:
        arrays, docs = files
        return cls(
            params,
            catalog_version=catalog_version,
            rows=rows,
            vocab=Vocabulary(list(docs["words"])),
            tokens=Postings.from_files(arrays, "tokens"),
            exposure=arrays["exposure"],
            clock_s=float(docs["clock_s"]) if docs["clock_s"] is not None else -math.inf,
        )

    def _files(self, keep: Rows, remap: Rows) -> Files:
        arrays = self._tokens.merged(remap, n_keys=len(self._vocab)).to_files("tokens")
        arrays["exposure"] = self._exposure.view[keep]
        clock_s = self.clock_s if math.isfinite(self.clock_s) else None
        return arrays, {"words": self._vocab.words, "clock_s": clock_s}

    def _collect(self, entities: Sequence[Entity], pairs: Pairs) -> None:
        if not entities:
            return
        previous = [self._rows.row_of.get(e.id) for e in entities]
        carried = [0.0 if r is None else float(self._exposure.view[r]) for r in previous]
        first, _ = self._rows.append(entities)
        self._exposure.extend(np.array(carried))  # an update keeps its exposure
        self._newest_s = None
        for offset, entity in enumerate(entities):
            # Ordered, not a set: vocabulary keys must not depend on the string hash seed.
            words = dict.fromkeys([*tokenize(entity.title), *tokenize(entity.type)])
            for f in self.params.text_fields:
                if f in entity.fields:
                    words.update(dict.fromkeys(tokenize(entity.fields[f])))
            if self.params.match_attributes:
                for values in entity.attributes.values():
                    for value in values:
                        words.update(dict.fromkeys(tokenize(value)))
            for word in words:
                pairs.append(self._vocab.add(word), first + offset)

    def add(self, entities: Sequence[Entity]) -> None:
        pairs = Pairs()
        self._collect(entities, pairs)
        pairs.extend_into(self._tokens)

    def remove(self, ids: Sequence[EntityId]) -> None:
        super().remove(ids)
        self._newest_s = None

    # -- learned state ------------------------------------------------------------------

    def record_exposure(self, ids: Iterable[EntityId], event_time_s: float | None = None) -> None:
        """Count one showing of each of ``ids`` at ``event_time_s`` (default: the last seen).

        All counts are decayed to the latest event time first, so the state depends only on
        the events and their timestamps, never on when they are replayed.
        """
        if event_time_s is None or not math.isfinite(event_time_s):
            event_time_s = self.clock_s if math.isfinite(self.clock_s) else 0.0
        self._advance(event_time_s)
        rows = [self._rows.row_of[i] for i in ids if i in self._rows.row_of]
        weight = self._decay(self.clock_s - event_time_s)
        np.add.at(self._exposure.view, np.array(rows, np.int64), weight)

    def clear_exposure(self) -> None:
        """Forget every exposure count: learned state, rebuilt by replaying the event log."""
        self._exposure.view[:] = 0.0
        self.clock_s = math.nan

    def _advance(self, time_s: float) -> None:
        if not math.isfinite(self.clock_s):
            self.clock_s = time_s
        elif time_s > self.clock_s:
            self._exposure.view[:] *= self._decay(time_s - self.clock_s)
            self.clock_s = time_s

    def _decay(self, elapsed_s: float) -> float:
        return decay(elapsed_s, self.params.exposure_half_life_days)

    def exposure(self, entity_id: EntityId) -> float:
        """The decayed exposure count of ``entity_id`` at the latest event time (0 if unknown)."""
        row = self._rows.row_of.get(entity_id)
        return 0.0 if row is None else float(self._exposure.view[row])

    # -- querying -----------------------------------------------------------------------

    def retrieve(self, query: UnderstoodQuery, context: Context, depth: int) -> list[Candidate]:
        """Fresh, rarely shown entities sharing a token with the query, best first."""
        del context
        p = self.params
        words = list(dict.fromkeys((*query.tokens, *query.corrected_tokens)))
        words = words[: p.max_query_tokens]
        if not words or depth <= 0 or not len(self._rows):
            return []
        rows, match = self._match(words)
        if not len(rows):
            return []
        fresh = self._freshness(rows)
        novelty = 1.0 / (1.0 + self._exposure.view[rows])
        scores = match * (p.freshness_weight * fresh + (1.0 - p.freshness_weight) * novelty)
        text = " ".join(query.tokens)
        rng = np.random.default_rng([p.seed, zlib.crc32(text.encode())])
        scores = scores + _JITTER * rng.random(len(rows))
        best, best_scores = top_rows(rows, scores, depth)
        return candidates(self._rows.ids, best, best_scores)

    def _match(self, words: list[str]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        keys = np.array([self._vocab.get(w) for w in words], np.int64)
        alive = self._rows.alive
        df = np.array([self._tokens.live_count(int(k), alive) if k >= 0 else 0 for k in keys])
        idf = bm25_idf(df, max(len(self._rows), 1)).astype(np.float64)
        hits, _, seg = self._tokens.gather(keys)
        acc = np.zeros(self._rows.n)
        np.add.at(acc, hits, idf[seg])
        found = np.nonzero((acc > 0) & self._rows.alive)[0].astype(np.int64)
        return found, acc[found] / max(float(idf.sum()), 1e-9)

    def _freshness(self, rows: NDArray[np.int64]) -> NDArray[np.float64]:
        added = self._rows.added_at_s
        if self._newest_s is None:
            dated = added[self._rows.alive & ~np.isnan(added)]
            self._newest_s = float(dated.max()) if len(dated) else math.nan
        if math.isnan(self._newest_s):
            return np.zeros(len(rows))
        age = self._newest_s - added[rows]
        half_life = self.params.freshness_half_life_days * DAY_S
        fresh = np.exp2(-np.maximum(age, 0.0) / half_life) if half_life > 0 else np.ones(len(rows))
        return np.where(np.isnan(age), 0.0, fresh)

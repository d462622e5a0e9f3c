"""``memory``: query -> entity scores, predicted from metadata, then learned from actions.

Queries are keyed by a canonical form: the corrected tokens, minus ``drop_tokens`` ("the"),
sorted, so word order does not matter and the understand stage's spelling correction maps
typos onto the same key. When neither the corrected nor the typed key is known, each typed
token is snapped to the nearest key token within its typo budget (the SymSpell index of
``fuzzy``, ``retrieve._typos``) and that key is tried, its scores scaled by ``fuzzy_weight``
and the similarity.

Cold start: every entity predicts the queries it should answer (``predicted_queries``, in
``retrieve._memory_forms``): its normalised title, aliases (without bracketed parts, " - ..."
suffixes and "feat." credits), "title + name" for each main name field (e.g. the artist; both
orders share the sorted key), type-qualified forms ("X playlist", "X album", "songs by X" for
artists). Each (key, entity) gets a weight ``form_weight * (popularity_floor + prior)``,
normalised over the key's live entities into a predicted distribution ``p(e | q)``.

Learning (``retrieve._memory_learned``): ``record`` adds an action's reward to the key's
statistics, time-decayed with ``half_life_days`` by event timestamps (never the wall clock, so
replaying the log rebuilds the same state). The score is a Dirichlet-smoothed share (a
Bayesian average with the prediction as ``prior_strength`` pseudo-counts):

    score(q, e) = (R(q, e) + m * p(e | q)) / (N(q) + m)

with ``R`` the decayed reward of ``e`` and ``N`` the decayed absolute reward of all actions on
``q``; observations overtake the prediction as they accumulate and fade back to it when they
stop. Entities never predicted for a key are learned the same way.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ltrr.retrieve._index import (
    Files,
    RowIndex,
    best_per_row,
    candidates,
    check_positive,
    top_rows,
)
from ltrr.retrieve._memory_forms import aliases, canonical, key_hash, predicted_queries
from ltrr.retrieve._memory_learned import KeyStats, Learned
from ltrr.retrieve._postings import Pairs, Postings, Rows
from ltrr.retrieve._rows import EntityRows
from ltrr.retrieve._typos import TokenMatcher, TypoBudget
from ltrr.retrieve.base import Candidate
from ltrr.types import Context, Entity, EntityId
from ltrr.understand.base import UnderstoodQuery

__all__ = [
    "KeyStats",
    "MemoryParams",
    "MemoryRetriever",
    "aliases",
    "canonical",
    "predicted_queries",
]

NAME = "memory"
INDEX_PARAMS = (
    "name_fields", "title_weight", "title_name_weight", "alias_weight", "typed_weight",
    "typed_types", "artist_types", "artist_prefixes", "artist_suffixes", "drop_tokens",
    "one_typo_min_chars", "two_typos_min_chars", "unknown_one_typo_min_chars", "max_token_chars",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class MemoryParams:
    """``[retrieve.memory]`` (see defaults.toml)."""

    name_fields: tuple[str, ...] = ("artist",)
    title_weight: float = 1.0
    title_name_weight: float = 1.0
    alias_weight: float = 0.8
    typed_weight: float = 0.9
    typed_types: tuple[str, ...] = ("playlist", "album", "podcast")
    artist_types: tuple[str, ...] = ("artist",)
    artist_prefixes: tuple[str, ...] = ("songs by", "music by")
    artist_suffixes: tuple[str, ...] = ("songs",)
    drop_tokens: tuple[str, ...] = ("the",)
    popularity_floor: float = 0.2
    prior_strength: float = 2.0
    half_life_days: float = 30.0
    fuzzy_weight: float = 0.9
    fuzzy_choices: int = 3
    max_fuzzy_keys: int = 16
    one_typo_min_chars: int = 4
    two_typos_min_chars: int = 7
    unknown_one_typo_min_chars: int = 3
    max_token_chars: int = 32
    max_query_tokens: int = 12
    max_observed_per_key: int = 200

    def __post_init__(self) -> None:
        check_positive(
            self,
            "retrieve.memory",
            (
                "max_token_chars",
                "max_query_tokens",
                "fuzzy_choices",
                "max_fuzzy_keys",
                "max_observed_per_key",
            ),
        )

    @property
    def budget(self) -> TypoBudget:
        return TypoBudget(
            self.one_typo_min_chars, self.two_typos_min_chars, self.unknown_one_typo_min_chars
        )


class MemoryRetriever(RowIndex[MemoryParams]):
    """Learned query -> entity memory with a metadata-predicted cold start."""

    name = NAME
    params_type = MemoryParams
    index_params = INDEX_PARAMS

    def __init__(
        self,
        params: MemoryParams,
        *,
        catalog_version: int,
        rows: EntityRows,
        key_hash: NDArray[np.uint64],
        predicted: Postings,
        matcher: TokenMatcher,
    ) -> None:
        super().__init__(params, catalog_version, rows)
        self._predicted, self._matcher = predicted, matcher
        self._set_key_hash(key_hash)
        self._new_keys: dict[int, int] = {}  # hash -> key, for keys added since
        self._learned = Learned(params.half_life_days, params.max_observed_per_key)

    def _set_key_hash(self, key_hash: NDArray[np.uint64]) -> None:
        self._key_hash = key_hash.astype(np.uint64)  # key -> hash, for keys in the base
        order = np.argsort(self._key_hash, kind="stable")
        self._sorted_hash, self._sorted_key = self._key_hash[order], order.astype(np.int64)

    @property
    def n_keys(self) -> int:
        return len(self._key_hash) + len(self._new_keys)

    @property
    def observed(self) -> dict[str, KeyStats]:
        """The learned statistics per canonical key."""
        return self._learned.keys

    @property
    def clock_s(self) -> float:
        """The latest event time recorded."""
        return self._learned.clock_s

    # -- indexing -----------------------------------------------------------------------

    @classmethod
    def empty(cls, params: MemoryParams, catalog_version: int) -> MemoryRetriever:
        return cls(
            params,
            catalog_version=catalog_version,
            rows=EntityRows.empty(),
            key_hash=np.zeros(0, np.uint64),
            predicted=Postings.empty(),
            matcher=TokenMatcher.build(params.budget, params.max_token_chars, []),
        )

    def _build(self, batches: Iterable[Sequence[Entity]]) -> None:
        """Predict every entity's queries, then sort the (key hash, row) pairs once."""
        pairs = Pairs()
        words: dict[str, None] = {}
        for batch in batches:
            self._collect(batch, pairs, words)
        unique, keys = np.unique(np.array(pairs.keys, np.uint64), return_inverse=True)
        self._predicted = Postings.from_pairs(
            keys.astype(np.int64), np.array(pairs.rows, np.int64),
            np.array(pairs.weights, np.float32), n_keys=len(unique),
        )  # fmt: skip
        self._set_key_hash(unique)
        p = self.params
        self._matcher = TokenMatcher.build(p.budget, p.max_token_chars, list(words))

    @classmethod
    def _from_files(
        cls, params: MemoryParams, catalog_version: int, rows: EntityRows, files: Files
    ) -> MemoryRetriever:
        """The index and the learned statistics that ``save`` wrote."""
        arrays, docs = files
        budget, max_chars = params.budget, params.max_token_chars
        memory = cls(
            params,
            catalog_version=catalog_version,
            rows=rows,
            key_hash=arrays["key_hash"],
            predicted=Postings.from_files(arrays, "predicted"),
            matcher=TokenMatcher.from_files(budget, max_chars, arrays, docs, "vocab"),
        )
        memory._learned.read_doc(docs["observed"])
        return memory

    def _files(self, keep: Rows, remap: Rows) -> Files:
        """Index and learned statistics, in one folder."""
        arrays, docs = self._matcher.to_files("vocab")
        arrays.update(self._predicted.merged(remap, n_keys=self.n_keys).to_files("predicted"))
        added = sorted(self._new_keys.items(), key=lambda hk: hk[1])
        arrays["key_hash"] = np.concatenate(
            [self._key_hash, np.array([h for h, _ in added], np.uint64)]
        )
        docs["observed"] = self._learned.to_doc()
        return arrays, docs

    def _collect(self, entities: Sequence[Entity], pairs: Pairs, words: dict[str, None]) -> None:
        """Append ``entities`` to the rows and collect their (key hash, row, weight) triples and
        the words of their keys."""
        if not entities:
            return
        first, _ = self._rows.append(entities)
        for offset, entity in enumerate(entities):
            for key, weight in predicted_queries(entity, self.params).items():
                pairs.append(key_hash(key), first + offset, weight)
                words.update(dict.fromkeys(key.split()))

    def add(self, entities: Sequence[Entity]) -> None:
        pairs = Pairs()
        words: dict[str, None] = {}
        self._collect(entities, pairs, words)
        keys = []
        for h in pairs.keys:
            key = self._key_of_hash(h)
            keys.append(key if key >= 0 else self._new_keys.setdefault(h, self.n_keys))
        self._predicted.extend(keys, pairs.rows, pairs.weights)
        for word in words:
            self._matcher.add(word)

    def key_of(self, text: str) -> int:
        """The index key of canonical ``text``, or -1."""
        return self._key_of_hash(key_hash(text))

    def _key_of_hash(self, h: int) -> int:
        i = int(np.searchsorted(self._sorted_hash, np.uint64(h)))
        if i < len(self._sorted_hash) and int(self._sorted_hash[i]) == h:
            return int(self._sorted_key[i])
        return self._new_keys.get(h, -1)

    # -- learning -----------------------------------------------------------------------

    def key(self, query: UnderstoodQuery) -> str:
        """The canonical key ``record`` files ``query`` under."""
        return canonical(
            query.corrected_tokens[: self.params.max_query_tokens], self.params.drop_tokens
        )

    def record(
        self,
        query: UnderstoodQuery,
        context: Context,
        entity_id: EntityId,
        reward: float,
        event_time_s: float,
    ) -> None:
        """Add one action's ``reward`` for ``entity_id`` on ``query`` at ``event_time_s``.

        Deterministic in its arguments and the previous state; ``context`` is accepted for the
        learner's uniform signature and not used yet. A query without tokens is ignored.
        """
        del context
        key = self.key(query)
        if not key or not math.isfinite(reward) or not math.isfinite(event_time_s):
            return
        if self._learned.record(key, entity_id, reward, event_time_s):
            for word in key.split():  # a learned key's words are typo targets too
                self._matcher.add(word)

    def withdraw(
        self,
        query: UnderstoodQuery,
        context: Context,
        entity_id: EntityId,
        reward: float,
        event_time_s: float,
    ) -> None:
        """Take back ``reward`` of an earlier ``record`` (both the entity's and the key's total).

        The learner calls it when a later action of the same request shows that an earlier
        click did not satisfy the user (``learn.Learner``); unlike a negative ``record`` it
        leaves the statistics as if the click had counted ``reward`` less, not as a skip.
        """
        del context
        self._learned.withdraw(self.key(query), entity_id, reward, event_time_s)

    def knows(self, query: UnderstoodQuery) -> bool:
        """Whether an action on this very query (its canonical key) was recorded: what makes a
        query "seen" for the policy (``select.base.PlanRequest.seen``)."""
        return self.key(query) in self._learned.keys

    def clear_observed(self) -> None:
        """Forget every learned statistic (before replaying the event log)."""
        self._learned.clear()

    # -- querying -----------------------------------------------------------------------

    def scores(self, key: str) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Live rows known for ``key`` and their smoothed scores (empty if the key is unknown)."""
        rows, prior = self._predicted_rows(key)
        stats = self.observed.get(key)
        if stats is None:
            return rows, prior
        f = self._learned.decay(self.clock_s - stats.time_s)
        row_of = self._rows.row_of
        seen = [(row_of[EntityId(e)], r * f) for e, r in stats.rewards.items() if e in row_of]
        obs_rows = np.array([s[0] for s in seen], np.int64)
        all_rows, inverse = np.unique(np.concatenate([rows, obs_rows]), return_inverse=True)
        p = np.zeros(len(all_rows))
        np.add.at(p, inverse[: len(rows)], prior)
        reward = np.zeros(len(all_rows))
        np.add.at(reward, inverse[len(rows) :], np.array([s[1] for s in seen]))
        m, n = self.params.prior_strength, stats.n * f
        score = (reward + m * p) / (n + m) if n + m > 0 else p
        keep = score > 0
        return all_rows[keep], score[keep]

    def _predicted_rows(self, key: str) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        k = self.key_of(key)
        if k < 0:
            return np.zeros(0, np.int64), np.zeros(0)
        rows, weights = self._predicted.get(k)
        live = self._rows.alive[rows]
        rows = rows[live]
        w = weights[live] * (self.params.popularity_floor + self._rows.prior[rows])
        total = float(w.sum())
        return rows, (w / total if total > 0 else w).astype(np.float64)

    def _fuzzy_keys(self, tokens: Sequence[str]) -> list[tuple[str, float]]:
        """Known keys of ``tokens`` with unknown ones snapped to near key tokens, and the
        similarity of each (product of ``1 - d / max(len)`` over snapped tokens).

        A token the key vocabulary knows stays as typed; an unknown one may become any of its
        ``fuzzy_choices`` nearest tokens; at most ``max_fuzzy_keys`` combinations are tried.
        """
        p = self.params
        options: list[list[tuple[str, float]]] = []
        for token in tokens:
            if token in p.drop_tokens or self._matcher.vocab.get(token) >= 0:
                options.append([(token, 1.0)])
                continue
            words = self._matcher.vocab.words
            near = [
                (words[k], 1.0 - d / max(len(token), len(words[k])))
                for k, d in self._matcher.similar(token)[: p.fuzzy_choices]
            ]
            if not near:
                return []
            options.append(near)
        found = []
        for combo in itertools.islice(itertools.product(*options), p.max_fuzzy_keys):
            key = canonical([w for w, _ in combo], p.drop_tokens)
            if self.key_of(key) >= 0 or key in self.observed:
                found.append((key, math.prod(s for _, s in combo)))
        return found

    def retrieve(self, query: UnderstoodQuery, context: Context, depth: int) -> list[Candidate]:
        """Entities remembered (or predicted) for this query or a near-duplicate of it."""
        del context
        limit = self.params.max_query_tokens
        typed = query.tokens[:limit]
        if depth <= 0 or not (typed or query.corrected_tokens) or not len(self._rows):
            return []
        drop = self.params.drop_tokens
        tried = dict.fromkeys([self.key(query), canonical(typed, drop)])
        found = [(self.scores(k), 1.0) for k in tried if k]
        found = [f for f in found if len(f[0][0])]
        if not found and typed:
            found = [
                (self.scores(key), self.params.fuzzy_weight * similarity)
                for key, similarity in self._fuzzy_keys(typed)
                if key not in tried
            ]
            found = [f for f in found if len(f[0][0])]
        if not found:
            return []
        rows = np.concatenate([f[0][0] for f in found])
        scores = np.concatenate([f[0][1] * f[1] for f in found])
        rows, scores = best_per_row(rows, scores)
        best, best_scores = top_rows(rows, scores, depth)
        return candidates(self._rows.ids, best, best_scores)

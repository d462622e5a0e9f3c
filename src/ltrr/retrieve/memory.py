"""``memory``: query -> entity scores, predicted from metadata, then learned from actions.

Queries are keyed by a canonical form: the corrected tokens, minus ``drop_tokens`` ("the"),
sorted, so word order does not matter and the understand stage's spelling correction maps
typos onto the same key. When neither the corrected nor the typed key is known, each typed
token is snapped to the nearest key token within its typo budget (the SymSpell index of
``fuzzy``) and that key is tried, its scores scaled by ``fuzzy_weight`` and the similarity.

Cold start: every entity predicts the queries it should answer (``predicted_queries``): its
normalised title, aliases (without bracketed parts, " - ..." suffixes and "feat." credits),
"title + name" for each main name field (e.g. the artist; both orders share the sorted key),
type-qualified forms ("X playlist", "X album", "songs by X" for artists). Each (key, entity)
gets a weight ``form_weight * (popularity_floor + prior)``, normalised over the key's live
entities into a predicted distribution ``p(e | q)``.

Learning: ``record`` adds an action's reward to the key's statistics, time-decayed with
``half_life_days`` by event timestamps (never the wall clock, so replaying the log rebuilds the
same state). The score is a Dirichlet-smoothed share (a Bayesian average with the prediction as
``prior_strength`` pseudo-counts):

    score(q, e) = (R(q, e) + m * p(e | q)) / (N(q) + m)

with ``R`` the decayed reward of ``e`` and ``N`` the decayed absolute reward of all actions on
``q``; observations overtake the prediction as they accumulate and fade back to it when they
stop. Entities never predicted for a key are learned the same way.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from ltrr.config import Config, section_params
from ltrr.retrieve._index import (
    EntityRows,
    Postings,
    best_per_row,
    candidates,
    check_positive,
    read_index,
    remap_rows,
    top_rows,
    write_index,
)
from ltrr.retrieve.base import Candidate
from ltrr.retrieve.fuzzy import TokenMatcher, TypoBudget
from ltrr.types import Context, Entity, EntityId
from ltrr.understand.base import UnderstoodQuery
from ltrr.understand.text import tokenize

NAME = "memory"
_BATCH = 5000
_DAY_S = 86_400.0
INDEX_PARAMS = (
    "name_fields", "title_weight", "title_name_weight", "alias_weight", "typed_weight",
    "typed_types", "artist_types", "artist_prefixes", "artist_suffixes", "drop_tokens",
    "one_typo_min_chars", "two_typos_min_chars", "unknown_one_typo_min_chars", "max_token_chars",
)  # fmt: skip
_BRACKETS = re.compile(r"\s*[\(\[][^\)\]]*[\)\]]")
_DASH = re.compile(r"\s+[-\u2013\u2014]\s+.*$")
_FEAT = re.compile(r"\s+(?:feat\.?|ft\.?|featuring)\s.*$", re.IGNORECASE)


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


def memory_params(config: Config) -> MemoryParams:
    return section_params(config, "retrieve.memory", MemoryParams)


def canonical(tokens: Sequence[str], drop: Iterable[str] = ()) -> str:
    """The key of a query: its tokens minus ``drop`` (unless nothing would remain), sorted.

    >>> canonical(["swift", "taylor", "the"], ["the"])
    'swift taylor'
    """
    dropped = set(drop)
    kept = [t for t in tokens if t not in dropped] or list(tokens)
    return " ".join(sorted(kept))


def aliases(title: str) -> list[list[str]]:
    """Token lists of ``title`` without brackets, " - ..." suffixes or "feat." credits."""
    found = []
    for pattern in (_BRACKETS, _DASH, _FEAT):
        stripped = pattern.sub("", title)
        found.append(stripped)
        title = stripped
    out: list[list[str]] = []
    for text in found:
        tokens = tokenize(text)
        if tokens and tokens not in out:
            out.append(tokens)
    return out


def predicted_queries(entity: Entity, p: MemoryParams) -> dict[str, float]:
    """Canonical key -> form weight of the queries ``entity`` should answer."""
    forms: dict[str, float] = {}

    def put(tokens: Sequence[str], weight: float) -> None:
        key = canonical(tokens, p.drop_tokens)
        if key and weight > forms.get(key, 0.0):
            forms[key] = weight

    title = tokenize(entity.title)
    names = [tokenize(entity.fields[f]) for f in p.name_fields if f in entity.fields]
    put(title, p.title_weight)
    alias_list = [a for a in aliases(entity.title) if a != title]
    for alias in alias_list:
        put(alias, p.alias_weight)
    for name in names:
        put(title + name, p.title_name_weight)
        for alias in alias_list:
            put(alias + name, p.alias_weight)
    if entity.type in p.typed_types:
        put(title + tokenize(entity.type), p.typed_weight)
    if entity.type in p.artist_types:
        for form in (*p.artist_prefixes, *p.artist_suffixes):
            put(tokenize(form) + title, p.typed_weight)
    return forms


def _hash64(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")


@dataclass(slots=True)
class KeyStats:
    """Observed statistics of one key, decayed to ``time_s``: N and R per entity."""

    time_s: float
    n: float = 0.0
    rewards: dict[str, float] = field(default_factory=dict)


class MemoryRetriever:
    """Learned query -> entity memory with a metadata-predicted cold start."""

    name = NAME

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
        self.params = params
        self.catalog_version = catalog_version
        self._rows, self._predicted, self._matcher = rows, predicted, matcher
        self._key_hash = key_hash.astype(np.uint64)  # key -> hash, for keys in the base
        order = np.argsort(self._key_hash, kind="stable")
        self._sorted_hash, self._sorted_key = self._key_hash[order], order.astype(np.int64)
        self._new_keys: dict[int, int] = {}  # hash -> key, for keys added since
        self.observed: dict[str, KeyStats] = {}
        self.clock_s = -math.inf  # the latest event time recorded

    @property
    def n_keys(self) -> int:
        return len(self._key_hash) + len(self._new_keys)

    # -- constructors -------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        entities: Iterable[Entity],
        config: Config,
        *,
        catalog_version: int,
        on_progress: Callable[[int], None] | None = None,
    ) -> MemoryRetriever:
        """Predict every entity's queries, then sort the (key hash, row) pairs once."""
        p = memory_params(config)
        rows = EntityRows.empty()
        hashes: list[int] = []
        key_rows: list[int] = []
        weights: list[float] = []
        words: dict[str, None] = {}
        batch: list[Entity] = []
        n_done = 0
        for entity in entities:
            batch.append(entity)
            if len(batch) == _BATCH:
                _collect(rows, batch, p, hashes, key_rows, weights, words)
                n_done += len(batch)
                batch = []
                if on_progress is not None:
                    on_progress(n_done)
        _collect(rows, batch, p, hashes, key_rows, weights, words)
        if on_progress is not None:
            on_progress(n_done + len(batch))
        unique, keys = np.unique(np.array(hashes, np.uint64), return_inverse=True)
        predicted = Postings.from_pairs(
            keys.astype(np.int64), np.array(key_rows, np.int64), np.array(weights, np.float32),
            n_keys=len(unique),
        )  # fmt: skip
        budget = p.budget
        matcher = TokenMatcher.build(budget, p.max_token_chars, list(words))
        return cls(
            p,
            catalog_version=catalog_version,
            rows=rows,
            key_hash=unique,
            predicted=predicted,
            matcher=matcher,
        )

    @classmethod
    def load(cls, directory: Path, config: Config) -> MemoryRetriever:
        """The index and the learned statistics that ``save`` wrote."""
        p = memory_params(config)
        manifest, arrays, docs = read_index(directory, NAME, p, INDEX_PARAMS)
        budget = p.budget
        memory = cls(
            p,
            catalog_version=int(manifest["catalog_version"]),
            rows=EntityRows.from_files(arrays, docs),
            key_hash=arrays["key_hash"],
            predicted=Postings.from_files(arrays, "predicted"),
            matcher=TokenMatcher.from_files(budget, p.max_token_chars, arrays, docs, "vocab"),
        )
        learned = docs["observed"]
        memory.clock_s = -math.inf if learned["clock_s"] is None else float(learned["clock_s"])
        memory.observed = {
            key: KeyStats(float(s["time_s"]), float(s["n"]), dict(s["rewards"]))
            for key, s in learned["keys"].items()
        }
        return memory

    # -- the index ----------------------------------------------------------------------

    def key_of(self, text: str) -> int:
        """The index key of canonical ``text``, or -1."""
        return self._key_of_hash(_hash64(text))

    def _key_of_hash(self, h: int) -> int:
        i = int(np.searchsorted(self._sorted_hash, np.uint64(h)))
        if i < len(self._sorted_hash) and int(self._sorted_hash[i]) == h:
            return int(self._sorted_key[i])
        return self._new_keys.get(h, -1)

    def add(self, entities: Sequence[Entity]) -> None:
        hashes: list[int] = []
        key_rows: list[int] = []
        weights: list[float] = []
        words: dict[str, None] = {}
        _collect(self._rows, entities, self.params, hashes, key_rows, weights, words)
        keys = []
        for h in hashes:
            key = self._key_of_hash(h)
            keys.append(key if key >= 0 else self._new_keys.setdefault(h, self.n_keys))
        self._predicted.extend(keys, key_rows, weights)
        for word in words:
            self._matcher.add(word)

    def remove(self, ids: Sequence[EntityId]) -> None:
        self._rows.retire(ids)

    def save(self, directory: Path) -> None:
        """Index and learned statistics, in one folder, atomically."""
        keep = self._rows.keep()
        remap = remap_rows(keep, self._rows.n)
        arrays, docs = self._rows.compacted(keep).to_files()
        arrays.update(self._predicted.merged(remap, n_keys=self.n_keys).to_files("predicted"))
        added = sorted(self._new_keys.items(), key=lambda hk: hk[1])
        arrays["key_hash"] = np.concatenate(
            [self._key_hash, np.array([h for h, _ in added], np.uint64)]
        )
        vocab_arrays, vocab_docs = self._matcher.to_files("vocab")
        arrays.update(vocab_arrays)
        docs.update(vocab_docs)
        docs["observed"] = {
            "clock_s": self.clock_s if math.isfinite(self.clock_s) else None,
            "keys": {
                key: {"time_s": s.time_s, "n": s.n, "rewards": s.rewards}
                for key, s in sorted(self.observed.items())
            },
        }
        write_index(directory, NAME, self.params, self.catalog_version, arrays, docs)

    def __len__(self) -> int:
        return len(self._rows)

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
        self.clock_s = max(self.clock_s, event_time_s)
        stats = self.observed.get(key)
        if stats is None:
            stats = self.observed[key] = KeyStats(event_time_s)
            for word in key.split():
                self._matcher.add(word)
        weight = 1.0
        if event_time_s >= stats.time_s:
            self._decay_stats(stats, event_time_s)
        else:
            weight = self._decay(stats.time_s - event_time_s)
        stats.n += abs(reward) * weight
        stats.rewards[entity_id] = stats.rewards.get(entity_id, 0.0) + reward * weight
        if len(stats.rewards) > self.params.max_observed_per_key:
            weakest = min(stats.rewards.items(), key=lambda er: (abs(er[1]), er[0]))
            del stats.rewards[weakest[0]]

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
        key = self.key(query)
        stats = self.observed.get(key) if key else None
        if stats is None or entity_id not in stats.rewards or not math.isfinite(reward):
            return
        weight = 1.0
        if event_time_s >= stats.time_s:
            self._decay_stats(stats, event_time_s)
        else:
            weight = self._decay(stats.time_s - event_time_s)
        stats.n = max(stats.n - abs(reward) * weight, 0.0)
        stats.rewards[entity_id] -= reward * weight

    def clear_observed(self) -> None:
        """Forget every learned statistic (before replaying the event log)."""
        self.observed.clear()
        self.clock_s = -math.inf

    def _decay(self, elapsed_s: float) -> float:
        half_life = self.params.half_life_days * _DAY_S
        return 1.0 if half_life <= 0 else 0.5 ** (max(elapsed_s, 0.0) / half_life)

    def _decay_stats(self, stats: KeyStats, time_s: float) -> None:
        f = self._decay(time_s - stats.time_s)
        if f != 1.0:
            stats.n *= f
            stats.rewards = {e: r * f for e, r in stats.rewards.items()}
        stats.time_s = time_s

    # -- querying -----------------------------------------------------------------------

    def scores(self, key: str) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Live rows known for ``key`` and their smoothed scores (empty if the key is unknown)."""
        rows, prior = self._predicted_rows(key)
        stats = self.observed.get(key)
        if stats is None:
            return rows, prior
        f = self._decay(self.clock_s - stats.time_s)
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


def _collect(
    rows: EntityRows,
    entities: Sequence[Entity],
    p: MemoryParams,
    hashes: list[int],
    key_rows: list[int],
    weights: list[float],
    words: dict[str, None],
) -> None:
    """Append ``entities`` to ``rows`` and collect their (key hash, row, weight) triples."""
    if not entities:
        return
    first, _ = rows.append(entities)
    for offset, entity in enumerate(entities):
        for key, weight in predicted_queries(entity, p).items():
            hashes.append(_hash64(key))
            key_rows.append(first + offset)
            weights.append(weight)
            words.update(dict.fromkeys(key.split()))

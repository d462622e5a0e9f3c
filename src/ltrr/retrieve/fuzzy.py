"""``fuzzy``: typo-tolerant matching of names and titles.

The query is read as typed (``query.tokens``, not the corrected ones: this strategy is the one
for typos). Each typed token is expanded to the catalog tokens within a typo budget that grows
with its length, found with a SymSpell deletion index (Garbe 2012): every vocabulary token is
stored under the CRC32 of each string reachable by deleting up to ``k`` of its characters, and
a typed token probes the same way, so two tokens within Damerau-Levenshtein distance ``k``
share a probe; candidates are then verified with rapidfuzz. The last token also expands to the
tokens it begins (partial titles: "love sto").

Entities are matched through a token -> rows inverted index over the title and the main name
fields (``name_fields``, e.g. the artist). A row's *coverage* is the idf-weighted share of query
tokens it contains, each counted by its best expansion's similarity ``1 - d / max(len)``; the
``n_rerank`` best rows by coverage are rescored with rapidfuzz against the whole title and the
title + names string (so "love story taylor swift" finds the track by its artist) and a
popularity prior:

    score = coverage_weight * coverage + string_weight * max(ratio(q, title),
            token_sort_ratio(q, title + names)) / 100 + popularity_weight * prior
"""

from __future__ import annotations

import bisect
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from rapidfuzz import fuzz, process
from rapidfuzz.distance import DamerauLevenshtein

from ltrr.config import Config, section_params
from ltrr.retrieve._index import (
    EntityRows,
    Growable,
    Postings,
    Vocabulary,
    bm25_idf,
    candidates,
    check_positive,
    read_index,
    remap_rows,
    top_rows,
    write_index,
)
from ltrr.retrieve.base import Candidate
from ltrr.types import Context, Entity, EntityId
from ltrr.understand.base import UnderstoodQuery
from ltrr.understand.text import normalize, tokenize

NAME = "fuzzy"
_BATCH = 5000
#: Parameters that shape the index files; the others apply at query time only.
INDEX_PARAMS = (
    "name_fields", "names_weight", "one_typo_min_chars", "two_typos_min_chars",
    "unknown_one_typo_min_chars",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class FuzzyParams:
    """``[retrieve.fuzzy]`` (see defaults.toml)."""

    name_fields: tuple[str, ...] = ("artist",)
    names_weight: float = 0.9
    one_typo_min_chars: int = 4
    two_typos_min_chars: int = 7
    unknown_one_typo_min_chars: int = 3
    max_token_chars: int = 32
    max_query_tokens: int = 12
    max_expansions: int = 8
    prefix_min_chars: int = 3
    max_prefix_expansions: int = 8
    prefix_weight: float = 0.8
    generate_max_df: int = 2000
    n_rerank: int = 200
    coverage_weight: float = 0.5
    string_weight: float = 0.5
    popularity_weight: float = 0.1

    @property
    def budget(self) -> TypoBudget:
        return TypoBudget(
            self.one_typo_min_chars, self.two_typos_min_chars, self.unknown_one_typo_min_chars
        )

    def __post_init__(self) -> None:
        check_positive(
            self,
            "retrieve.fuzzy",
            ("max_token_chars", "max_query_tokens", "max_expansions", "n_rerank"),
        )


def fuzzy_params(config: Config) -> FuzzyParams:
    return section_params(config, "retrieve.fuzzy", FuzzyParams)


# -- typo-tolerant token lookup -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TypoBudget:
    """Edits allowed in a token of ``n`` characters: 0, then 1 from ``one``, 2 from ``two``.

    A token the vocabulary does not know gets one edit from ``unknown_one`` characters on
    ("sul" for "soul"), since a known short word is more likely meant than a neighbour of it.
    """

    one: int
    two: int
    unknown_one: int = 3

    def __call__(self, n: int, known: bool = True) -> int:
        if n >= self.two:
            return 2
        return 1 if n >= self.one or (not known and n >= self.unknown_one) else 0


def deletions(token: str, depth: int) -> set[str]:
    """``token`` and every non-empty string ``depth`` or fewer deletions away."""
    found, frontier = {token}, {token}
    for _ in range(depth):
        frontier = {w[:i] + w[i + 1 :] for w in frontier if len(w) > 1 for i in range(len(w))}
        found |= frontier
    return found


def _crc(strings: Iterable[str]) -> NDArray[np.uint32]:
    return np.fromiter((zlib.crc32(s.encode()) for s in strings), np.uint32)


class TokenMatcher:
    """Vocabulary tokens within a length-dependent Damerau-Levenshtein budget of a typed token.

    The deletion index is two parallel arrays sorted by hash (``probe_hash`` uint32,
    ``probe_word`` int64 vocabulary key) plus a dict of probes added since; a hash collision
    only adds a candidate that verification drops.
    """

    def __init__(
        self,
        budget: TypoBudget,
        max_token_chars: int,
        words: list[str],
        probe_hash: NDArray[np.uint32],
        probe_word: NDArray[np.int64],
    ) -> None:
        self.budget, self.max_token_chars = budget, max_token_chars
        self.vocab = Vocabulary(words)
        self._hash, self._word = probe_hash, probe_word
        self._delta: dict[int, list[int]] = {}
        self._sorted = sorted(words)

    @classmethod
    def build(cls, budget: TypoBudget, max_token_chars: int, words: list[str]) -> TokenMatcher:
        matcher = cls(budget, max_token_chars, [], np.zeros(0, np.uint32), np.zeros(0, np.int64))
        hashes, keys = [], []
        for key, word in enumerate(words):
            probes = _crc(matcher._probes(word))
            hashes.append(probes)
            keys.append(np.full(len(probes), key, np.int64))
        if words:
            h, k = np.concatenate(hashes), np.concatenate(keys)
            order = np.argsort(h, kind="stable")
            matcher._hash, matcher._word = h[order], k[order]
        matcher.vocab = Vocabulary(list(words))
        matcher._sorted = sorted(words)
        return matcher

    def _probes(self, word: str) -> set[str]:
        if len(word) > self.max_token_chars:
            return {word}
        return deletions(word, max(self.budget(len(word) + 2), self.budget(len(word) + 1, False)))

    def add(self, word: str) -> int:
        """The key of ``word``, indexing it first if it is new."""
        key = self.vocab.get(word)
        if key >= 0:
            return key
        key = self.vocab.add(word)
        for h in _crc(self._probes(word)).tolist():
            self._delta.setdefault(h, []).append(key)
        bisect.insort(self._sorted, word)
        return key

    def similar(self, token: str) -> list[tuple[int, int]]:
        """(key, distance) of vocabulary tokens within the budget of ``token``, nearest first."""
        key = self.vocab.get(token)
        k = self.budget(len(token), key >= 0) if len(token) <= self.max_token_chars else 0
        if k == 0:
            return [(key, 0)] if key >= 0 else []
        probes = _crc(deletions(token, k))
        lo = np.searchsorted(self._hash, probes, "left")
        hi = np.searchsorted(self._hash, probes, "right")
        lengths = hi - lo
        idx = (
            np.repeat(lo, lengths)
            + np.arange(lengths.sum())
            - np.repeat(np.cumsum(lengths) - lengths, lengths)
        )
        keys = set(self._word[idx].tolist())
        for h in probes.tolist():
            keys.update(self._delta.get(h, ()))
        if not keys:
            return []
        ordered = sorted(keys)
        words = [self.vocab.words[i] for i in ordered]
        dist = process.cdist([token], words, scorer=DamerauLevenshtein.distance, score_cutoff=k)
        found = [(key, int(d)) for key, d in zip(ordered, dist[0].tolist(), strict=True) if d <= k]
        return sorted(found, key=lambda kd: (kd[1], kd[0]))

    def prefixed(self, token: str, limit: int) -> list[int]:
        """Keys of up to ``limit`` vocabulary tokens that start with ``token`` (not itself)."""
        start = bisect.bisect_right(self._sorted, token)
        out = []
        for word in self._sorted[start : start + limit]:
            if not word.startswith(token):
                break
            out.append(self.vocab.index[word])
        return out

    def to_files(self, prefix: str) -> tuple[dict[str, NDArray[Any]], dict[str, Any]]:
        h, k = [self._hash], [self._word]
        for probe, keys in self._delta.items():
            h.append(np.full(len(keys), probe, np.uint32))
            k.append(np.array(keys, np.int64))
        hashes, words = np.concatenate(h), np.concatenate(k)
        order = np.argsort(hashes, kind="stable")
        arrays: dict[str, NDArray[Any]] = {
            f"{prefix}_probe_hash": hashes[order],
            f"{prefix}_probe_word": words[order],
        }
        return arrays, {f"{prefix}_words": self.vocab.words}

    @classmethod
    def from_files(
        cls,
        budget: TypoBudget,
        max_token_chars: int,
        arrays: dict[str, NDArray[Any]],
        docs: dict[str, Any],
        prefix: str,
    ) -> TokenMatcher:
        return cls(
            budget,
            max_token_chars,
            list(docs[f"{prefix}_words"]),
            arrays[f"{prefix}_probe_hash"].astype(np.uint32),
            arrays[f"{prefix}_probe_word"].astype(np.int64),
        )


# -- the retriever ------------------------------------------------------------------------


class FuzzyRetriever:
    """Typo-tolerant title and name matching; implements ``Retriever``."""

    name = NAME

    def __init__(
        self,
        params: FuzzyParams,
        *,
        catalog_version: int,
        rows: EntityRows,
        matcher: TokenMatcher,
        postings: Postings,
        titles: list[str],
        fulls: list[str],
        title_len: NDArray[np.int16],
    ) -> None:
        self.params = params
        self.catalog_version = catalog_version
        self._rows, self._matcher, self._postings = rows, matcher, postings
        self._titles, self._fulls = titles, fulls
        self._title_len = Growable(title_len.astype(np.int16))

    @classmethod
    def _empty(cls, params: FuzzyParams, catalog_version: int) -> FuzzyRetriever:
        budget = params.budget
        matcher = TokenMatcher.build(budget, params.max_token_chars, [])
        return cls(
            params,
            catalog_version=catalog_version,
            rows=EntityRows.empty(),
            matcher=matcher,
            postings=Postings.empty(),
            titles=[],
            fulls=[],
            title_len=np.zeros(0, np.int16),
        )

    @classmethod
    def build(
        cls,
        entities: Iterable[Entity],
        config: Config,
        *,
        catalog_version: int,
        on_progress: Callable[[int], None] | None = None,
    ) -> FuzzyRetriever:
        """Index ``entities``: one pass collecting (token, row) pairs, then one CSR sort."""
        params = fuzzy_params(config)
        index = cls._empty(params, catalog_version)
        vocab = Vocabulary([])
        keys: list[int] = []
        rows: list[int] = []
        weights: list[float] = []
        batch: list[Entity] = []
        n_done = 0
        for entity in entities:
            batch.append(entity)
            if len(batch) == _BATCH:
                index._append(batch, vocab.add, keys, rows, weights)
                n_done += len(batch)
                batch = []
                if on_progress is not None:
                    on_progress(n_done)
        index._append(batch, vocab.add, keys, rows, weights)
        if on_progress is not None:
            on_progress(n_done + len(batch))
        budget = params.budget
        index._matcher = TokenMatcher.build(budget, params.max_token_chars, vocab.words)
        index._postings = Postings.from_pairs(
            np.array(keys, np.int64), np.array(rows, np.int64), np.array(weights, np.float32),
            n_keys=len(vocab),
        )  # fmt: skip
        return index

    @classmethod
    def load(cls, directory: Path, config: Config) -> FuzzyRetriever:
        params = fuzzy_params(config)
        manifest, arrays, docs = read_index(directory, NAME, params, INDEX_PARAMS)
        budget = params.budget
        return cls(
            params,
            catalog_version=int(manifest["catalog_version"]),
            rows=EntityRows.from_files(arrays, docs),
            matcher=TokenMatcher.from_files(budget, params.max_token_chars, arrays, docs, "vocab"),
            postings=Postings.from_files(arrays, "tokens"),
            titles=list(docs["titles"]),
            fulls=list(docs["fulls"]),
            title_len=arrays["title_len"],
        )

    # -- indexing -----------------------------------------------------------------------

    def _append(
        self,
        entities: Sequence[Entity],
        key_of: Callable[[str], int],
        keys: list[int],
        rows: list[int],
        weights: list[float],
    ) -> None:
        """Give ``entities`` rows and collect their (token key, row, weight) triples."""
        if not entities:
            return
        first, _ = self._rows.append(entities)
        title_len = []
        names_weight = self.params.names_weight
        for offset, entity in enumerate(entities):
            title = tokenize(entity.title)
            names = [
                normalize(entity.fields[f]) for f in self.params.name_fields if f in entity.fields
            ]
            title_text = " ".join(title)
            self._titles.append(title_text)
            self._fulls.append(" ".join([title_text, *names]).strip())
            title_len.append(max(1, len(title)))
            in_title = set(title)
            tokens = {t: 1.0 for t in in_title}
            for name in names:
                for t in name.split():
                    tokens.setdefault(t, names_weight)
            for token, weight in tokens.items():
                keys.append(key_of(token))
                rows.append(first + offset)
                weights.append(weight)
        self._title_len.extend(np.array(title_len, np.int16))

    def add(self, entities: Sequence[Entity]) -> None:
        keys: list[int] = []
        rows: list[int] = []
        weights: list[float] = []
        self._append(entities, self._matcher.add, keys, rows, weights)
        self._postings.extend(keys, rows, weights)

    def remove(self, ids: Sequence[EntityId]) -> None:
        self._rows.retire(ids)

    def save(self, directory: Path) -> None:
        keep = self._rows.keep()
        remap = remap_rows(keep, self._rows.n)
        rows = self._rows.compacted(keep)
        arrays, docs = rows.to_files()
        postings = self._postings.merged(remap, n_keys=len(self._matcher.vocab))
        arrays.update(postings.to_files("tokens"))
        vocab_arrays, vocab_docs = self._matcher.to_files("vocab")
        arrays.update(vocab_arrays)
        arrays["title_len"] = self._title_len.view[keep]
        kept = keep.tolist()
        docs.update(vocab_docs)
        docs["titles"] = [self._titles[r] for r in kept]
        docs["fulls"] = [self._fulls[r] for r in kept]
        write_index(directory, NAME, self.params, self.catalog_version, arrays, docs)

    def __len__(self) -> int:
        return len(self._rows)

    # -- querying -----------------------------------------------------------------------

    def expansions(
        self, tokens: Sequence[str]
    ) -> list[tuple[int, NDArray[np.int64], NDArray[np.float32]]]:
        """Per distinct typed token: how often it occurs, the vocabulary keys it may stand for
        and their similarity in (0, 1]."""
        p = self.params
        words = self._matcher.vocab.words
        out = []
        counts = Counter(tokens)
        for token, n in counts.items():
            found = self._matcher.similar(token)[: p.max_expansions]
            sims = [1.0 - d / max(len(token), len(words[k])) for k, d in found]
            keys = [k for k, _ in found]
            if token == tokens[-1] and len(token) >= p.prefix_min_chars:
                for k in self._matcher.prefixed(token, p.max_prefix_expansions):
                    if k not in keys:
                        keys.append(k)
                        sims.append(p.prefix_weight * len(token) / len(words[k]))
            out.append((n, np.array(keys, np.int64), np.array(sims, np.float32)))
        return out

    def _coverage(
        self, tokens: Sequence[str]
    ) -> tuple[NDArray[np.int64], NDArray[np.float32], NDArray[np.uint8]]:
        """Rows matching the query, their coverage in [0, 1] and number of tokens matched.

        A token's contribution to a row is its idf times the best ``weight * similarity``
        among its expansions the row contains. Tokens whose best expansion is in at most
        ``generate_max_df`` entities generate the candidate rows through their expansions that
        are (the rarest token through all of its expansions, when no token is); longer posting
        lists ("the", "love") only score those candidates, by binary search, so they are
        never scattered over the whole catalog.
        """
        n_docs = max(len(self._rows), 1)
        alive, postings = self._rows.alive, self._postings
        plans, total = [], 0.0
        for n, keys, sims in self.expansions(tokens):
            df = postings.live_count(int(keys[0]), alive) if len(keys) else 0
            idf = n * float(bm25_idf(np.array([df]), n_docs)[0])
            total += idf
            if len(keys):
                plans.append((df, idf, keys.tolist(), sims.tolist()))
        limit = self.params.generate_max_df
        # a token whose best expansion is rare enough generates with its rare expansions;
        # when none is, the rarest token generates with all of them
        generating = {
            k
            for plan in plans
            if postings.count(plan[2][0]) <= limit
            for k in plan[2]
            if postings.count(k) <= limit
        }
        if not generating and plans:
            generating = set(min(plans, key=lambda plan: plan[0])[2])
        hit = np.zeros(self._rows.n, bool)
        for key in generating:
            hit[postings.get(key)[0]] = True
        rows = np.nonzero(hit & alive)[0].astype(np.int64)
        cover = np.zeros(len(rows), np.float32)
        count = np.zeros(len(rows), np.uint8)
        scratch = np.zeros(self._rows.n, np.float32)
        for _, idf, keys, sims in plans:
            values = np.zeros(len(rows), np.float32)
            for key, sim in zip(keys, sims, strict=True):
                posted, weights = postings.get(key)
                if key in generating or len(posted) <= limit:
                    scratch[posted] = weights * np.float32(sim)
                    np.maximum(values, scratch[rows], out=values)
                    scratch[posted] = 0.0
                elif len(posted):  # rows of a key are ascending: rows only ever append
                    at = np.minimum(np.searchsorted(posted, rows), len(posted) - 1)
                    found = posted[at] == rows
                    np.maximum(
                        values, np.where(found, weights[at] * np.float32(sim), 0), out=values
                    )
            cover += np.float32(idf) * values
            count += values > 0
        return rows, cover / np.float32(max(total, 1e-9)), count

    def retrieve(self, query: UnderstoodQuery, context: Context, depth: int) -> list[Candidate]:
        """At most ``depth`` entities whose title or names match the typed tokens, best first."""
        del context
        p = self.params
        tokens = query.tokens[: p.max_query_tokens]
        if not tokens or depth <= 0 or not len(self._rows):
            return []
        rows, cover, count = self._coverage(tokens)
        if not len(rows):
            return []
        prior = self._rows.prior[rows]
        brevity = np.minimum(1.0, count / self._title_len.view[rows])
        pre = cover + 0.1 * brevity + 0.05 * prior
        pool, _ = top_rows(rows, pre, max(p.n_rerank, depth))
        position = np.searchsorted(rows, pool)
        text = " ".join(tokens)
        pool_list = pool.tolist()
        titles = [self._titles[r] for r in pool_list]
        fulls = [self._fulls[r] for r in pool_list]  # (one list each: rapidfuzz takes lists)
        by_title = process.cdist([text], titles, scorer=fuzz.ratio, dtype=np.float32)[0]
        by_full = process.cdist([text], fulls, scorer=fuzz.token_sort_ratio, dtype=np.float32)[0]
        scores = (
            p.coverage_weight * cover[position]
            + p.string_weight * np.maximum(by_title, by_full) / 100.0
            + p.popularity_weight * prior[position]
        )
        best, best_scores = top_rows(pool, scores, depth)
        return candidates(self._rows.ids, best, best_scores)

"""Spelling correction of query tokens against the catalog's vocabulary.

Candidates come from a symmetric-delete index (SymSpell, Garbe 2012): every vocabulary token
is stored under each string obtained by deleting up to ``d`` characters from its first
``prefix_chars`` characters, and a query token looks up its own deletions; two strings within
edit distance ``d`` share such a deletion. Keys are 32-bit FNV-1a hashes, computed with numpy,
in a sorted ``uint32`` array (a collision only adds a candidate that verification drops), so
25k tokens and their 440k deletions take 3.5 MB, not a dict of strings. Candidates are
verified with the Damerau-Levenshtein distance (rapidfuzz) under a budget that grows with
token length: 0 edits up to ``one_edit_min_chars - 1`` characters, 1 up to
``two_edit_min_chars - 1``, then 2.

A phonetic fallback catches respellings beyond the budget ("kwin" -> "queen"): tokens are
respelled ("qu" -> "kw", "ph" -> "f", soft "c" -> "s", ...) and keyed by that respelling with
every vowel run after the first letter collapsed to "a" (Soundex-like: the first letter stays,
vowel positions count); a token with the same key within ``phonetic_max_edits`` of the
query's respelling is a candidate.

Choice in context: each token keeps its ``max_candidates`` cheapest options, and any of its
``context_candidates`` cheapest that forms a catalog bigram with a neighbour's option; cost
``edit_cost * distance - frequency_weight * log1p(df) / log1p(max_df)``; a phonetic match
costs at most ``phonetic_cost + phonetic_edit_cost * respelled distance``; keeping an unknown
token costs ``oov_cost``. A Viterbi pass over the tokens then subtracts ``bigram_bonus`` for
each adjacent pair that occurs inside a catalog name or attribute value, so "tayler swift"
becomes "taylor swift" rather than "tyler swift". Never changed: tokens with document
frequency at least ``protect_min_df``, reserved words (type words and attribute values),
tokens with digits, tokens too short for any edit, and tokens past the first ``max_tokens``
(a bound on the work a long query can cause).
"""

from __future__ import annotations

import itertools
import math
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from rapidfuzz.distance import DamerauLevenshtein, Levenshtein

from ltrr.errors import ConfigError
from ltrr.understand.vocabulary import Vocabulary

#: Parameters that shape the saved index; a change means rebuilding it from the tokens.
INDEX_PARAMS = ("one_edit_min_chars", "two_edit_min_chars", "prefix_chars")
_MERGE_AT = 50_000


@dataclass(frozen=True, slots=True)
class SpellParams:
    """``[understand.spell]``: typo budget, candidate costs and the phonetic fallback."""

    one_edit_min_chars: int = 4
    two_edit_min_chars: int = 8
    prefix_chars: int = 7
    protect_min_df: int = 3
    max_token_chars: int = 40
    max_tokens: int = 16
    max_candidates: int = 5
    context_candidates: int = 30
    edit_cost: float = 1.0
    frequency_weight: float = 0.75
    bigram_bonus: float = 1.5
    oov_cost: float = 2.5
    phonetic: bool = True
    phonetic_min_chars: int = 4
    phonetic_cost: float = 0.9
    phonetic_edit_cost: float = 0.2
    phonetic_max_edits: int = 2

    def __post_init__(self) -> None:
        if not 1 <= self.one_edit_min_chars <= self.two_edit_min_chars:
            raise ConfigError(
                "understand.spell needs 1 <= one_edit_min_chars <= two_edit_min_chars, got "
                f"{self.one_edit_min_chars} and {self.two_edit_min_chars}"
            )
        if self.prefix_chars < 3 or self.max_candidates < 1:
            raise ConfigError(
                "understand.spell.prefix_chars must be >= 3 and max_candidates >= 1, got "
                f"{self.prefix_chars} and {self.max_candidates}"
            )


def edit_budget(n_chars: int, params: SpellParams) -> int:
    """Edits allowed in a token of ``n_chars`` characters (0, 1 or 2)."""
    return (n_chars >= params.one_edit_min_chars) + (n_chars >= params.two_edit_min_chars)


def _index_depth(n_chars: int, params: SpellParams) -> int:
    """Deletions to index for a vocabulary token: the most any query token it can match uses."""
    return max(
        (b for q in range(max(1, n_chars - 2), n_chars + 3)
         if (b := edit_budget(q, params)) >= abs(q - n_chars)),
        default=0,
    )  # fmt: skip


def deletions(word: str, depth: int) -> set[str]:
    """``word`` and every string made by deleting up to ``depth`` of its characters."""
    out, frontier = {word}, {word}
    for _ in range(depth):
        frontier = {w[:i] + w[i + 1 :] for w in frontier for i in range(len(w))} - out
        out |= frontier
    return out


_RESPELL = tuple(
    (re.compile(p), r)
    for p, r in (
        (r"ph", "f"), (r"ck", "k"), (r"qu", "kw"), (r"q", "k"), (r"x", "ks"), (r"wh", "w"),
        (r"c(?=[eiy])", "s"), (r"c", "k"), (r"z", "s"), (r"dg", "j"), (r"h(?![aeiouy])", ""),
        (r"(.)\1+", r"\1"),
    )
)  # fmt: skip
_VOWELS = re.compile(r"(?<=.)[aeiouy]+")
_LATIN = re.compile(r"[a-z]+")


@lru_cache(maxsize=1 << 14)
def respell(token: str) -> str:
    """English-style phonetic respelling: "queen" -> "kwen", "beyonce" -> "beyonse".

    >>> respell("kwin"), respell("queen"), respell("rihanna")
    ('kwin', 'kwen', 'rihana')
    """
    if not _LATIN.fullmatch(token):
        return ""
    for pattern, replacement in _RESPELL:
        token = pattern.sub(replacement, token)
    return token


@lru_cache(maxsize=1 << 14)
def phonetic_key(token: str) -> str:
    """The respelling with each vowel run but a leading one replaced by "a".

    Equal keys sound alike; the first letter stays as typed, as in Soundex, since people
    rarely misspell how a word starts.

    >>> phonetic_key("kwin") == phonetic_key("queen"), phonetic_key("tayler")
    (True, 'talar')
    """
    return _VOWELS.sub("a", respell(token))


def _uncached_key(token: str) -> str:
    """``phonetic_key`` without filling its cache: indexing sees each token once."""
    return _VOWELS.sub("a", respell.__wrapped__(token))


def _hash(text: str) -> int:
    return zlib.crc32(text.encode("utf-8", "surrogatepass"))


_FNV_OFFSET, _FNV_PRIME = np.uint64(0xCBF29CE484222325), np.uint64(0x100000001B3)


def fixed_width_hashes(strings: Sequence[str], width: int) -> NDArray[np.uint32]:
    """FNV-1a over the code points of strings of at most ``width`` characters, vectorised.

    Stable across processes (unlike ``hash``), so a saved index stays valid; 32 bits are
    enough because every hit is verified by an edit distance.
    """
    if not strings:
        return np.zeros(0, dtype=np.uint32)
    codes = np.array(strings, dtype=f"<U{width}").view(np.uint32).reshape(len(strings), width)
    h = np.full(len(strings), _FNV_OFFSET, dtype=np.uint64)
    for column in range(width):
        h = (h ^ codes[:, column]) * _FNV_PRIME
    return ((h >> np.uint64(32)) ^ (h & np.uint64(0xFFFFFFFF))).astype(np.uint32)


class HashIndex:
    """``uint32`` key -> token ids: a sorted array plus a small dict of recent additions."""

    def __init__(self, keys: NDArray[np.uint32], values: NDArray[np.int32]) -> None:
        self.keys, self.values = keys, values
        self._pending: dict[int, list[int]] = {}
        self._n_pending = 0

    @classmethod
    def from_pairs(
        cls, keys: Sequence[int] | NDArray[np.uint32], values: Sequence[int] | NDArray[np.int32]
    ) -> HashIndex:
        k = np.asarray(keys, dtype=np.uint32)
        v = np.asarray(values, dtype=np.int32)
        order = np.argsort(k, kind="stable")
        return cls(k[order], v[order])

    def add(self, keys: Sequence[int], values: Sequence[int]) -> None:
        for key, value in zip(keys, values, strict=True):
            self._pending.setdefault(key, []).append(value)
        self._n_pending += len(keys)
        if self._n_pending >= _MERGE_AT:
            self.merge()

    def merge(self) -> None:
        """Fold recent additions into the sorted arrays."""
        if not self._pending:
            return
        keys = [k for k, vs in self._pending.items() for _ in vs]
        values = [v for vs in self._pending.values() for v in vs]
        merged = HashIndex.from_pairs(
            np.concatenate([self.keys, np.asarray(keys, dtype=np.uint32)]),
            np.concatenate([self.values, np.asarray(values, dtype=np.int32)]),
        )
        self.keys, self.values = merged.keys, merged.values
        self._pending, self._n_pending = {}, 0

    def lookup(self, keys: Sequence[int]) -> set[int]:
        wanted = np.asarray(keys, dtype=np.uint32)
        lo = np.searchsorted(self.keys, wanted, side="left").tolist()
        hi = np.searchsorted(self.keys, wanted, side="right").tolist()
        found: set[int] = set()
        for a, b in zip(lo, hi, strict=True):
            if b > a:
                found.update(self.values[a:b].tolist())
        if self._pending:
            for key in keys:
                found.update(self._pending.get(key, ()))
        return found


@dataclass(frozen=True, slots=True)
class Correction:
    """Corrected tokens with the Damerau-Levenshtein distance of each change (0: kept)."""

    tokens: tuple[str, ...]
    distances: tuple[int, ...]

    @property
    def distance(self) -> int:
        return sum(self.distances)


@dataclass(frozen=True, slots=True)
class _Option:
    token: str
    distance: int
    cost: float


class SpellCorrector:
    """Corrects query tokens to the vocabulary's tokens; index kept in step with it."""

    def __init__(
        self,
        vocabulary: Vocabulary,
        params: SpellParams,
        *,
        deletes: HashIndex | None = None,
        sounds: HashIndex | None = None,
    ) -> None:
        self.vocabulary = vocabulary
        self.params = params
        self.reserved: set[str] = set()
        self.reserved_bigrams: set[tuple[str, str]] = set()
        if deletes is None or sounds is None:
            deletes, sounds = self._build(range(len(vocabulary.tokens)))
        self.deletes, self.sounds = deletes, sounds

    def _variants(self, token_ids: Iterable[int]) -> tuple[list[str], list[int]]:
        """Deletion variants of each token's prefix and the token id of each."""
        variants: list[str] = []
        owners: list[int] = []
        prefix, tokens = self.params.prefix_chars, self.vocabulary.tokens
        depth: dict[int, int] = {}
        for tid in token_ids:
            n = len(tokens[tid])
            if n not in depth:
                depth[n] = _index_depth(n, self.params)
            found = deletions(tokens[tid][:prefix], depth[n])
            variants += found
            owners += [tid] * len(found)
        return variants, owners

    def _sounds(self, token_ids: Iterable[int]) -> tuple[list[int], list[int]]:
        keys: list[int] = []
        owners: list[int] = []
        for tid in token_ids:
            token = self.vocabulary.tokens[tid]
            key = _uncached_key(token) if len(token) >= 3 else ""
            if len(key) >= 2:
                keys.append(_hash(key))
                owners.append(tid)
        return keys, owners

    def _build(self, token_ids: Sequence[int]) -> tuple[HashIndex, HashIndex]:
        variants, owners = self._variants(token_ids)
        keys = fixed_width_hashes(variants, self.params.prefix_chars)
        deletes = HashIndex.from_pairs(keys, owners)
        return deletes, HashIndex.from_pairs(*self._sounds(token_ids))

    def add_tokens(self, token_ids: Sequence[int]) -> None:
        """Index tokens the vocabulary has just given ids."""
        variants, owners = self._variants(token_ids)
        keys = fixed_width_hashes(variants, self.params.prefix_chars).tolist()
        self.deletes.add(keys, owners)
        self.sounds.add(*self._sounds(token_ids))

    def reserve(self, phrases: Iterable[str]) -> None:
        """Words never corrected and always offered (type words): tokens and their bigrams."""
        new: set[str] = set()
        for phrase in phrases:
            parts = phrase.split(" ")
            new.update(parts)
            self.reserved_bigrams.update(itertools.pairwise(parts))
        new -= self.reserved
        self.reserved |= new
        self.add_tokens(self.vocabulary.intern(sorted(new)))

    # ----------------------------------------------------------------- correction

    def correct(self, tokens: Sequence[str]) -> Correction:
        """The cheapest sequence of options, bigram bonuses included (Viterbi)."""
        limit = self.params.max_tokens
        found = [self._options(t) if i < limit else [self._keep(t)] for i, t in enumerate(tokens)]
        if all(len(o) == 1 for o in found):
            return Correction(tuple(o[0].token for o in found), tuple(o[0].distance for o in found))
        chosen = self._viterbi([self._prune(found, i) for i in range(len(found))])
        return Correction(tuple(o.token for o in chosen), tuple(o.distance for o in chosen))

    def _prune(self, found: list[list[_Option]], i: int) -> list[_Option]:
        """The ``max_candidates`` cheapest options at ``i``, and any other that pairs with one of
        a neighbour's ``max_candidates`` cheapest."""
        top = self.params.max_candidates
        keep = found[i][:top]
        neighbours = [
            (o.token, left)
            for j, left in ((i - 1, True), (i + 1, False))
            if 0 <= j < len(found)
            for o in found[j][:top]
        ]
        keep += [
            o
            for o in found[i][self.params.max_candidates :]
            if any(
                self._bigram(t, o.token) if left else self._bigram(o.token, t)
                for t, left in neighbours
            )
        ]
        return keep

    def _viterbi(self, options: list[list[_Option]]) -> list[_Option]:
        bonus = self.params.bigram_bonus
        costs = [o.cost for o in options[0]]
        back: list[list[int]] = []
        for prev, here in itertools.pairwise(options):
            step_costs, step_back = [], []
            for o in here:
                totals = [
                    c - (bonus if self._bigram(p.token, o.token) else 0.0)
                    for c, p in zip(costs, prev, strict=True)
                ]
                best = min(range(len(totals)), key=totals.__getitem__)
                step_costs.append(totals[best] + o.cost)
                step_back.append(best)
            costs = step_costs
            back.append(step_back)
        i = min(range(len(costs)), key=costs.__getitem__)
        path = [i]
        for step in reversed(back):
            i = step[i]
            path.append(i)
        return [opts[j] for opts, j in zip(options, reversed(path), strict=True)]

    def _bigram(self, first: str, second: str) -> bool:
        return (first, second) in self.reserved_bigrams or self.vocabulary.has_bigram(first, second)

    def _frequency(self, df: int) -> float:
        return self.params.frequency_weight * math.log1p(df) / math.log1p(self.vocabulary.max_df)

    def _options(self, token: str) -> list[_Option]:
        """Keep-or-correct options of one token: keeping it first, then the cheapest others."""
        p = self.params
        keep = self._keep(token)
        if (
            self.vocabulary.df_of(token) >= p.protect_min_df
            or token in self.reserved
            or len(token) > p.max_token_chars
            or any(c.isdigit() for c in token)
        ):
            return [keep]
        found = self._candidates(token)
        found.pop(token, None)
        ranked = sorted(found.values(), key=lambda o: (o.cost, o.token))
        return [keep, *ranked[: p.context_candidates]]

    def _keep(self, token: str) -> _Option:
        known = token in self.reserved or self.vocabulary.df_of(token) > 0
        return _Option(token, 0, -self._frequency_of(token) if known else self.params.oov_cost)

    def _candidates(self, token: str) -> dict[str, _Option]:
        p = self.params
        budget = edit_budget(len(token), p)
        found: dict[str, _Option] = {}
        if budget:
            variants = list(deletions(token[: p.prefix_chars], budget))
            keys = fixed_width_hashes(variants, p.prefix_chars).tolist()
            for tid in self.deletes.lookup(keys):
                word = self.vocabulary.tokens[tid]
                if abs(len(word) - len(token)) > budget or not self._usable(tid, word):
                    continue
                d = DamerauLevenshtein.distance(token, word, score_cutoff=budget)
                if d <= budget:
                    found[word] = self._option(word, d, p.edit_cost * d)
        if p.phonetic and len(token) >= p.phonetic_min_chars:
            self._phonetic(token, found)
        return found

    def _phonetic(self, token: str, found: dict[str, _Option]) -> None:
        p = self.params
        key = phonetic_key(token)
        if len(key) < 2:
            return
        spelled = respell(token)
        for tid in self.sounds.lookup([_hash(key)]):
            word = self.vocabulary.tokens[tid]
            if phonetic_key(word) != key or not self._usable(tid, word):
                continue
            apart = Levenshtein.distance(spelled, respell(word), score_cutoff=p.phonetic_max_edits)
            if apart > p.phonetic_max_edits:
                continue
            d = DamerauLevenshtein.distance(token, word)
            base = min(p.edit_cost * d, p.phonetic_cost + p.phonetic_edit_cost * apart)
            if word not in found or base < found[word].cost + self._frequency_of(word):
                found[word] = self._option(word, d, base)

    def _usable(self, tid: int, word: str) -> bool:
        return self.vocabulary.df[tid] > 0 or word in self.reserved

    def _frequency_of(self, word: str) -> float:
        df = self.vocabulary.df_of(word)
        return self._frequency(max(df, self.params.protect_min_df) if word in self.reserved else df)

    def _option(self, word: str, distance: int, base: float) -> _Option:
        return _Option(word, distance, base - self._frequency_of(word))

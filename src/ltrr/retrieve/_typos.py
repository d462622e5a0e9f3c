"""Typo-tolerant token lookup: the vocabulary tokens within a typo budget of a typed token.

A SymSpell deletion index (Garbe 2012): every vocabulary token is stored under the CRC32 of
each string reachable by deleting up to ``k`` of its characters, and a typed token probes the
same way, so two tokens within Damerau-Levenshtein distance ``k`` share a probe; candidates are
then verified with rapidfuzz. Its own module because two strategies use it: ``fuzzy`` expands
typed tokens with it, ``memory`` snaps unknown tokens to the tokens of known queries.
"""

from __future__ import annotations

import bisect
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein

from ltrr.retrieve._postings import Vocabulary


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

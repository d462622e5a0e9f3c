"""``fuzzy``: typo-tolerant matching of names and titles.

The query is read as typed (``query.tokens``, not the corrected ones: this strategy is the one
for typos). Each typed token is expanded to the catalog tokens within a typo budget that grows
with its length, found with a SymSpell deletion index (Garbe 2012; ``retrieve._typos``, which
``memory`` shares) and verified with rapidfuzz. The last token also expands to the tokens it
begins (partial titles: "love sto").

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

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from rapidfuzz import fuzz, process

from ltrr.retrieve._index import (
    Files,
    RowIndex,
    bm25_idf,
    candidates,
    check_positive,
    top_rows,
)
from ltrr.retrieve._postings import Pairs, Postings, Rows, Vocabulary
from ltrr.retrieve._rows import EntityRows, Growable
from ltrr.retrieve._typos import TokenMatcher, TypoBudget, deletions
from ltrr.retrieve.base import Candidate
from ltrr.types import Context, Entity
from ltrr.understand.base import UnderstoodQuery
from ltrr.understand.text import normalize, tokenize

__all__ = [
    "FuzzyParams",
    "FuzzyRetriever",
    "TokenMatcher",
    "TypoBudget",
    "deletions",
]

NAME = "fuzzy"
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


class FuzzyRetriever(RowIndex[FuzzyParams]):
    """Typo-tolerant title and name matching; implements ``Retriever``."""

    name = NAME
    #: Lists depend on the understood query and the catalog alone (``retrieve.list_cache``).
    cacheable = True
    params_type = FuzzyParams
    index_params = INDEX_PARAMS

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
        super().__init__(params, catalog_version, rows)
        self._matcher, self._postings = matcher, postings
        self._titles, self._fulls = titles, fulls
        self._title_len = Growable(title_len.astype(np.int16))

    # -- indexing -----------------------------------------------------------------------

    @classmethod
    def empty(cls, params: FuzzyParams, catalog_version: int) -> FuzzyRetriever:
        return cls(
            params,
            catalog_version=catalog_version,
            rows=EntityRows.empty(),
            matcher=TokenMatcher.build(params.budget, params.max_token_chars, []),
            postings=Postings.empty(),
            titles=[],
            fulls=[],
            title_len=np.zeros(0, np.int16),
        )

    def _build(self, batches: Iterable[Sequence[Entity]]) -> None:
        """One pass collecting (token, row) pairs, then one CSR sort and one deletion index."""
        vocab, pairs = Vocabulary([]), Pairs()
        for batch in batches:
            self._collect(batch, vocab.add, pairs)
        self._matcher = TokenMatcher.build(
            self.params.budget, self.params.max_token_chars, vocab.words
        )
        self._postings = pairs.postings(len(vocab))

    @classmethod
    def _from_files(
        cls, params: FuzzyParams, catalog_version: int, rows: EntityRows, files: Files
    ) -> FuzzyRetriever:
        arrays, docs = files
        budget, max_chars = params.budget, params.max_token_chars
        return cls(
            params,
            catalog_version=catalog_version,
            rows=rows,
            matcher=TokenMatcher.from_files(budget, max_chars, arrays, docs, "vocab"),
            postings=Postings.from_files(arrays, "tokens"),
            titles=list(docs["titles"]),
            fulls=list(docs["fulls"]),
            title_len=arrays["title_len"],
        )

    def _files(self, keep: Rows, remap: Rows) -> Files:
        postings = self._postings.merged(remap, n_keys=len(self._matcher.vocab))
        arrays, docs = self._matcher.to_files("vocab")
        arrays.update(postings.to_files("tokens"))
        arrays["title_len"] = self._title_len.view[keep]
        kept = keep.tolist()
        docs["titles"] = [self._titles[r] for r in kept]
        docs["fulls"] = [self._fulls[r] for r in kept]
        return arrays, docs

    def _collect(
        self, entities: Sequence[Entity], key_of: Callable[[str], int], pairs: Pairs
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
            # First occurrence order, not a set's: vocabulary keys (tie order at retrieval) must
            # not depend on the string hash seed of the process that built the index.
            tokens = dict.fromkeys(title, 1.0)
            for name in names:
                for t in name.split():
                    tokens.setdefault(t, names_weight)
            for token, weight in tokens.items():
                pairs.append(key_of(token), first + offset, weight)
        self._title_len.extend(np.array(title_len, np.int16))

    def add(self, entities: Sequence[Entity]) -> None:
        pairs = Pairs()
        self._collect(entities, self._matcher.add, pairs)
        pairs.extend_into(self._postings)

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

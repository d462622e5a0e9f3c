"""``structured``: attribute filters and type constraints from the tagger, then text match.

The tagger marks spans of the corrected query: ``attribute`` spans (``label`` = attribute,
``value`` = catalog value, e.g. mood = chill) and ``type`` spans (``label`` = entity type, e.g.
playlist). Each (attribute, value) and each type has a posting list of rows (numpy int arrays,
with the value's weight), so filtering is array work. Spans over the same tokens are
alternative readings and are ORed (their best weight counts); spans over different tokens are
combined as a confidence-weighted mean (a soft AND: entities carrying every tagged value score
1); types are a hard filter (one comparison on the rows' type codes). The tokens no attribute or
type span covers ("chill playlist *for studying*") are matched inside the filtered set against
title and text fields, idf-weighted. The score is

    attribute_match * (text_floor + (1 - text_floor) * text_match) * (1 + popularity_weight * prior)

so entities that match no remaining token stay in the list, below those that do. A query with
no usable span gets ``[]``: that is the other retrievers' ground.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ltrr.retrieve._index import (
    Files,
    RowIndex,
    bm25_idf,
    candidates,
    check_positive,
    top_rows,
)
from ltrr.retrieve._postings import Pairs, Postings, Rows, Vocabulary
from ltrr.retrieve._rows import EntityRows
from ltrr.retrieve.base import Candidate
from ltrr.types import Context, Entity
from ltrr.understand.base import UnderstoodQuery
from ltrr.understand.text import normalize, tokenize

NAME = "structured"
_SEP = "\x1f"
INDEX_PARAMS = ("text_fields", "fields_weight")


@dataclass(frozen=True, slots=True)
class StructuredParams:
    """``[retrieve.structured]`` (see defaults.toml)."""

    text_fields: tuple[str, ...] = ("artist", "album", "description")
    fields_weight: float = 0.5
    text_floor: float = 0.3
    popularity_weight: float = 0.5
    max_query_tokens: int = 32

    def __post_init__(self) -> None:
        check_positive(self, "retrieve.structured", ("max_query_tokens",))


class Facets:
    """Posting lists per (attribute, value): ``Postings`` keys over ``attribute US value``.

    Attribute and value are normalised, so "R&B" from the tagger meets "r&b" in the catalog.
    Types need no postings: ``EntityRows.type_code`` filters by type in one numpy comparison.
    """

    def __init__(self, vocab: Vocabulary, postings: Postings) -> None:
        self.vocab, self.postings = vocab, postings
        self._by_value: dict[str, list[int]] = {}
        for key, word in enumerate(vocab.words):
            self._by_value.setdefault(word.partition(_SEP)[2], []).append(key)

    @classmethod
    def empty(cls) -> Facets:
        return cls(Vocabulary([]), Postings.empty())

    @classmethod
    def from_files(cls, files: Files) -> Facets:
        """The facets ``to_files`` wrote (the index's other files may be in ``files`` too)."""
        arrays, docs = files
        return cls(Vocabulary(list(docs["facet_words"])), Postings.from_files(arrays, "facets"))

    def to_files(self, remap: Rows) -> Files:
        """Arrays and documents of the facets, compacted by ``remap`` (old row -> new or -1)."""
        postings = self.postings.merged(remap, n_keys=len(self.vocab))
        return postings.to_files("facets"), {"facet_words": self.vocab.words}

    @staticmethod
    def word(attribute: str, value: str) -> str:
        return f"{normalize(attribute)}{_SEP}{normalize(value)}"

    def add_word(self, word: str) -> int:
        known = len(self.vocab)
        key = self.vocab.add(word)
        if key == known:
            self._by_value.setdefault(word.partition(_SEP)[2], []).append(key)
        return key

    def collect(self, entity: Entity, row: int, pairs: Pairs) -> None:
        """Add (key, ``row``, weight) of each of ``entity``'s attribute values to ``pairs``."""
        for attribute, values in entity.attributes.items():
            for value, weight in values.items():
                pairs.append(self.add_word(self.word(attribute, value)), row, float(weight))

    def attribute_keys(self, attribute: str, value: str) -> list[int]:
        """The key of (attribute, value); if the catalog has no such pair, every key of value."""
        key = self.vocab.get(self.word(attribute, value))
        return [key] if key >= 0 else self.value_keys(value)

    def value_keys(self, value: str) -> list[int]:
        return list(self._by_value.get(normalize(value), []))


@dataclass(frozen=True, slots=True)
class Constraints:
    """What the spans of a query ask for: attribute groups (OR inside, soft AND across)."""

    groups: list[tuple[list[int], float]]  # (facet keys, confidence) per tagged token range
    type_codes: list[int]  # EntityRows type codes
    covered: frozenset[int]  # token positions the usable spans cover

    @property
    def usable(self) -> bool:
        return bool(self.groups or self.type_codes)


def constraints(query: UnderstoodQuery, facets: Facets, rows: EntityRows) -> Constraints:
    """Facet keys and type codes of the query's attribute and type spans the catalog knows.

    Attribute spans over the same tokens are alternative readings (genre "rock", subgenre
    "rock") and form one group, ORed; spans over different tokens are separate groups.
    """
    groups: dict[tuple[int, int], tuple[list[int], float]] = {}
    type_codes: list[int] = []
    covered: set[int] = set()
    for span in query.spans:
        if span.kind == "attribute":
            keys = facets.attribute_keys(span.label, span.value)
            if keys:
                old_keys, old_conf = groups.get((span.start, span.end), ([], 0.0))
                groups[span.start, span.end] = (old_keys + keys, max(old_conf, span.confidence))
                covered.update(range(span.start, span.end))
        elif span.kind == "type":
            code = rows.type_index.get(span.label, rows.type_index.get(normalize(span.label), -1))
            if code >= 0:
                type_codes.append(code)
                covered.update(range(span.start, span.end))
    return Constraints(list(groups.values()), type_codes, frozenset(covered))


def attribute_match(
    facets: Facets, groups: list[tuple[list[int], float]], n: int
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Rows carrying any group's values and their confidence-weighted mean match in [0, 1]."""
    if len(groups) == 1 and len(groups[0][0]) == 1:  # one value: its posting list as is
        rows, weights = facets.postings.get(groups[0][0][0])
        return rows, np.clip(weights, 0.0, 1.0)
    acc = np.zeros(n, np.float32)
    hit = np.zeros(n, bool)
    total = 0.0
    for keys, confidence in groups:
        conf = max(confidence, 1e-6)
        rows, weights, _ = facets.postings.gather(np.array(keys, np.int64))
        weights = np.clip(weights, 0.0, 1.0)
        if len(keys) == 1:
            acc[rows] += conf * weights
        else:
            best = np.zeros(n, np.float32)
            np.maximum.at(best, rows, weights)
            acc[rows] += conf * best[rows]
        hit[rows] = True
        total += conf
    found = np.nonzero(hit)[0].astype(np.int64)
    return found, acc[found] / np.float32(total)


def filtered(
    facets: Facets, rows_table: EntityRows, found: Constraints
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Live rows meeting ``found`` and their attribute match (1 with types only)."""
    codes = np.array(found.type_codes, np.int32)
    type_code, alive = rows_table.type_code, rows_table.alive
    if not found.groups:
        mask = alive & (type_code == codes[0] if len(codes) == 1 else np.isin(type_code, codes))
        rows = np.nonzero(mask)[0].astype(np.int64)
        return rows, np.ones(len(rows), np.float32)
    rows, match = attribute_match(facets, found.groups, rows_table.n)
    keep = alive[rows]
    if len(codes):
        keep &= np.isin(type_code[rows], codes)
    return rows[keep], match[keep]


class StructuredRetriever(RowIndex[StructuredParams]):
    """Attribute and type filters from tagged spans plus text match; implements ``Retriever``."""

    name = NAME
    #: Lists depend on the understood query and the catalog alone (``retrieve.list_cache``).
    cacheable = True
    params_type = StructuredParams
    index_params = INDEX_PARAMS

    def __init__(
        self,
        params: StructuredParams,
        *,
        catalog_version: int,
        rows: EntityRows,
        facets: Facets,
        vocab: Vocabulary,
        text: Postings,
    ) -> None:
        super().__init__(params, catalog_version, rows)
        self._facets, self._vocab, self._text = facets, vocab, text

    # -- indexing -----------------------------------------------------------------------

    @classmethod
    def empty(cls, params: StructuredParams, catalog_version: int) -> StructuredRetriever:
        return cls(
            params,
            catalog_version=catalog_version,
            rows=EntityRows.empty(),
            facets=Facets.empty(),
            vocab=Vocabulary([]),
            text=Postings.empty(),
        )

    def _build(self, batches: Iterable[Sequence[Entity]]) -> None:
        facet_pairs, text_pairs = Pairs(), Pairs()
        for batch in batches:
            self._collect(batch, facet_pairs, text_pairs)
        self._facets.postings = facet_pairs.postings(len(self._facets.vocab))
        self._text = text_pairs.postings(len(self._vocab))

    @classmethod
    def _from_files(
        cls, params: StructuredParams, catalog_version: int, rows: EntityRows, files: Files
    ) -> StructuredRetriever:
        arrays, docs = files
        return cls(
            params,
            catalog_version=catalog_version,
            rows=rows,
            facets=Facets.from_files(files),
            vocab=Vocabulary(list(docs["text_words"])),
            text=Postings.from_files(arrays, "text"),
        )

    def _files(self, keep: Rows, remap: Rows) -> Files:
        arrays, docs = self._facets.to_files(remap)
        arrays.update(self._text.merged(remap, n_keys=len(self._vocab)).to_files("text"))
        docs["text_words"] = self._vocab.words
        return arrays, docs

    def _collect(self, entities: Sequence[Entity], facet_pairs: Pairs, text_pairs: Pairs) -> None:
        if not entities:
            return
        first, _ = self._rows.append(entities)
        fields_weight = self.params.fields_weight
        for offset, entity in enumerate(entities):
            row = first + offset
            self._facets.collect(entity, row, facet_pairs)
            tokens = dict.fromkeys(tokenize(entity.title), 1.0)
            for f in self.params.text_fields:
                if f in entity.fields:
                    for t in tokenize(entity.fields[f]):
                        tokens.setdefault(t, fields_weight)
            for token, weight in tokens.items():
                text_pairs.append(self._vocab.add(token), row, weight)

    def add(self, entities: Sequence[Entity]) -> None:
        facet_pairs, text_pairs = Pairs(), Pairs()
        self._collect(entities, facet_pairs, text_pairs)
        facet_pairs.extend_into(self._facets.postings)
        text_pairs.extend_into(self._text)

    # -- querying -----------------------------------------------------------------------

    def retrieve(self, query: UnderstoodQuery, context: Context, depth: int) -> list[Candidate]:
        """Entities meeting the tagged constraints, ranked by match, text and popularity."""
        del context
        found = constraints(query, self._facets, self._rows)
        if not found.usable or depth <= 0 or not len(self._rows):
            return []
        rows, match = filtered(self._facets, self._rows, found)
        if not len(rows):
            return []
        p = self.params
        rest = [
            t
            for i, t in enumerate(query.corrected_tokens[: p.max_query_tokens])
            if i not in found.covered
        ]
        text = self._text_match(rest, rows, self._rows.n)
        scores = (
            match
            * (p.text_floor + (1.0 - p.text_floor) * text)
            * (1.0 + p.popularity_weight * self._rows.prior[rows])
        )
        best, best_scores = top_rows(rows, scores, depth)
        return candidates(self._rows.ids, best, best_scores)

    def _text_match(self, tokens: list[str], rows: NDArray[np.int64], n: int) -> NDArray[Any]:
        """Idf-weighted share of ``tokens`` found in each of ``rows`` (zeros without tokens)."""
        if not tokens:
            return np.zeros(len(rows), np.float32)
        keys = np.array([self._vocab.get(t) for t in dict.fromkeys(tokens)], np.int64)
        alive = self._rows.alive
        df = np.array([self._text.live_count(int(k), alive) if k >= 0 else 0 for k in keys])
        idf = bm25_idf(df, max(len(self._rows), 1))
        acc = np.zeros(n, np.float32)
        hits, weights, seg = self._text.gather(keys)
        np.add.at(acc, hits, weights * idf[seg])
        return acc[rows] / np.float32(max(float(idf.sum()), 1e-9))

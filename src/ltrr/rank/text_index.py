"""``TextIndex``: per-candidate text-match and catalog features for the learned ranker.

The ranker scores a few hundred merged candidates per request, in well under a millisecond, so
its features come from forward indexes (``rank._forward``: row -> what the entity holds) read
for all candidates at once with numpy, never a Python loop per candidate. Three text fields,
split as the lexical retriever splits them (``retrieve.lexical``): ``title``; ``names``, the
``Entity.fields`` named in ``name_fields`` (artist, album); and ``body``, every other field.
They share one forward index of (token, field) keys with term frequencies (``TextFields``),
so a request gathers the candidates' text once for all three fields. Attribute values
(``Entity.attributes``, normalised, each value once per entity with its highest weight) have a
forward index of their own, for attribute match with the query's tags and affinity with the
user's taste.

BM25 (Robertson & Zaragoza 2009, "The Probabilistic Relevance Framework: BM25 and Beyond",
eq. 3.15) of a query Q against a field of entity d:

    BM25(d, Q) = sum over q in Q of IDF(q) * tf(q, d) * (k1 + 1)
                 / (tf(q, d) + k1 * (1 - b + b * |d| / avgdl))
    IDF(q)     = ln(1 + (N - df(q) + 0.5) / (df(q) + 0.5))

with N the live entities, df(q) the live entities whose field holds q, |d| the field's length in
tokens and avgdl its mean over the live entities. A token repeated in the query counts once per
repetition (the sum runs over Q's tokens, as the lexical retriever boosts it).

It is built, caught up, saved and compacted like the retrievers' indexes (``RowIndex``),
as component ``text`` of every data directory (``retrieve.indexes``); its parameters are
``[rank.text]``.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ltrr.config import Config, section_params
from ltrr.errors import ConfigError
from ltrr.rank._forward import Forward, Rows, TextFields
from ltrr.retrieve._index import Files, RowIndex
from ltrr.retrieve._postings import Vocabulary
from ltrr.retrieve._rows import EntityRows, Growable
from ltrr.types import Entity, EntityId
from ltrr.understand.text import normalize, tokenize

NAME = "text"
SECTION = "rank.text"
FIELDS = ("title", "names", "body")
#: ``retrieve.lexical``'s own default, for configs without that section.
LEXICAL_NAME_FIELDS = ("artist", "album")
Floats = NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class TextParams:
    """``[rank.text]`` (see defaults.toml). ``name_fields`` empty means "the lexical
    retriever's", so the ranker's names field cannot drift from the one retrieval searched."""

    name_fields: tuple[str, ...] = ()
    k1: float = 1.2
    b: float = 0.75

    def __post_init__(self) -> None:
        if not 0.0 <= self.b <= 1.0:
            raise ConfigError(f"{SECTION}.b must be in [0, 1], got {self.b}")
        if self.k1 < 0:
            raise ConfigError(f"{SECTION}.k1 must be >= 0, got {self.k1}")


def lexical_name_fields(config: Config) -> tuple[str, ...]:
    """``[retrieve.lexical] name_fields``, read raw: parsing ``LexicalParams`` needs tantivy."""
    try:
        return tuple(config.section("retrieve.lexical").get("name_fields", LEXICAL_NAME_FIELDS))
    except ConfigError:
        return LEXICAL_NAME_FIELDS


def sequence_hash(tokens: Sequence[str]) -> int:
    """A stable 64-bit hash of a token sequence (``hash`` is salted per process; saved
    hashes must compare across processes)."""
    digest = hashlib.blake2b("\x1f".join(tokens).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def field_tokens(entity: Entity, name_fields: Sequence[str]) -> dict[str, list[str]]:
    """The tokens of ``entity``'s title, names and body fields, in order."""
    names = set(name_fields)
    return {
        "title": tokenize(entity.title),
        "names": [t for f in name_fields if f in entity.fields for t in tokenize(entity.fields[f])],
        "body": [t for f, text in entity.fields.items() if f not in names for t in tokenize(text)],
    }


def attribute_weights(entity: Entity, values: Vocabulary) -> dict[int, float]:
    """Value key -> weight of ``entity``'s attribute values; a value under two attributes
    (genre and subgenre "rock") counts once, with its highest weight."""
    weights: dict[int, float] = {}
    for by_value in entity.attributes.values():
        for value, weight in by_value.items():
            key = values.add(normalize(value))
            weights[key] = max(weights.get(key, float("-inf")), float(weight))
    return weights


def bm25_idf(df: NDArray[np.int64], n_docs: int) -> NDArray[np.float64]:
    """IDF(q) = ln(1 + (N - df + 0.5) / (df + 0.5)) (Robertson & Zaragoza 2009, 3.15)."""
    return np.log1p((n_docs - df + 0.5) / (df + 0.5))


def bm25_tf(
    tf: NDArray[Any], dl: NDArray[Any], avgdl: NDArray[np.float64], k1: float, b: float
) -> NDArray[np.float64]:
    """BM25's saturated, length-normalised term frequency (Robertson & Zaragoza 2009, 3.15);
    arrays of shape (n_hits,)."""
    return tf * (k1 + 1.0) / (tf + k1 * (1.0 - b + b * dl / np.maximum(avgdl, 1e-9)))


def spread(values: NDArray[Any], known: NDArray[np.bool_]) -> Floats:
    """``values`` of the known rows placed into a float32 column, NaN where a row is unknown."""
    if len(values) == len(known):  # every row known, the usual case
        return np.asarray(values, np.float32)
    out = np.full(len(known), np.nan, np.float32)
    out[known] = values
    return out


@dataclass(frozen=True, slots=True)
class QueryKeys:
    """A query's distinct known keys (sorted), the weight of each, and its distinct count."""

    keys: NDArray[np.int64]
    weights: NDArray[np.float64]
    n_distinct: int


def query_keys(vocab: Vocabulary, weights: Mapping[str, float]) -> QueryKeys:
    """``weights`` (word -> weight) mapped to ``vocab``'s keys once per query."""
    known = [(vocab.get(w), x) for w, x in weights.items() if vocab.get(w) >= 0]
    keys = np.array([k for k, _ in known], np.int64)
    order = np.argsort(keys)
    return QueryKeys(keys[order], np.array([x for _, x in known], np.float64)[order], len(weights))


class TextIndex(RowIndex[TextParams]):
    """Forward indexes of text fields and attribute values, read per candidate by the ranker."""

    name = NAME
    params_type = TextParams
    index_params = ("name_fields",)

    def __init__(
        self,
        params: TextParams,
        catalog_version: int,
        rows: EntityRows,
        *,
        words: Vocabulary,
        text: TextFields,
        title_hash: NDArray[np.int64],
        values: Vocabulary,
        attributes: Forward,
    ) -> None:
        super().__init__(params, catalog_version, rows)
        self._words, self._text, self._values = words, text, values
        self._title_hash = Growable(title_hash.astype(np.int64))
        self._attributes = attributes

    # -- indexing -----------------------------------------------------------------------

    @classmethod
    def section(cls) -> str:
        return SECTION

    @classmethod
    def params_of(cls, config: Config) -> TextParams:
        """``[rank.text]``, with empty ``name_fields`` resolved to the lexical retriever's."""
        params = section_params(config, SECTION, TextParams)
        if params.name_fields:
            return params
        return replace(params, name_fields=lexical_name_fields(config))

    @classmethod
    def empty(cls, params: TextParams, catalog_version: int) -> TextIndex:
        return cls(
            params,
            catalog_version,
            EntityRows.empty(),
            words=Vocabulary([]),
            text=TextFields.empty(len(FIELDS)),
            title_hash=np.zeros(0, np.int64),
            values=Vocabulary([]),
            attributes=Forward.empty(),
        )

    def _build(self, batches: Iterable[Sequence[Entity]]) -> None:
        for batch in batches:
            self.add(batch)

    @classmethod
    def _from_files(
        cls, params: TextParams, catalog_version: int, rows: EntityRows, files: Files
    ) -> TextIndex:
        arrays, docs = files
        return cls(
            params,
            catalog_version,
            rows,
            words=Vocabulary(list(docs["words"])),
            text=TextFields.from_files(arrays, "text"),
            title_hash=arrays["title_hash"],
            values=Vocabulary(list(docs["values"])),
            attributes=Forward.from_files(arrays, "attributes"),
        )

    def _files(self, keep: Rows, remap: Rows) -> Files:
        del remap  # forward indexes hold no row numbers: keeping the rows is all
        arrays = {"title_hash": self._title_hash.view[keep]}
        arrays.update(self._text.compacted(keep).to_files("text"))
        arrays.update(self._attributes.compacted(keep).to_files("attributes"))
        return arrays, {"words": self._words.words, "values": self._values.words}

    def add(self, entities: Sequence[Entity]) -> None:
        """Index ``entities`` (new rows); the rows they replace leave the frequencies."""
        if not entities:
            return
        _, replaced = self._rows.append(entities)
        tokens = [field_tokens(e, self.params.name_fields) for e in entities]
        add = self._words.add
        self._text.append([[[add(t) for t in toks[f]] for f in FIELDS] for toks in tokens])
        self._title_hash.extend(np.array([sequence_hash(t["title"]) for t in tokens], np.int64))
        weights = [attribute_weights(e, self._values) for e in entities]
        self._attributes.append(
            [len(w) for w in weights],
            [k for w in weights for k in w],
            [x for w in weights for x in w.values()],
        )
        self._retired(replaced)

    def _retired(self, rows: Sequence[int]) -> None:
        if len(rows):
            self._text.retire(np.asarray(rows, np.int64))

    # -- features -----------------------------------------------------------------------

    def rows_of(self, ids: Sequence[EntityId]) -> Rows:
        """The live row of each of ``ids``; -1 where unknown or removed."""
        row_of = self._rows.row_of
        return np.fromiter((row_of.get(i, -1) for i in ids), np.int64, len(ids))

    def text_match(self, rows: Rows, tokens: Sequence[str]) -> dict[str, Floats]:
        """Text-match features of ``rows`` (shape (m,), -1 = unknown) for query ``tokens``.

        Returns ``{field}.bm25`` and ``{field}.overlap`` (share of the distinct query tokens
        the field holds) for title, names and body; ``title.exact`` (1 if the title's tokens
        are the query's, else 0); ``title.length`` and ``body.length`` in tokens. Each has shape
        (m,), NaN for unknown rows; without query tokens the match features are NaN too.
        """
        rows = np.asarray(rows, np.int64)
        known = rows >= 0
        live = rows[known]
        bm25, overlap = self._match(live, query_keys(self._words, Counter(tokens)))
        out: dict[str, Floats] = {}
        for f, name in enumerate(FIELDS):
            out[f"{name}.bm25"] = spread(bm25[:, f], known)
            out[f"{name}.overlap"] = spread(overlap[:, f], known)
        exact = (self._title_hash.view[live] == sequence_hash(tokens)).astype(np.float64)
        out["title.exact"] = spread(exact if tokens else np.full(len(live), np.nan), known)
        lengths = self._text.lengths[live]
        out["title.length"] = spread(lengths[:, FIELDS.index("title")], known)
        out["body.length"] = spread(lengths[:, FIELDS.index("body")], known)
        return out

    def _match(
        self, rows: Rows, query: QueryKeys
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """BM25 and overlap of ``query`` against every field of ``rows`` (all known), each
        of shape (len(rows), n_fields): one gather of the rows' (token, field) keys."""
        m, n_fields = len(rows), len(FIELDS)
        if not query.n_distinct:
            return np.full((m, n_fields), np.nan), np.full((m, n_fields), np.nan)
        if not len(query.keys) or not m:
            return np.zeros((m, n_fields)), np.zeros((m, n_fields))
        keys = (query.keys[:, None] * n_fields + np.arange(n_fields)).ravel()  # sorted
        n_docs = max(len(self._rows), 1)
        idf = bm25_idf(self._text.doc_freq(keys), n_docs) * np.repeat(query.weights, n_fields)
        seg, pos, tf = self._text.forward.matches(rows, keys)
        field = pos % n_fields
        dl = self._text.lengths[rows[seg], field]
        avgdl = self._text.total_length[field] / n_docs
        terms = idf[pos] * bm25_tf(tf, dl, avgdl, self.params.k1, self.params.b)
        cell = seg * n_fields + field
        bm25 = np.bincount(cell, weights=terms, minlength=m * n_fields).astype(np.float64)
        overlap = np.bincount(cell, minlength=m * n_fields) / query.n_distinct
        return bm25.reshape(m, n_fields), overlap.astype(np.float64).reshape(m, n_fields)

    def attribute_match(self, rows: Rows, values: Sequence[str]) -> Floats:
        """Sum of each row's weights of ``values`` (say, the query's tagged attribute values,
        normalised as the catalog's); NaN for unknown rows, and for all when ``values`` is
        empty (nothing was asked)."""
        return self._weighted(rows, {normalize(v): 1.0 for v in values})

    def affinity(self, rows: Rows, taste: Mapping[str, float]) -> Floats:
        """Sum over each row's attribute values of weight * ``taste[value]`` (the user's
        affinity); NaN for unknown rows, and for all when ``taste`` is empty."""
        by_value: dict[str, float] = {}
        for value, affinity in taste.items():
            key = normalize(value)
            by_value[key] = by_value.get(key, 0.0) + affinity
        return self._weighted(rows, by_value)

    def _weighted(self, rows: Rows, weights: Mapping[str, float]) -> Floats:
        """Sum over each row's attribute values in ``weights`` of value weight * weight."""
        rows = np.asarray(rows, np.int64)
        known = rows >= 0
        live = rows[known]
        query = query_keys(self._values, weights)
        if not query.n_distinct:
            return np.full(len(rows), np.nan, np.float32)
        if not len(query.keys):
            return spread(np.zeros(len(live)), known)
        seg, pos, weight = self._attributes.matches(live, query.keys)
        total = np.bincount(seg, weights=weight * query.weights[pos], minlength=len(live))
        return spread(total, known)

    def columns(
        self, rows: Rows
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int32]]:
        """Popularity, ``added_at_s`` (NaN where undated) and type code of ``rows``; NaN, NaN
        and -1 for unknown rows. ``type_name`` turns a code into the entity type: codes
        depend on catalog order, so a model must key on names."""
        rows = np.asarray(rows, np.int64)
        known = rows >= 0
        live = rows[known]
        popularity = np.full(len(rows), np.nan)
        popularity[known] = self._rows.popularity[live]
        added = np.full(len(rows), np.nan)
        added[known] = self._rows.added_at_s[live]
        codes = np.full(len(rows), -1, np.int32)
        codes[known] = self._rows.type_code[live]
        return popularity, added, codes

    def type_name(self, code: int) -> str:
        """The entity type of type code ``code`` (from ``columns``)."""
        return self._rows.types[code]

    @property
    def types(self) -> list[str]:
        """Every entity type seen, by type code."""
        return list(self._rows.types)

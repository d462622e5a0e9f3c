"""``lexical``: fielded BM25 over a tantivy inverted index, with a popularity prior.

Each entity becomes one tantivy document with three text fields: ``all``, every free text of
the entity (title, names, abstracts, descriptions) as one flat field; ``title``; and ``names``,
the ``Entity.fields`` listed in ``name_fields`` (artist and album names). The score is
``all_boost * BM25(all) + title_boost * BM25(title) + names_boost * BM25(names)``
(Robertson & Zaragoza 2009; tantivy's k1 = 1.2, b = 0.75). The flat field carries the quality:
on SciFact a flat title+text field beats separate per-field BM25 sums (Anserini: 0.679 flat vs
0.665 multifield; tantivy here: 0.684 vs 0.666), so the title and names fields only add a small
boost on top of it (0.2, tuned on SciFact's train split).

Text is folded and split by ``understand.text``, the tokenizer queries go through, and the
whitespace-joined tokens are stemmed by a tantivy analyzer (Snowball English, as Anserini's
Porter-stemmed BM25), which also stems the query tokens, so indexing and querying cannot drift
apart. A query is the ``Should`` union of one term query per (field, stemmed term), boosted by
the field's boost times the term's count in the query: terms are built, never parsed, so no
user input can raise a query-syntax error.

Popularity prior: ``score * (1 + popularity_weight * log1p(popularity))`` re-orders the top
``depth * prior_pool`` BM25 hits; with every popularity 0 (BEIR corpora) it changes nothing and
is skipped. Entity ids come back through a FAST ``u64`` ordinal per document and a Python list
ordinal -> id, never from stored documents (fetching those costs more than the search).
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import tantivy
from numpy.typing import NDArray

from ltrr.config import Config, section_params
from ltrr.errors import ConfigError
from ltrr.retrieve._index import read_index
from ltrr.retrieve.base import Candidate
from ltrr.storage.folder import new_manifest, staged, write_arrays
from ltrr.types import Context, Entity, EntityId
from ltrr.understand.base import UnderstoodQuery
from ltrr.understand.text import tokenize

NAME = "lexical"
FORMAT_VERSION = 1
INDEX_DIR = "index"
TEXT_FIELDS = ("all", "title", "names")
_ANALYZER = "ltrr_lexical"
_BUILD_BATCH = 5000
_SHOULD = tantivy.Occur.Should
#: Parameters that shape the index files; the others apply at query time only.
INDEX_PARAMS = ("name_fields", "stemmer", "max_token_bytes")


@dataclass(frozen=True, slots=True)
class LexicalParams:
    """``[retrieve.lexical]``: field boosts, analyzer and popularity prior (see defaults.toml)."""

    all_boost: float = 1.0
    title_boost: float = 0.2
    names_boost: float = 0.2
    name_fields: tuple[str, ...] = ("artist", "album")
    stemmer: str = "english"
    max_token_bytes: int = 100
    max_query_terms: int = 64
    popularity_weight: float = 0.05
    prior_pool: int = 2
    writer_heap_mb: int = 64

    def __post_init__(self) -> None:
        if self.stemmer:
            try:
                _analyzer(self)
            except ValueError:
                raise ConfigError(
                    f"retrieve.lexical.stemmer {self.stemmer!r} is not a Snowball language "
                    'tantivy knows (e.g. english, french, german); use "" for none'
                ) from None
        for name in ("max_token_bytes", "max_query_terms", "prior_pool"):
            if getattr(self, name) < 1:
                raise ConfigError(
                    f"retrieve.lexical.{name} must be >= 1, got {getattr(self, name)}"
                )
        if self.writer_heap_mb < 15:
            raise ConfigError(
                f"retrieve.lexical.writer_heap_mb must be >= 15 (tantivy's minimum), "
                f"got {self.writer_heap_mb}"
            )

    @property
    def boosts(self) -> dict[str, float]:
        return {"all": self.all_boost, "title": self.title_boost, "names": self.names_boost}


def lexical_params(config: Config) -> LexicalParams:
    """``[retrieve.lexical]`` of ``config``, or the defaults while that section is absent."""
    return section_params(config, "retrieve.lexical", LexicalParams)


def _analyzer(params: LexicalParams) -> tantivy.TextAnalyzer:
    """Whitespace split of pre-folded tokens, long-token guard, then the stemmer."""
    builder = tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace()).filter(
        tantivy.Filter.remove_long(params.max_token_bytes)
    )
    if params.stemmer:
        builder = builder.filter(tantivy.Filter.stemmer(params.stemmer))
    return builder.build()


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", tokenizer_name="raw", index_option="basic")
    builder.add_unsigned_field("ord", fast=True)
    for field in TEXT_FIELDS:
        builder.add_text_field(field, tokenizer_name=_ANALYZER, index_option="freq")
    return builder.build()


class LexicalRetriever:
    """Fielded BM25 with a popularity prior; implements ``Retriever``.

    Parameters are fixed at construction. The index state is the tantivy index in a private
    working folder (after ``load``, the saved one until the first change), ``ids`` (ordinal ->
    entity id, ``None`` once deleted) and ``log_popularity`` (ordinal -> ``log1p(popularity)``).
    """

    name = NAME
    #: Lists depend on the understood query and the catalog alone (``retrieve.list_cache``).
    cacheable = True

    def __init__(
        self,
        params: LexicalParams,
        work: Path,
        *,
        catalog_version: int,
        ids: list[EntityId | None],
        popularity: NDArray[np.float64],
        private: bool,
    ) -> None:
        self.params = params
        self.catalog_version = catalog_version
        self._work = work
        self._private = private
        self._ids = ids
        self._ord_of = {e: i for i, e in enumerate(ids) if e is not None}
        self._log_popularity = np.log1p(popularity)
        self._popularity = popularity
        self._analyzer = _analyzer(params)
        self._open(work)
        if private:
            weakref.finalize(self, shutil.rmtree, work.parent, True)

    def _open(self, work: Path) -> None:
        self._index = tantivy.Index.open(str(work))
        self._index.register_tokenizer(_ANALYZER, self._analyzer)
        self._schema = self._index.schema
        self._refresh()

    def _refresh(self) -> None:
        self._index.reload()
        self._searcher = self._index.searcher()
        self._boosts = {  # a field no document fills (names, in BEIR) costs clauses for nothing
            field: boost
            for field, boost in self.params.boosts.items()
            if boost > 0 and self._searcher.terms_with_prefix(field, "", limit=1)
        }
        self._prior_active = bool(  # retired ordinals hold popularity 0
            self.params.popularity_weight > 0 and np.any(self._log_popularity > 0)
        )

    # -- constructors -------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        entities: Iterable[Entity],
        config: Config,
        *,
        catalog_version: int,
        on_progress: Callable[[int], None] | None = None,
    ) -> LexicalRetriever:
        """Index ``entities`` from scratch in a private temporary folder."""
        params = lexical_params(config)
        work = Path(tempfile.mkdtemp(prefix="ltrr-lexical-")) / INDEX_DIR
        work.mkdir()
        tantivy.Index(_schema(), path=str(work), reuse=False)
        retriever = cls(
            params,
            work,
            catalog_version=catalog_version,
            ids=[],
            popularity=np.zeros(0),
            private=True,
        )
        retriever._write(entities, (), on_progress)
        return retriever

    @classmethod
    def load(cls, directory: Path, config: Config) -> LexicalRetriever:
        """Open what ``save(directory)`` wrote, in place; the first change copies it away.

        Raises
        ------
        StorageError
            If the folder is not a lexical index of this format, a checksum fails, or it was
            built with index-shaping parameters other than the config's (rebuild it).
        """
        params = lexical_params(config)
        manifest, (arrays, docs) = read_index(directory, NAME, params, INDEX_PARAMS, FORMAT_VERSION)
        return cls(
            params,
            directory / INDEX_DIR,
            catalog_version=int(manifest["catalog_version"]),
            ids=[None if i is None else EntityId(i) for i in docs["ids"]],
            popularity=arrays["popularity"].astype(np.float64),
            private=False,
        )

    # -- Retriever protocol -------------------------------------------------------------

    def retrieve(self, query: UnderstoodQuery, context: Context, depth: int) -> list[Candidate]:
        """At most ``depth`` entities by boosted BM25 times the popularity prior."""
        del context
        # Typed tokens plus their corrections: a correction of an unknown word adds the word the
        # user meant, while a known word wrongly "corrected" (prose) still matches as typed.
        typed = set(query.tokens)
        extra = [t for t in query.corrected_tokens if t not in typed]
        bm25 = self.query_for([*query.tokens, *extra])
        if bm25 is None or depth <= 0 or not self._ord_of:
            return []
        pool = depth * self.params.prior_pool if self._prior_active else depth
        hits = self._searcher.search(bm25, pool, count=False).hits
        if not hits:
            return []
        scores = np.fromiter((h[0] for h in hits), dtype=np.float64, count=len(hits))
        ords = np.asarray(self.ordinals([h[1] for h in hits]), dtype=np.int64)
        if self._prior_active:
            scores *= 1.0 + self.params.popularity_weight * self._log_popularity[ords]
            order = np.argsort(-scores, kind="stable")[:depth]
            scores, ords = scores[order], ords[order]
        ids = self._ids
        pairs = zip(ords.tolist(), scores.tolist(), strict=True)
        return [Candidate(ids[o], s) for o, s in pairs]

    def add(self, entities: Sequence[Entity]) -> None:
        """Index ``entities``; an id already indexed is deleted first (its ordinal retires)."""
        if entities:
            self._write(entities, (), None)

    def remove(self, ids: Sequence[EntityId]) -> None:
        """Delete ``ids`` by their ``id`` term; unknown ids are ignored."""
        known = [i for i in dict.fromkeys(ids) if i in self._ord_of]
        if known:
            self._write((), known, None)

    def save(self, directory: Path) -> None:
        """Copy the index, ids, popularity and a manifest into ``directory`` atomically."""
        manifest = new_manifest(
            f"ltrr-{NAME}",
            FORMAT_VERSION,
            tantivy_version=getattr(tantivy, "__version__", None),
            params=asdict(self.params),
            catalog_version=self.catalog_version,
            n_entities=len(self),
        )
        with staged(directory) as tmp:
            shutil.copytree(self._work, tmp / INDEX_DIR, ignore=shutil.ignore_patterns("*.lock"))
            write_arrays(tmp, manifest, {"popularity": self._popularity}, {"ids": self._ids})

    def __len__(self) -> int:
        return len(self._ord_of)

    # -- the parts, public for benchmarks and tests -------------------------------------

    def query_for(self, tokens: Sequence[str]) -> tantivy.Query | None:
        """The tantivy query of folded ``tokens`` (``None`` when nothing searchable is left)."""
        terms = Counter(self._analyzer.analyze(" ".join(tokens)))
        if not terms:
            return None
        clauses = []
        for term, count in list(terms.items())[: self.params.max_query_terms]:
            for field, boost in self._boosts.items():
                q = tantivy.Query.term_query(self._schema, field, term)
                weight = boost * count
                clauses.append(
                    (_SHOULD, q if weight == 1 else tantivy.Query.boost_query(q, weight))
                )
        return tantivy.Query.boolean_query(clauses) if clauses else None

    def ordinals(self, addresses: list[tantivy.DocAddress]) -> list[int]:
        """Entity ordinals of ``addresses``, read from the FAST ``ord`` column (no stored docs)."""
        return self._searcher.fast_field_values("ord", addresses)  # type: ignore[return-value]

    @property
    def searcher(self) -> tantivy.Searcher:
        return self._searcher

    # -- writing ------------------------------------------------------------------------

    def _ensure_private(self) -> None:
        """Copy a loaded index to a private folder before its first change (copy on write)."""
        if self._private:
            return
        work = Path(tempfile.mkdtemp(prefix="ltrr-lexical-")) / INDEX_DIR
        shutil.copytree(self._work, work, ignore=shutil.ignore_patterns("*.lock"))
        self._work, self._private = work, True
        weakref.finalize(self, shutil.rmtree, work.parent, True)
        self._open(work)

    def _write(
        self,
        entities: Iterable[Entity],
        removed: Sequence[EntityId],
        on_progress: Callable[[int], None] | None,
    ) -> None:
        """Delete ``removed``, (re)index ``entities``, commit; state changes only on success."""
        self._ensure_private()
        writer = self._index.writer(self.params.writer_heap_mb * 1_000_000, 1)
        base = len(self._ids)
        retired = [self._ord_of[entity_id] for entity_id in removed]
        added: dict[EntityId, int] = {}  # id -> its new ordinal (the last record wins)
        new_ids: list[EntityId | None] = []
        popularity: list[float] = []
        try:
            for entity_id in removed:
                writer.delete_documents_by_term("id", entity_id)
            for entity in entities:
                old = added.get(entity.id, self._ord_of.get(entity.id))
                if old is not None:
                    writer.delete_documents_by_term("id", entity.id)
                    retired.append(old)
                added[entity.id] = base + len(new_ids)
                writer.add_document(self._document(entity, base + len(new_ids)))
                new_ids.append(entity.id)
                popularity.append(entity.popularity)
                if on_progress is not None and len(new_ids) % _BUILD_BATCH == 0:
                    on_progress(len(new_ids))
            writer.commit()
        except BaseException:
            writer.rollback()
            raise
        writer.wait_merging_threads()
        if on_progress is not None:
            on_progress(len(new_ids))
        self._apply(removed, added, new_ids, popularity, retired)

    def _apply(
        self,
        removed: Sequence[EntityId],
        added: dict[EntityId, int],
        new_ids: list[EntityId | None],
        popularity: list[float],
        retired: list[int],
    ) -> None:
        """Mirror a committed write in the ordinal tables (retired ordinals: no id, no prior)."""
        self._ids.extend(new_ids)
        for entity_id in removed:
            self._ord_of.pop(entity_id, None)
        self._ord_of.update(added)
        self._popularity = np.concatenate([self._popularity, np.asarray(popularity, float)])
        for ordinal in retired:
            self._ids[ordinal] = None
        self._popularity[retired] = 0.0
        self._log_popularity = np.log1p(self._popularity)
        self._refresh()

    def _document(self, entity: Entity, ordinal: int) -> tantivy.Document:
        title = " ".join(tokenize(entity.title))
        names: list[str] = []
        others: list[str] = []
        for key, value in entity.fields.items():
            (names if key in self.params.name_fields else others).append(" ".join(tokenize(value)))
        doc = tantivy.Document()
        doc.add_text("id", entity.id)
        doc.add_unsigned("ord", ordinal)
        for field, text in (
            ("all", " ".join(filter(None, (title, *names, *others)))),
            ("title", title),
            ("names", " ".join(filter(None, names))),
        ):
            if text:
                doc.add_text(field, text)
        return doc

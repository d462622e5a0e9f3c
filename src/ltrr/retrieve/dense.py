"""The ``dense`` strategy: all-MiniLM-L6-v2 sentence vectors and an HNSW index.

Each entity is embedded once as one text (``entity_text``); a query is embedded per request
and its nearest entities by cosine are the candidates. Dense retrieval finds paraphrases and
topics that share no word with the query ("sad rainy day songs" -> "Tears in the Rain"), which
BM25 cannot.

Search: below ``exact_below`` entities, an exact dot product over all vectors (under a
millisecond, recall 1); from there on an HNSW graph (Malkov & Yashunin 2018, hnswlib), whose
``M``, ``ef_construction`` and ``ef_search`` were chosen by recall@10 against exact search and
latency (``benchmarks/dense_latency.py --real``: on MiniLM vectors of 20k demo entities, M=16
and ef=128 give recall@10 0.989 at 0.24 ms for a top-100). Inner product on unit vectors is
the cosine. hnswlib rather than usearch: the same recall, half usearch's single-query latency
from Python (0.23 vs 0.48 ms), and usearch 2.26 imported before onnxruntime 1.32 crashes the
process.

The query is embedded as its normalised tokens (``query_form = "text"``): on SciFact that
gives nDCG@10 0.652 against 0.645 for the raw string (MTEB's figure for this model).

The vectors, their labels and the search live in ``retrieve._vectors.VectorIndex``; this
module turns entities and queries into text, text into vectors, and saves the whole.

On disk (one folder): ``manifest.json`` plus the vector index's files (``ids.json``,
``alive.npy``, ``embeddings.npy`` and maybe ``index.hnsw``). The manifest records file sizes,
not checksums: the vectors of a large catalog are memory-mapped on load, and hashing them
would read every byte at each start.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ltrr.config import Config, section_params
from ltrr.errors import ConfigError, StorageError
from ltrr.retrieve._index import batches
from ltrr.retrieve._vectors import VectorIndex
from ltrr.retrieve.base import Candidate
from ltrr.retrieve.encoder import (
    QUERY_PRECISIONS,
    Encoder,
    Vector,
    packaged_model_dir,
    weights_checksum,
)
from ltrr.storage.folder import new_manifest, read_manifest, staged, stale_params, write_manifest
from ltrr.types import Context, Entity, EntityId
from ltrr.understand.base import UnderstoodQuery

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
SECTION = "retrieve.dense"
QUERY_FORMS = ("raw", "text", "corrected")
#: Entities embedded per encoder call while building: bounds memory on 1M-entity catalogs.
#: Query vectors a dense retriever keeps (about 1.5 KB each).
QUERY_CACHE = 4096
_BUILD_CHUNK = 8192
#: Parameters that change the stored vectors: a saved index built with others is stale.
_EMBEDDING_PARAMS = ("max_seq_length", "untyped_types", "text_fields", "min_attribute_weight")


@dataclass(frozen=True, slots=True)
class DenseParams:
    """The ``[retrieve.dense]`` section; see ``defaults.toml`` for why each value."""

    model_cache_dir: str = ""
    max_seq_length: int = 256
    batch_size: int = 64
    n_threads: int = 1
    n_threads_build: int = 0
    query_form: str = "text"
    query_precision: str = "int8"
    untyped_types: tuple[str, ...] = ("document",)
    text_fields: tuple[str, ...] = ("text", "description")
    min_attribute_weight: float = 0.5
    exact_below: int = 10_000
    hnsw_m: int = 16
    hnsw_ef_construction: int = 200
    hnsw_ef_search: int = 128
    seed: int = 0

    def __post_init__(self) -> None:
        if self.query_form not in QUERY_FORMS:
            raise ConfigError(
                f"{SECTION}.query_form must be one of {', '.join(QUERY_FORMS)}, "
                f"got {self.query_form!r}"
            )
        if self.query_precision not in QUERY_PRECISIONS:
            raise ConfigError(
                f"{SECTION}.query_precision must be one of {', '.join(QUERY_PRECISIONS)}, "
                f"got {self.query_precision!r}"
            )
        if not 1 <= self.max_seq_length <= 512:
            raise ConfigError(
                f"{SECTION}.max_seq_length must be in [1, 512], got {self.max_seq_length}"
            )
        if self.hnsw_m < 2:
            raise ConfigError(f"{SECTION}.hnsw_m must be >= 2, got {self.hnsw_m}")


def dense_params(config: Config) -> DenseParams:
    """``[retrieve.dense]`` of ``config``, or the defaults while the section is absent."""
    return section_params(config, SECTION, DenseParams)


def entity_text(entity: Entity, params: DenseParams) -> str:
    """The one text embedded for ``entity``.

    A plain document (type in ``untyped_types``, free text only) reads ``title text``, the
    form MTEB and BEIR embed. Other entities name their type and their short fields, so that
    "album by Anika Wright" lands near ``album: Hidden Love. artist: Anika Wright``, then list
    their attribute values (weight >= ``min_attribute_weight``, heaviest first) unlabelled:
    "pop, sad" carries the meaning of "genre: pop. mood: sad" in half the tokens, and tokens
    are what a build pays for. Free-text fields (``text_fields``) come last, as written.

    >>> e = Entity(EntityId("t1"), "track", "Chase Me", {"artist": "Anika Wright"},
    ...            {"genre": {"classical": 1.0}, "mood": {"calm": 1.0, "dark": 0.2}})
    >>> entity_text(e, DenseParams())
    'track: Chase Me. artist: Anika Wright. classical, calm'
    """
    typed = entity.type not in params.untyped_types
    parts = [f"{entity.type}: {entity.title}" if typed else entity.title]
    free: list[str] = []
    for name, value in entity.fields.items():
        if name in params.text_fields:
            free.append(value)
        elif value:
            parts.append(f"{name}: {value}")
    values = [
        value
        for weights in entity.attributes.values()
        for value, weight in sorted(weights.items(), key=lambda vw: -vw[1])
        if weight >= params.min_attribute_weight
    ]
    if values:
        parts.append(", ".join(dict.fromkeys(values)))
    if len(parts) == 1 and not typed:
        return " ".join([parts[0], *free]).strip()
    return ". ".join(p for p in [*parts, *free] if p)


def _open_encoder(params: DenseParams) -> Encoder:
    return _shared_encoder(
        params.model_cache_dir,
        params.max_seq_length,
        params.n_threads,
        params.n_threads_build,
        params.batch_size,
        params.query_precision,
    )


@lru_cache(maxsize=4)
def _shared_encoder(
    cache_dir: str,
    max_seq_length: int,
    n_threads: int,
    n_threads_batch: int,
    batch_size: int,
    query_precision: str,
) -> Encoder:
    """One ONNX session per process and settings: a rebuild or reload does not reopen it."""
    return Encoder.open(
        Path(cache_dir).expanduser() if cache_dir else None,
        max_seq_length=max_seq_length,
        n_threads=n_threads,
        n_threads_batch=n_threads_batch,
        batch_size=batch_size,
        query_precision=query_precision,
    )


class DenseRetriever:
    """Nearest entities to the query's sentence vector (``name = "dense"``).

    Build with ``build`` or ``load``; the constructor takes an already opened ``Encoder`` so
    that several indexes (or tests) can share one ONNX session.
    """

    name = "dense"
    #: Lists depend on the understood query and the catalog alone (``retrieve.list_cache``).
    cacheable = True

    def __init__(self, params: DenseParams, encoder: Encoder, *, catalog_version: int = 0) -> None:
        self.params = params
        self.encoder = encoder
        self.catalog_version = catalog_version
        self._vectors = VectorIndex(params)
        #: Query text -> unit vector, most recent last: head queries repeat (Zipf), and the
        #: ranker's dense-similarity feature asks for the vector the search just computed.
        self._query_vectors: OrderedDict[str, Vector] = OrderedDict()

    # -- constructors --------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        entities: Iterable[Entity],
        config: Config,
        *,
        catalog_version: int,
        on_progress: Callable[[int], None] | None = None,
    ) -> DenseRetriever:
        """Embed and index ``entities`` (streamed in chunks); ``on_progress(n_done)``."""
        params = dense_params(config)
        retriever = cls(params, _open_encoder(params), catalog_version=catalog_version)
        n_done = 0
        for chunk in batches(entities, None, _BUILD_CHUNK):
            retriever._add(chunk, on_progress, offset=n_done)
            n_done += len(chunk)
        return retriever

    @classmethod
    def load(cls, directory: Path, config: Config) -> DenseRetriever:
        """Read what ``save(directory)`` wrote; vectors are memory-mapped until changed."""
        params = dense_params(config)
        manifest = _read_manifest(directory, params)
        retriever = cls(params, _open_encoder(params), catalog_version=manifest["catalog_version"])
        has_hnsw = manifest["search"] == "hnsw"
        retriever._vectors = VectorIndex.load(directory, params, has_hnsw=has_hnsw)
        return retriever

    # -- the Retriever protocol ----------------------------------------------------------

    def __len__(self) -> int:
        return self._vectors.n_alive

    @property
    def ann_index(self) -> Any:
        """The ``hnswlib.Index`` (None while searching exactly): for benchmarks' bare calls."""
        return self._vectors.hnsw

    def retrieve(self, query: UnderstoodQuery, context: Context, depth: int) -> list[Candidate]:
        """At most ``depth`` entities by descending cosine to the query's vector."""
        text = self.query_text(query)
        if not text or depth <= 0 or self._vectors.n_alive == 0:
            return []
        labels, scores = self.search(self.query_vector(text), depth)
        ids = self._vectors.ids
        return [
            Candidate(EntityId(ids[label]), score)
            for label, score in zip(labels.tolist(), scores.tolist(), strict=True)
        ]

    def add(self, entities: Sequence[Entity]) -> None:
        """Embed and index ``entities``; an id already indexed gets its new vector."""
        self._add(entities, None, offset=0)

    def remove(self, ids: Sequence[EntityId]) -> None:
        """Forget ``ids`` (their labels stay reserved for when they come back)."""
        self._vectors.remove(ids)

    def save(self, directory: Path) -> None:
        """Write every file into a temporary sibling folder, then swap it into place."""
        with staged(directory) as tmp:
            self._vectors.save(tmp)
            write_manifest(tmp, self._manifest(tmp))

    # -- search --------------------------------------------------------------------------

    def search(self, vector: Vector, depth: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """Labels and cosines of the ``depth`` nearest live entities to a unit ``vector``."""
        return self._vectors.search(vector, depth)

    def similarities(self, query: UnderstoodQuery, ids: Sequence[EntityId]) -> NDArray[np.float32]:
        """Cosine of the query to each of ``ids`` (NaN for unknown or removed ids).

        The ranker's "dense similarity" feature for candidates other strategies found.
        """
        out = np.full(len(ids), np.nan, dtype=np.float32)
        text = self.query_text(query)
        labels, known = self._vectors.live_labels(ids)
        if text and known.any():
            out[known] = self._vectors.vectors[labels[known]] @ self.query_vector(text)
        return out

    def query_vector(self, text: str) -> Vector:
        """The encoder's vector of ``text``, from a bounded cache of recent queries."""
        cache = self._query_vectors
        vector = cache.get(text)
        if vector is None:
            vector = cache[text] = self.encoder.encode_query(text)
            if len(cache) > QUERY_CACHE:
                cache.popitem(last=False)
        else:
            cache.move_to_end(text)
        return vector

    def is_cached(self, text: str) -> bool:
        """Whether ``query_vector(text)`` would be answered without the encoder."""
        return text in self._query_vectors

    def query_text(self, query: UnderstoodQuery) -> str:
        """The text embedded for ``query``: empty when the query has no word at all."""
        if query.is_empty:
            return ""
        if self.params.query_form == "text":
            return query.text
        if self.params.query_form == "corrected":
            return query.corrected
        return " ".join(query.raw[: self.encoder.max_chars].split())

    # -- indexing ------------------------------------------------------------------------

    def _add(
        self, entities: Sequence[Entity], on_progress: Callable[[int], None] | None, offset: int
    ) -> None:
        latest = {e.id: e for e in entities}  # the last record of a repeated id wins
        if not latest:
            return
        texts = [entity_text(e, self.params) for e in latest.values()]
        tick = (lambda n: on_progress(offset + n)) if on_progress is not None else None
        self.add_vectors(list(latest), self.encoder.encode(texts, on_progress=tick))

    def add_vectors(self, ids: Sequence[EntityId], vectors: NDArray[np.float32]) -> None:
        """Index precomputed unit ``vectors`` ``(len(ids), 384)`` under distinct ``ids``.

        ``add`` encodes then calls this; benchmarks and vector imports call it directly.
        """
        self._vectors.add(ids, vectors)

    def _manifest(self, staging: Path) -> dict[str, object]:
        files = sorted(p.name for p in staging.iterdir())
        return new_manifest(
            None,
            FORMAT_VERSION,
            strategy=self.name,
            catalog_version=self.catalog_version,
            params=asdict(self.params),
            model_checksum=weights_checksum(packaged_model_dir()),
            search="exact" if self._vectors.hnsw is None else "hnsw",
            n_labels=len(self._vectors.ids),
            n_alive=self._vectors.n_alive,
            file_bytes={name: (staging / name).stat().st_size for name in files},
        )


def _read_manifest(directory: Path, params: DenseParams) -> dict[str, Any]:
    remedy = f"delete {directory} to rebuild"
    manifest = read_manifest(directory, None, FORMAT_VERSION, holds="dense index", remedy=remedy)
    stale = stale_params(manifest["params"], params, _EMBEDDING_PARAMS)
    if manifest["model_checksum"] != weights_checksum(packaged_model_dir()):
        stale.append("model weights")
    if stale:
        raise StorageError(
            f"dense index {directory} was built with other {', '.join(stale)}; delete it to rebuild"
        )
    for name, size in manifest["file_bytes"].items():
        if not (directory / name).is_file() or (directory / name).stat().st_size != size:
            raise StorageError(f"dense index file {directory / name} is missing or truncated")
    return manifest

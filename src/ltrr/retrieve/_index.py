"""What the in-process retrievers share: their life cycle, parameter checks and scoring helpers.

``fuzzy``, ``structured``, ``memory``, ``popular``, ``related`` and ``explore`` index the same
way: an ``EntityRows`` table (``retrieve._rows``) plus posting lists of their own
(``retrieve._postings``), built from a streamed catalog in batches, caught up with ``add`` and
``remove``, compacted when saved. ``RowIndex`` is that life cycle written once, as a template:
a subclass says what it indexes beside the rows, and ``build``, ``load``, ``save``, ``remove``
and ``len`` come from here, so the six cannot drift apart in how they save or check a folder.

A saved index is a folder of npy and JSON files with a ``manifest.json`` (format, versions,
parameters, catalog version, sha256 of every file; ``storage.folder``), written to a temporary
folder and renamed into place.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Self, TypeVar

import numpy as np
from numpy.typing import NDArray

from ltrr.config import Config, section_params
from ltrr.errors import ConfigError, StorageError
from ltrr.retrieve._postings import Rows
from ltrr.retrieve._rows import EntityRows, remap_rows
from ltrr.retrieve.base import Candidate
from ltrr.storage.folder import (
    new_manifest,
    read_arrays,
    read_manifest,
    staged,
    stale_params,
    write_arrays,
)
from ltrr.types import Entity, EntityId

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

FORMAT_VERSION = 1
#: Entities indexed at once while building: bounds memory on a streamed 1M-entity catalog.
BATCH = 5000
_REMEDY = "rebuild the index"
DAY_S = 86_400.0

P = TypeVar("P", bound="DataclassInstance")
Progress = Callable[[int], None]
Files = tuple[dict[str, NDArray[Any]], dict[str, Any]]


def check_positive(params: object, section: str, names: Iterable[str]) -> None:
    """Raise ``ConfigError`` naming the first of ``names`` that is < 1."""
    for name in names:
        value = getattr(params, name)
        if value < 1:
            raise ConfigError(f"{section}.{name} must be >= 1, got {value}")


def check_params(
    directory: Path, section: str, saved: Mapping[str, Any], params: object, names: Sequence[str]
) -> None:
    """Raise ``StorageError`` if an index-shaping parameter (``names``) of a saved index
    (``saved``, its manifest's ``params``) is not the config's: the files are stale."""
    stale = stale_params(saved, params, names)
    if stale:
        name = stale[0]
        raise StorageError(
            f"{directory}: built with {section}.{name} = {saved.get(name)!r}, the config says "
            f"{getattr(params, name)!r}; {_REMEDY}"
        )


def batches(
    entities: Iterable[Entity], on_progress: Progress | None, size: int = BATCH
) -> Iterator[list[Entity]]:
    """``entities`` in lists of ``size`` (the last one short, maybe empty), with
    ``on_progress(n_done)`` once each list has been indexed: a build holds one list at a time."""
    batch: list[Entity] = []
    n_done = 0
    for entity in entities:
        batch.append(entity)
        if len(batch) == size:
            yield batch
            n_done += len(batch)
            batch = []
            if on_progress is not None:
                on_progress(n_done)
    yield batch
    if on_progress is not None:
        on_progress(n_done + len(batch))


def read_index(
    directory: Path,
    kind: str,
    params: object,
    index_params: Sequence[str],
    version: int = FORMAT_VERSION,
    *,
    section: str | None = None,
) -> tuple[dict[str, Any], Files]:
    """Manifest, arrays and documents of the ``kind`` index (format ``ltrr-<kind>`` at
    ``version``) saved in ``directory``, checked; ``section`` (default ``retrieve.<kind>``)
    names the parameters' config section in the message of a stale index.

    Raises
    ------
    StorageError
        If the folder holds no index of this kind and format version, a checksum fails, or it
        was built with index-shaping parameters (``index_params``) other than ``params``.
    """
    manifest = read_manifest(
        directory, f"ltrr-{kind}", version, holds=f"{kind} index", remedy=_REMEDY
    )
    section = section or f"retrieve.{kind}"
    check_params(directory, section, manifest["params"], params, index_params)
    return manifest, read_arrays(directory, manifest, _REMEDY)


class RowIndex(ABC, Generic[P]):
    """The life cycle of an in-process retriever around its ``EntityRows`` (a template).

    A subclass sets ``name`` (its strategy, also its folder format ``ltrr-<name>`` and config
    section ``retrieve.<name>``), ``params_type`` and ``index_params``, and fills in the hooks:
    ``empty``, ``_build``, ``_from_files``, ``_files`` and ``add`` (and ``_retired`` if it keeps
    counts over the live rows). Parameters are fixed at construction; ``catalog_version`` is the
    catalog version the index reflects. An index of another stage built the same way (the
    ranker's ``rank.text_index``) overrides ``section``.
    """

    name: str
    #: The frozen dataclass of the parameters, read from config section ``section()``.
    params_type: ClassVar[type[Any]]
    #: Parameters that shape the index files; the others apply at query time only.
    index_params: ClassVar[tuple[str, ...]] = ()

    def __init__(self, params: P, catalog_version: int, rows: EntityRows) -> None:
        self.params = params
        self.catalog_version = catalog_version
        self._rows = rows

    # -- hooks --------------------------------------------------------------------------

    @classmethod
    @abstractmethod
    def empty(cls, params: P, catalog_version: int) -> Self:
        """An index of no entity."""

    @abstractmethod
    def _build(self, batches: Iterable[Sequence[Entity]]) -> None:
        """Index the ``batches`` of a build into this empty index."""

    @classmethod
    @abstractmethod
    def _from_files(cls, params: P, catalog_version: int, rows: EntityRows, files: Files) -> Self:
        """The index ``save`` wrote, from its arrays and documents (``_files`` wrote those)."""

    @abstractmethod
    def _files(self, keep: Rows, remap: Rows) -> Files:
        """Arrays and documents beside the rows', compacted to the rows ``keep``
        (``remap``: old row -> new row, -1 where retired)."""

    @abstractmethod
    def add(self, entities: Sequence[Entity]) -> None:
        """Index ``entities``, replacing any already indexed under the same ids."""

    def _retired(self, rows: Sequence[int]) -> None:
        """Hook: ``rows`` were just retired (removed, or replaced by an update); their data is
        still in place. Nothing to do unless the index keeps counts over the live rows."""

    # -- the life cycle -----------------------------------------------------------------

    @classmethod
    def section(cls) -> str:
        """The config section of the parameters: ``retrieve.<name>``."""
        return f"retrieve.{cls.name}"

    @classmethod
    def params_of(cls, config: Config) -> P:
        """``[<section>]`` of ``config``, or the defaults while that section is absent."""
        params: P = section_params(config, cls.section(), cls.params_type)
        return params

    @classmethod
    def build(
        cls,
        entities: Iterable[Entity],
        config: Config,
        *,
        catalog_version: int,
        on_progress: Progress | None = None,
    ) -> Self:
        """Index ``entities`` from scratch, ``BATCH`` at a time (``on_progress(n_done)``)."""
        index = cls.empty(cls.params_of(config), catalog_version)
        index._build(batches(entities, on_progress))
        return index

    @classmethod
    def load(cls, directory: Path, config: Config) -> Self:
        """Read what ``save(directory)`` wrote; query-time parameters come from ``config``.

        A ``StorageError`` (see ``read_index``) means the folder must be rebuilt.
        """
        params = cls.params_of(config)
        manifest, files = read_index(
            directory, cls.name, params, cls.index_params, section=cls.section()
        )
        rows = EntityRows.from_files(*files)
        return cls._from_files(params, int(manifest["catalog_version"]), rows, files)

    def save(self, directory: Path) -> None:
        """Write the compacted index (retired rows dropped, deltas folded in) atomically."""
        keep = self._rows.keep()
        arrays, docs = self._rows.compacted(keep).to_files()
        more_arrays, more_docs = self._files(keep, remap_rows(keep, self._rows.n))
        manifest = new_manifest(
            f"ltrr-{self.name}",
            FORMAT_VERSION,
            params=asdict(self.params),
            catalog_version=self.catalog_version,
        )
        with staged(directory) as tmp:
            write_arrays(tmp, manifest, {**arrays, **more_arrays}, {**docs, **more_docs})

    def remove(self, ids: Sequence[EntityId]) -> None:
        """Retire the rows of ``ids``; unknown ids are ignored."""
        self._retired(self._rows.retire(ids))

    def __len__(self) -> int:
        return len(self._rows)


# -- scoring ------------------------------------------------------------------------------


def bm25_idf(df: NDArray[Any], n_docs: int) -> NDArray[np.float32]:
    """Robertson-Sparck Jones idf as in BM25 (Robertson & Zaragoza 2009), kept >= 0."""
    df = np.asarray(df, np.float64)
    return np.log1p((n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)


def top_rows(rows: Rows, scores: NDArray[Any], depth: int) -> tuple[Rows, NDArray[Any]]:
    """The ``depth`` best (row, score) pairs, best first; ties go to the lower row."""
    if len(rows) > depth:
        part = np.argpartition(-scores, depth - 1)[:depth]
        rows, scores = rows[part], scores[part]
    order = np.lexsort((rows, -scores))
    return rows[order], scores[order]


def best_per_row(
    rows: NDArray[np.int64], scores: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Unique rows, ascending, each with its highest score."""
    if not len(rows):
        return rows, scores
    order = np.lexsort((-scores, rows))
    rows, scores = rows[order], scores[order]
    first = np.concatenate([[True], rows[1:] != rows[:-1]])
    return rows[first], scores[first]


def candidates(ids: Sequence[EntityId | None], rows: Rows, scores: NDArray[Any]) -> list[Candidate]:
    """``Candidate`` objects of live ``rows`` (already ordered)."""
    return [Candidate(ids[r], s) for r, s in zip(rows.tolist(), scores.tolist(), strict=True)]


def decay(elapsed_s: float, half_life_days: float) -> float:
    """The weight left of a count ``elapsed_s`` old: ``0.5 ** (elapsed / half-life)``, 1 when
    ``half_life_days <= 0`` (no decay). Event times, never the wall clock, give ``elapsed_s``."""
    half_life = half_life_days * DAY_S
    return 1.0 if half_life <= 0 else 0.5 ** (max(elapsed_s, 0.0) / half_life)

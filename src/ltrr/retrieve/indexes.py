"""The indexes of one data directory, kept in step with its catalog.

Every index (each retriever, the query understander's dictionaries and the ranker's text
index) lives in ``DATA/indexes/<name>/`` and records the catalog version it reflects. Opening
the set loads each index and, when the catalog has moved on, replays
``CatalogStore.changes_since`` into it (deletions first, then upserts) instead of rebuilding;
a missing index is built from the catalog. Only a writer saves indexes back, so readers never
race a writer on the files.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ltrr.config import Config
from ltrr.errors import StorageError
from ltrr.retrieve import retriever_class
from ltrr.retrieve.base import Candidate, Retriever
from ltrr.retrieve.list_cache import ListCache, ListCacheParams, cacheable, list_key
from ltrr.storage.catalog import CatalogStore
from ltrr.storage.datadir import DataDir
from ltrr.types import Context, Entity, EntityId
from ltrr.understand.base import UnderstoodQuery

if TYPE_CHECKING:
    from ltrr.rank.text_index import TextIndex

logger = logging.getLogger(__name__)

INDEX_DIR = "indexes"
UNDERSTAND = "understand"
TEXT = "text"
#: Indexes of the stages around retrieve (understand before it, rank after it), opened beside
#: the retrievers but imported by path when first used, like ``RETRIEVERS``: retrieve's import
#: graph stays free of the later stage it serves (rank imports retrieve's index machinery).
_COMPONENTS = {
    UNDERSTAND: "ltrr.understand.understander:QueryUnderstander",
    TEXT: "ltrr.rank.text_index:TextIndex",
}

#: (name, entities done) -> None; called while an index is built or caught up.
Progress = Callable[[str, int], None]


def component_class(name: str) -> Any:
    """The class of index ``name``: a registered retriever, the query understander or the
    ranker's text index."""
    if name in _COMPONENTS:
        module, _, attr = _COMPONENTS[name].partition(":")
        return getattr(importlib.import_module(module), attr)
    return retriever_class(name)


@dataclass(slots=True)
class IndexStatus:
    """How an index was opened: ``loaded``, ``caught_up`` (n changes replayed) or ``built``."""

    name: str
    how: str
    seconds: float
    n_changes: int = 0


class ProbeSpec(Protocol):
    """What to probe: a strategy and a depth (``select.base.Probe``, known here by shape only,
    since retrievers know nothing of plans)."""

    @property
    def strategy(self) -> str: ...

    @property
    def depth(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Probed:
    """A strategy's list retrieved before planning (``select.base.Probe``), with its time."""

    strategy: str
    depth: int
    ranked: list[Candidate]
    ms: float


@dataclass(slots=True)
class IndexSet:
    """The understander, the retrievers and the ranker's text index (``text``: per-candidate
    features) of one catalog, all at ``catalog_version``."""

    understander: Any
    retrievers: dict[str, Retriever]
    catalog_version: int
    status: list[IndexStatus] = field(default_factory=list)
    text: TextIndex | None = None
    #: Lists of repeated queries from the cacheable retrievers (``retrieve.list_cache``).
    cache: ListCache | None = None

    @classmethod
    def open(
        cls,
        data_dir: DataDir,
        strategies: Sequence[str],
        *,
        save: bool | None = None,
        on_progress: Progress | None = None,
    ) -> IndexSet:
        """Load, catch up or build every index; ``save`` defaults to "if a writer opened it"."""
        save = data_dir.writer if save is None else save
        store, progress = data_dir.catalog, on_progress
        status: list[IndexStatus] = []
        components = {}
        for name in (UNDERSTAND, TEXT, *strategies):
            components[name], opened = open_index(name, data_dir, save=save, on_progress=progress)
            status.append(opened)
        understander, text = components.pop(UNDERSTAND), components.pop(TEXT)
        size = data_dir.config.params("search.cache", ListCacheParams).candidates
        cache = ListCache(size) if size else None
        return cls(understander, components, store.version(), status, text=text, cache=cache)

    def probe(self, query: UnderstoodQuery, context: Context, probe: ProbeSpec) -> Probed | None:
        """``probe.strategy`` run to ``probe.depth`` before planning (probe-then-decide), timed;
        None when that strategy is not open."""
        if probe.strategy not in self.retrievers:
            return None
        ranked, ms = self._run(probe.strategy, query, context, probe.depth)
        return Probed(probe.strategy, probe.depth, ranked, ms)

    def retrieve(
        self,
        query: UnderstoodQuery,
        context: Context,
        depths: Mapping[str, int],
        probed: Probed | None = None,
    ) -> tuple[dict[str, list[Candidate]], dict[str, float]]:
        """Each strategy of ``depths`` (depth > 0) run to its depth, and what it took, ms: the
        plan's cost, which the impression logs and the policy prices (``select.costs``).

        ``probed``: a list retrieved before planning; reused when the plan goes no deeper,
        and its time counts in its strategy's either way."""
        rankings: dict[str, list[Candidate]] = {}
        latency: dict[str, float] = {}
        for name, depth in depths.items():
            if depth <= 0:
                continue
            spent = 0.0
            if probed is not None and probed.strategy == name:
                spent = probed.ms
                if depth <= probed.depth:
                    rankings[name], latency[name] = probed.ranked[:depth], spent
                    continue
            rankings[name], ms = self._run(name, query, context, depth)
            latency[name] = spent + ms
        return rankings, latency

    def _run(
        self, name: str, query: UnderstoodQuery, context: Context, depth: int
    ) -> tuple[list[Candidate], float]:
        """Strategy ``name``'s list at ``depth`` and the ms computing it took (a cached list's
        as measured when it was computed: ``retrieve.list_cache``)."""
        retriever = self.retrievers[name]
        cache = self.cache if cacheable(retriever) else None
        key = list_key(name, depth, query) if cache is not None else ()
        if cache is not None and (hit := cache.get(key)) is not None:
            return hit
        started = time.perf_counter()
        ranked = retriever.retrieve(query, context, depth)
        ms = (time.perf_counter() - started) * 1000
        if cache is not None:
            cache.put(key, ranked, ms)
        return ranked, ms

    def catch_up(self, store: CatalogStore) -> int:
        """Replay the catalog's changes since ``catalog_version`` into every index (in memory);
        the number of changes, 0 when nothing moved."""
        version = store.version()
        behind = [i for i in self._components().values() if i.catalog_version != version]
        if self.cache is not None and (behind or version != self.catalog_version):
            self.cache.clear()  # before any index moves: no list of the old catalog survives
        n_changes = 0
        for index in behind:  # each on its own: one may be older
            n_changes = max(n_changes, _catch_up(index, store, version))
        self.catalog_version = version
        return n_changes

    def _components(self) -> dict[str, Any]:
        """Every index by folder name (``text`` when it was opened)."""
        text = {} if self.text is None else {TEXT: self.text}
        return {UNDERSTAND: self.understander, **text, **self.retrievers}

    def save(self, root: Path) -> None:
        """Write every index into ``root/indexes/<name>`` (a writer's job)."""
        for name, index in self._components().items():
            directory = root / INDEX_DIR / name
            directory.parent.mkdir(parents=True, exist_ok=True)
            index.save(directory)


def _entities(store: CatalogStore, ids: Sequence[EntityId], batch: int = 2000) -> Iterator[Entity]:
    """The entities of ``ids`` in their order, one ``get_many`` per batch (one round trip on
    PostgreSQL, where a ``get`` per id was one each); ids deleted since are left out."""
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        found = store.get_many(chunk)
        yield from (found[entity_id] for entity_id in chunk if entity_id in found)


def _load(kind: Any, directory: Path, config: Config) -> Any | None:
    """The saved index, or ``None`` when there is none or it was built with other parameters."""
    if not (directory / "manifest.json").is_file():
        return None
    try:
        return kind.load(directory, config)
    except StorageError as exc:
        logger.warning("rebuilding %s: %s", directory.name, exc)
        return None


def _catch_up(index: Any, store: CatalogStore, version: int) -> int:
    """Replay the catalog's changes since the index's version (deletions first); their count."""
    changes = store.changes_since(index.catalog_version)
    if changes.deleted or changes.upserted:
        index.remove(list(changes.deleted) + list(changes.upserted))
    batch: list[Entity] = []
    for entity in _entities(store, changes.upserted):
        batch.append(entity)
        if len(batch) >= 2000:
            index.add(batch)
            batch = []
    if batch:
        index.add(batch)
    index.catalog_version = version
    return len(changes.deleted) + len(changes.upserted)


def open_index(
    name: str, data_dir: DataDir, *, save: bool, on_progress: Progress | None = None
) -> tuple[Any, IndexStatus]:
    """Index ``name`` of ``data_dir`` at its catalog's version: loaded, caught up or built.

    One path for the engine (through ``IndexSet``) and the evaluation workspace, so an index
    that ``ltrr evaluate`` saved is exactly what a search would load. ``save`` writes it back
    when it changed (only a writer may).
    """
    started = time.perf_counter()
    store = data_dir.catalog
    directory = data_dir.path / INDEX_DIR / name
    kind = component_class(name)
    version = store.version()
    tick = (lambda n: on_progress(name, n)) if on_progress is not None else None
    how, n_changes = "loaded", 0
    index = _load(kind, directory, data_dir.config)
    if index is not None and index.catalog_version != version:
        n_changes = _catch_up(index, store, version)
        how = "caught_up"
    if index is None:
        index = kind.build(
            store.iter_entities(), data_dir.config, catalog_version=version, on_progress=tick
        )
        how = "built"
    if save and how != "loaded":
        directory.parent.mkdir(parents=True, exist_ok=True)
        index.save(directory)
    seconds = time.perf_counter() - started
    logger.info("index %s %s in %.2f s (%d changes)", name, how, seconds, n_changes)
    return index, IndexStatus(name, how, seconds, n_changes)

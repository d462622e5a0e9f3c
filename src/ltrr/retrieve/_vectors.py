"""The vector index behind ``dense``: labels, unit vectors, exact search or an HNSW graph.

Entity ``ids[label]`` has vector ``vectors[label]`` and HNSW label ``label``. ``remove`` marks
a label dead; adding the same id again reuses its label, so catching up with the catalog
(remove changed ids, then add them) never grows the arrays. Below ``exact_below`` entities the
search is an exact dot product over all vectors (under a millisecond, recall 1); from there on
an HNSW graph (Malkov & Yashunin 2018, hnswlib). Kept apart from the retriever, which turns
entities and queries into text and text into vectors: this part only stores and searches
vectors, and benchmarks drive it with precomputed ones.

On disk: ``ids.json`` (label -> id), ``alive.npy`` (bool per label), ``embeddings.npy``
(float32, ``(n_labels, 384)``, memory-mapped on load until changed) and, when the HNSW graph
exists, ``index.hnsw`` (hnswlib's own format).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
from numpy.typing import NDArray

from ltrr.errors import LtrrError
from ltrr.retrieve._onnx import require_module
from ltrr.retrieve.encoder import DIM, Vector
from ltrr.types import EntityId

if TYPE_CHECKING:
    from ltrr.retrieve.dense import DenseParams

HNSW_FILE = "index.hnsw"


class VectorIndex:
    """Unit vectors by label with their entity ids; nearest live labels by inner product."""

    def __init__(self, params: DenseParams) -> None:
        self.params = params
        self.ids: list[str] = []
        self.id_to_label: dict[str, int] = {}
        self.vectors: NDArray[np.float32] = np.empty((0, DIM), dtype=np.float32)
        self.alive: NDArray[np.bool_] = np.empty(0, dtype=bool)
        self.n_alive = 0
        self.hnsw: Any = None

    # -- files ---------------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        """Write the arrays, ids and graph (if any) into ``folder``."""
        n = len(self.ids)
        np.save(folder / "embeddings.npy", np.ascontiguousarray(self.vectors[:n]))
        np.save(folder / "alive.npy", self.alive[:n])
        (folder / "ids.json").write_bytes(orjson.dumps(self.ids))
        if self.hnsw is not None:
            self.hnsw.save_index(str(folder / HNSW_FILE))

    @classmethod
    def load(cls, folder: Path, params: DenseParams, *, has_hnsw: bool) -> VectorIndex:
        """Read what ``save`` wrote; vectors stay memory-mapped until changed."""
        index = cls(params)
        index.ids = orjson.loads((folder / "ids.json").read_bytes())
        index.id_to_label = {eid: label for label, eid in enumerate(index.ids)}
        index.vectors = np.load(folder / "embeddings.npy", mmap_mode="r")
        index.alive = np.load(folder / "alive.npy")
        index.n_alive = int(index.alive.sum())
        if has_hnsw:
            index.hnsw = _load_hnsw(folder / HNSW_FILE, len(index.ids))
        elif index.ids and len(index.ids) >= params.exact_below:  # threshold lowered
            index.hnsw = index._build_hnsw()
        return index

    # -- search --------------------------------------------------------------------------

    def search(self, vector: Vector, depth: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """Labels and cosines of the ``depth`` nearest live entities to a unit ``vector``."""
        k = min(depth, self.n_alive)
        if k <= 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        if self.hnsw is None:
            return self._exact(vector, k)
        self.hnsw.set_ef(max(self.params.hnsw_ef_search, k))  # a field store: cheap
        try:
            labels, distances = self.hnsw.knn_query(vector, k=k, num_threads=1)
        except RuntimeError:  # fewer than k reachable (many deletions): fall back to exact
            return self._exact(vector, k)
        return labels[0].astype(np.int64), (1.0 - distances[0]).astype(np.float32)

    def live_labels(self, ids: Sequence[EntityId]) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
        """The label of each of ``ids`` (-1 if unknown) and whether it is live."""
        labels = np.array([self.id_to_label.get(i, -1) for i in ids], dtype=np.int64)
        known = labels >= 0
        known[known] = self.alive[labels[known]]
        return labels, known

    def _exact(self, vector: Vector, k: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        n = len(self.ids)
        scores = self.vectors[:n] @ vector
        scores[~self.alive[:n]] = -np.inf
        top = np.argpartition(-scores, k - 1)[:k] if k < n else np.arange(n)
        top = top[np.lexsort((top, -scores[top]))][:k]
        return top.astype(np.int64), scores[top].astype(np.float32)

    # -- changes -------------------------------------------------------------------------

    def add(self, ids: Sequence[EntityId], vectors: NDArray[np.float32]) -> None:
        """Index unit ``vectors`` ``(len(ids), 384)`` under distinct ``ids``."""
        if vectors.shape != (len(ids), DIM):
            raise LtrrError(f"vectors must have shape ({len(ids)}, {DIM}), got {vectors.shape}")
        if len(set(ids)) != len(ids):
            raise LtrrError("ids given to add_vectors must be distinct")
        labels = np.fromiter((self._label_for(i) for i in ids), np.int64, count=len(ids))
        self._reserve(len(self.ids))
        self.vectors[labels] = vectors
        self.n_alive += int(len(labels) - self.alive[labels].sum())
        self.alive[labels] = True
        if self.hnsw is not None:
            _reserve_hnsw(self.hnsw, len(self.ids))
            self.hnsw.add_items(vectors, labels, num_threads=self._build_threads)
        elif self.ids and len(self.ids) >= self.params.exact_below:
            self.hnsw = self._build_hnsw()

    def remove(self, ids: Sequence[EntityId]) -> None:
        """Mark ``ids`` dead (their labels stay reserved for when they come back)."""
        labels = [self.id_to_label[i] for i in ids if i in self.id_to_label]
        labels = [label for label in dict.fromkeys(labels) if self.alive[label]]
        if not labels:
            return
        self.alive[labels] = False
        self.n_alive -= len(labels)
        if self.hnsw is not None:
            for label in labels:
                self.hnsw.mark_deleted(label)

    def _label_for(self, entity_id: str) -> int:
        label = self.id_to_label.get(entity_id)
        if label is None:
            label = len(self.ids)
            self.ids.append(entity_id)
            self.id_to_label[entity_id] = label
        return label

    def _reserve(self, n: int) -> None:
        """Room for ``n`` labels in writable arrays (copies memory-mapped vectors once)."""
        capacity = len(self.vectors)
        if n <= capacity and self.vectors.flags.writeable:
            return
        if n > capacity:
            capacity = max(n, 2 * capacity, 1024)
        vectors = np.zeros((capacity, DIM), dtype=np.float32)
        alive = np.zeros(capacity, dtype=bool)
        vectors[: len(self.vectors)] = self.vectors
        alive[: len(self.alive)] = self.alive
        self.vectors, self.alive = vectors, alive

    def _build_hnsw(self) -> Any:
        hnswlib = _hnswlib()
        n = len(self.ids)
        index = hnswlib.Index(space="ip", dim=DIM)
        index.init_index(
            max_elements=max(n, 1024),
            M=self.params.hnsw_m,
            ef_construction=self.params.hnsw_ef_construction,
            random_seed=self.params.seed,
        )
        index.add_items(self.vectors[:n], np.arange(n), num_threads=self._build_threads)
        for label in np.flatnonzero(~self.alive[:n]).tolist():
            index.mark_deleted(label)
        return index

    @property
    def _build_threads(self) -> int:
        return self.params.n_threads_build or -1


def _hnswlib() -> Any:
    return require_module("hnswlib", "pip install hnswlib")


def _reserve_hnsw(index: Any, n: int) -> None:
    if n > index.get_max_elements():
        index.resize_index(max(n, 2 * index.get_max_elements()))


def _load_hnsw(path: Path, n_labels: int) -> Any:
    index = _hnswlib().Index(space="ip", dim=DIM)
    index.load_index(str(path), max_elements=max(n_labels, 1024))
    return index

"""The evaluation workspace: a benchmark's corpus as a catalog of its own, with its indexes.

``ltrr evaluate``, ``ltrr simulate`` and the benchmarks never touch the user's ``--data``
catalog. The corpus is ingested into ``WORKDIR/<fingerprint>/data``, a data directory like any
other, and its indexes are opened through ``retrieve.indexes.open_index``, the very path a
search takes, so what is evaluated is what would be served. The fingerprint hashes the corpus
bytes, the config sections that shape indexes (``catalog``, ``understand``, ``retrieve``) and
the ltrr version: a changed corpus or parameter gets a fresh folder, an unchanged one reuses the
catalog and every saved index. Fusion weights and depths are not in it, since they change no
index.

``workspace.json`` records that the corpus was loaded and how long each index took to build,
so a report on a reused workspace still says what a build costs.

A reader (``writer=False``) opens a workspace a writer prepared, without its lock, and only
loads saved indexes: the worker processes of a sweep (``simulate.sweep``) read it by path
while the driver holds it.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ltrr.catalog.ingest import ingest
from ltrr.catalog.jsonl import load_jsonl
from ltrr.config import Config, settings_blob
from ltrr.errors import StorageError
from ltrr.retrieve.indexes import INDEX_DIR, component_class, open_index
from ltrr.storage.datadir import DataDir

CACHE_ENV = "LTRR_CACHE"
#: Config sections whose values change what an index holds.
FINGERPRINT_SECTIONS = ("catalog", "understand", "retrieve")
MARKER = "workspace.json"

#: (stage, done, total or None) -> None; stages are "ingest", "build <name>", "query <name>".
Progress = Callable[[str, int, int | None], None]


def default_work_dir() -> Path:
    """``$LTRR_CACHE/eval``, else ``$XDG_CACHE_HOME/ltrr/eval``, else ``~/.cache/ltrr/eval``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]) / "eval"
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "ltrr" / "eval"


def fingerprint(corpus_path: Path, config: Config) -> str:
    """sha256 of the corpus bytes, the index-shaping config sections and the ltrr version."""
    digest = hashlib.sha256()
    with corpus_path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    digest.update(settings_blob(config, FINGERPRINT_SECTIONS))
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class Opened:
    """An index of the workspace: the component, its build seconds, whether it was reused."""

    component: Any
    build_s: float
    reused: bool


@dataclass(slots=True)
class Workspace:
    """One corpus's data directory (a writer) and the record of what was built in it."""

    path: Path
    data: DataDir
    ingest_s: float | None
    tick: Progress

    @classmethod
    @contextmanager
    def open(
        cls,
        corpus_path: Path,
        config: Config,
        work_dir: Path | None = None,
        on_progress: Progress | None = None,
        *,
        writer: bool = True,
    ) -> Iterator[Workspace]:
        """The workspace of ``corpus_path`` under ``work_dir``, the corpus loaded if new; a
        reader (``writer=False``) needs it loaded already."""
        root = (work_dir if work_dir is not None else default_work_dir()).expanduser()
        path = root / fingerprint(corpus_path, config)[:16]
        tick: Progress = on_progress if on_progress is not None else (lambda *_: None)
        if not writer and not (path / MARKER).is_file():
            raise StorageError(f"no prepared workspace of {corpus_path} at {path}")
        with DataDir(path / "data", config, writer=writer) as data:
            workspace = cls(path, data, None, tick)
            workspace.ingest_s = workspace._ingest(corpus_path) if writer else None
            yield workspace

    @property
    def writer(self) -> bool:
        return self.data.writer

    def index(self, name: str) -> Opened:
        """Index ``name`` (a strategy or ``understand``), loaded when saved, else built (a
        reader only loads)."""
        builds = self._builds()
        if not self.writer:
            return self._load(name, builds["builds"])
        total = len(self.data.catalog)
        component, status = open_index(
            name,
            self.data,
            save=True,
            on_progress=lambda _, n: self.tick(f"build {name}", n, total),
        )
        if status.how == "loaded" and name in builds["builds"]:
            return Opened(component, float(builds["builds"][name]), True)
        builds["builds"][name] = status.seconds
        self._write(builds)
        return Opened(component, status.seconds, False)

    def _load(self, name: str, builds: dict[str, float]) -> Opened:
        if name not in builds or not (self.data.path / INDEX_DIR / name).is_dir():
            raise StorageError(f"index {name!r} of the workspace {self.path} was never built")
        component, status = open_index(name, self.data, save=False)
        if status.how != "loaded":  # the catalog changed since: only a writer may build
            raise StorageError(f"index {name!r} of the workspace {self.path} is out of date")
        return Opened(component, float(builds[name]), True)

    def fresh(self, name: str) -> Any:
        """A new instance of strategy ``name`` read from its saved index (built before)."""
        return component_class(name).load(self.data.path / INDEX_DIR / name, self.data.config)

    def _ingest(self, corpus_path: Path) -> float | None:
        """Load the corpus unless this workspace already holds it; the seconds taken, or None."""
        if (self.path / MARKER).is_file():
            return None
        started = time.perf_counter()
        config = self.data.config
        report = ingest(
            self.data.catalog,
            load_jsonl(corpus_path, config.catalog, beir=True),
            strict=True,
            replace=True,
            batch_size=config.ingest.batch_size,
            on_progress=lambda n: self.tick("ingest", n, None),
            source=str(corpus_path),
        )
        seconds = time.perf_counter() - started
        self._write({"corpus": str(corpus_path), "ingest": report.to_dict(), "builds": {}})
        return seconds

    def _builds(self) -> dict[str, Any]:
        content: dict[str, Any] = orjson.loads((self.path / MARKER).read_bytes())
        return content

    def _write(self, content: dict[str, Any]) -> None:
        (self.path / MARKER).write_bytes(orjson.dumps(content, option=orjson.OPT_INDENT_2))

"""Loading parsed records into the stored catalog, strictly or leniently, in one transaction.

Strict mode stops at the first bad record and rolls everything back; lenient mode skips bad
records, counting and keeping every error so none is silently dropped. Either way the catalog
changes atomically: a reader sees all of an ingest or none of it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from ltrr.catalog.model import entity_from_record
from ltrr.catalog.sources import ChunkedSource, Parsed, ValidRows
from ltrr.config import CatalogConfig
from ltrr.errors import CatalogError
from ltrr.storage.catalog import CatalogChange, CatalogStore, EntityRow, entity_row

#: Lines a ``ChunkedSource`` validates at a time. Small enough that a chunk's parsed records
#: stay in the CPU cache across the dozen passes of ``columnar`` (5,000 lines at a time ran
#: 1.6x slower), large enough that the per-chunk calls cost nothing; 5,000 is a multiple, so
#: the default batches are whole chunks.
CHUNK_LINES = 125


@dataclass(slots=True)
class IngestReport:
    """What an ingest did; ``errors`` lists every skipped record (lenient mode)."""

    n_records: int = 0
    n_upserted: int = 0
    n_deleted: int = 0
    errors: list[CatalogError] = field(default_factory=list)
    version_before: int = 0
    version_after: int = 0
    replaced: bool = False
    elapsed_s: float = 0.0

    @property
    def n_errors(self) -> int:
        return len(self.errors)

    def to_dict(self) -> dict[str, object]:
        return {
            "n_records": self.n_records,
            "n_upserted": self.n_upserted,
            "n_deleted": self.n_deleted,
            "n_errors": self.n_errors,
            "errors": [e.to_dict() for e in self.errors],
            "catalog_version_before": self.version_before,
            "catalog_version": self.version_after,
            "replaced": self.replaced,
            "elapsed_s": round(self.elapsed_s, 3),
        }


def ingest(
    store: CatalogStore,
    records: Iterable[Parsed],
    *,
    strict: bool = True,
    replace: bool = False,
    batch_size: int = 5000,
    on_progress: Callable[[int], None] | None = None,
    source: str | None = None,
) -> IngestReport:
    """Upsert ``records`` (or replace the catalog with them) and report.

    ``source`` names the file in duplicate-id errors (loaders name it in their own). A
    ``ChunkedSource`` (a JSONL file) is read through its ``chunks``, validated in bulk. A load
    into an empty catalog (a first ingest, a replacement) builds the secondary indexes once, at
    the end (``CatalogChange.build_indexes_at_end``).

    Raises
    ------
    CatalogError
        In strict mode, the first bad record; nothing is written.
    """
    started = time.perf_counter()
    report = IngestReport(version_before=store.version(), replaced=replace)
    if isinstance(records, ChunkedSource):
        pieces: Iterable[Parsed | ValidRows] = records.chunks(min(batch_size, CHUNK_LINES))
    else:
        pieces = records
    with store.change() as change, _closed_after(pieces if pieces is not records else None):
        if replace or change.is_empty():
            change.build_indexes_at_end()
        if replace:
            change.clear()
        load = _Load(change, report, strict, source, batch_size, on_progress)
        for piece in pieces:
            if isinstance(piece, ValidRows):
                load.add_rows(piece)
            else:
                result = piece.result
                load.add(
                    piece.line, result if isinstance(result, CatalogError) else entity_row(result)
                )
        load.flush()
        report.n_upserted = change.n_upserted
        report.n_deleted = change.n_removed()
    if on_progress is not None:
        on_progress(report.n_records)
    report.version_after = store.version()
    report.elapsed_s = time.perf_counter() - started
    return report


@contextmanager
def _closed_after(pieces: Iterable[object] | None) -> Iterator[None]:
    """Close the chunks ingest asked a source for when it is done with them, stopped by an
    error or not: a JSONL file's worker process (``chunk_worker``) then ends at once, not
    whenever the garbage collector finds the generator (a caller holding the traceback holds
    it too). The caller's own iterables are left to the caller."""
    try:
        yield
    finally:
        if isinstance(pieces, Generator):
            pieces.close()


@dataclass(slots=True)
class _Load:
    """One ingest's rows on their way to storage: duplicate ids caught, batches written."""

    change: CatalogChange
    report: IngestReport
    strict: bool
    source: str | None
    batch_size: int
    on_progress: Callable[[int], None] | None
    first_line: dict[str, int] = field(default_factory=dict)
    pending: list[EntityRow] = field(default_factory=list)

    def add(self, line: int, result: EntityRow | CatalogError) -> None:
        """One record: its own error, a duplicate-id error, or a row to write."""
        self.report.n_records += 1
        if not isinstance(result, CatalogError):
            duplicate = self._duplicate(result[0], line)
            if duplicate is None:
                self.pending.append(result)
                self._write_if_full()
                return
            result = duplicate
        if self.strict:
            raise result
        self.report.errors.append(result)

    def add_rows(self, valid: ValidRows) -> None:
        """A chunk of valid rows: in bulk unless an id in it was seen before (then one by one,
        so the duplicate is reported at its line as ``add`` reports it)."""
        new = dict(zip(valid.ids, valid.lines, strict=True))
        if len(new) < len(valid.rows) or not self.first_line.keys().isdisjoint(new):
            for line, row in zip(valid.lines, valid.rows, strict=True):
                self.add(line, row)
            return
        self.first_line.update(new)
        self.report.n_records += len(valid.rows)
        self.pending.extend(valid.rows)
        self._write_if_full()

    def _duplicate(self, entity_id: str, line: int) -> CatalogError | None:
        seen = self.first_line.setdefault(entity_id, line)
        if seen == line:
            return None
        return CatalogError(
            f"duplicate id {entity_id!r}, first seen at line {seen}",
            path=self.source,
            line=line,
            field="id",
        )

    def _write_if_full(self) -> None:
        if len(self.pending) >= self.batch_size:
            self.flush()
            if self.on_progress is not None:
                self.on_progress(self.report.n_records)

    def flush(self) -> None:
        if self.pending:
            self.change.upsert_rows(self.pending)
            self.pending = []


def parse_records(records: Iterable[Mapping[str, object]], config: CatalogConfig) -> list[Parsed]:
    """Records from a request body, validated like a file's lines (``line`` = 1-based index)."""
    out = []
    for line, record in enumerate(records, 1):
        try:
            out.append(Parsed(line, entity_from_record(record, config)))
        except CatalogError as exc:
            out.append(Parsed(line, CatalogError(exc.reason, line=line, field=exc.field)))
    return out

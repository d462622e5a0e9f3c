"""Loading parsed records into the stored catalog, strictly or leniently, in one transaction.

Strict mode stops at the first bad record and rolls everything back; lenient mode skips bad
records, counting and keeping every error so none is silently dropped. Either way the catalog
changes atomically: a reader sees all of an ingest or none of it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from ltrr.catalog.model import entity_from_record
from ltrr.catalog.sources import Parsed
from ltrr.config import CatalogConfig
from ltrr.errors import CatalogError
from ltrr.storage.catalog import CatalogStore
from ltrr.types import Entity


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

    ``source`` names the file in duplicate-id errors (loaders name it in their own).

    Raises
    ------
    CatalogError
        In strict mode, the first bad record; nothing is written.
    """
    started = time.perf_counter()
    report = IngestReport(version_before=store.version(), replaced=replace)
    first_line: dict[str, int] = {}
    batch: list[Entity] = []
    with store.change() as change:
        if replace:
            change.clear()
        for parsed in records:
            report.n_records += 1
            error = _check(parsed, first_line, source)
            if error is not None:
                if strict:
                    raise error
                report.errors.append(error)
                continue
            batch.append(parsed.result)  # type: ignore[arg-type]
            if len(batch) >= batch_size:
                change.upsert(batch)
                batch = []
                if on_progress is not None:
                    on_progress(report.n_records)
        if batch:
            change.upsert(batch)
        report.n_upserted = change.n_upserted
        report.n_deleted = change.n_removed()
    if on_progress is not None:
        on_progress(report.n_records)
    report.version_after = store.version()
    report.elapsed_s = time.perf_counter() - started
    return report


def parse_records(records: Iterable[Mapping[str, object]], config: CatalogConfig) -> list[Parsed]:
    """Records from a request body, validated like a file's lines (``line`` = 1-based index)."""
    out = []
    for line, record in enumerate(records, 1):
        try:
            out.append(Parsed(line, entity_from_record(record, config)))
        except CatalogError as exc:
            out.append(Parsed(line, CatalogError(exc.reason, line=line, field=exc.field)))
    return out


def _check(parsed: Parsed, first_line: dict[str, int], source: str | None) -> CatalogError | None:
    """The record's own error, or a duplicate-id error if its id was already loaded."""
    if isinstance(parsed.result, CatalogError):
        return parsed.result
    entity_id = parsed.result.id
    seen = first_line.setdefault(entity_id, parsed.line)
    if seen != parsed.line:
        return CatalogError(
            f"duplicate id {entity_id!r}, first seen at line {seen}",
            path=source,
            line=parsed.line,
            field="id",
        )
    return None

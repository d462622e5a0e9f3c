"""Ingest: strict stops and changes nothing, lenient skips and lists, replace is atomic."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ltrr.catalog.formats import load
from ltrr.catalog.ingest import ingest
from ltrr.catalog.sources import Parsed
from ltrr.config import CatalogConfig
from ltrr.errors import CatalogError
from ltrr.storage.datadir import DataDir

GOOD = b'{"id": "a", "title": "Love"}\n{"id": "b", "title": "Night"}\n'
MIXED = (
    b'{"id": "c", "title": "Fire"}\n'
    b"{oops\n"
    b'{"id": "c", "title": "Again"}\n'
    b'{"id": "d", "title": 1}\n'
    b'{"id": "e", "title": "Rain"}\n'
)


def _load(tmp_path: Path, name: str, data: bytes, config: CatalogConfig) -> Iterator[Parsed]:
    path = tmp_path / name
    path.write_bytes(data)
    return load(path, config)


def _ids(dd: DataDir) -> list[str]:
    return [e.id for e in dd.catalog.iter_entities()]


def test_strict_stops_at_first_error_and_rolls_back(
    tmp_path: Path, data_dir: DataDir, catalog_config: CatalogConfig
) -> None:
    ingest(data_dir.catalog, _load(tmp_path, "good.jsonl", GOOD, catalog_config))
    with pytest.raises(CatalogError) as info:
        ingest(data_dir.catalog, _load(tmp_path, "mixed.jsonl", MIXED, catalog_config))
    assert info.value.line == 2
    assert "invalid JSON" in info.value.message
    assert _ids(data_dir) == ["a", "b"]
    assert data_dir.catalog.version() == 1


def test_lenient_skips_counts_and_lists_every_error(
    tmp_path: Path, data_dir: DataDir, catalog_config: CatalogConfig
) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(MIXED)
    report = ingest(data_dir.catalog, load(path, catalog_config), strict=False, source=str(path))
    assert _ids(data_dir) == ["c", "e"]
    assert data_dir.catalog.get("c").title == "Fire"  # type: ignore[union-attr]
    assert (report.n_records, report.n_upserted, report.n_errors) == (5, 2, 3)
    assert [(e.line, e.field) for e in report.errors] == [(2, None), (3, "id"), (4, "title")]
    assert report.errors[1].message == (
        f"{path}:3, field 'id': duplicate id 'c', first seen at line 1"
    )
    assert report.to_dict()["n_errors"] == 3


def test_replace_swaps_whole_catalog(
    tmp_path: Path, data_dir: DataDir, catalog_config: CatalogConfig
) -> None:
    ingest(data_dir.catalog, _load(tmp_path, "good.jsonl", GOOD, catalog_config))
    new = b'{"id": "b", "title": "Night"}\n{"id": "z", "title": "Zed"}\n'
    report = ingest(
        data_dir.catalog,
        _load(tmp_path, "new.jsonl", new, catalog_config),
        replace=True,
    )
    assert _ids(data_dir) == ["b", "z"]
    assert (report.n_upserted, report.n_deleted, report.version_after) == (2, 1, 2)


def test_failed_replace_keeps_old_catalog(
    tmp_path: Path, data_dir: DataDir, catalog_config: CatalogConfig
) -> None:
    ingest(data_dir.catalog, _load(tmp_path, "good.jsonl", GOOD, catalog_config))
    with pytest.raises(CatalogError):
        ingest(
            data_dir.catalog,
            _load(tmp_path, "mixed.jsonl", MIXED, catalog_config),
            replace=True,
        )
    assert _ids(data_dir) == ["a", "b"]


def test_batches_cover_every_record(
    tmp_path: Path, data_dir: DataDir, catalog_config: CatalogConfig
) -> None:
    lines = b"".join(b'{"id": "x%d", "title": "t"}\n' % i for i in range(25))
    seen: list[int] = []
    report = ingest(
        data_dir.catalog,
        _load(tmp_path, "many.jsonl", lines, catalog_config),
        batch_size=10,
        on_progress=seen.append,
    )
    assert report.n_upserted == 25
    assert len(data_dir.catalog) == 25
    assert seen == [10, 20, 25]


def test_loads_that_rebuild_indexes_leave_them_as_they_were(
    tmp_path: Path, data_dir: DataDir, catalog_config: CatalogConfig
) -> None:
    """A first ingest and a replacement build the secondary indexes once, at the end."""

    def indexes() -> list[tuple[str, str]]:
        return data_dir.conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE tbl_name = 'entities' ORDER BY name"
        ).fetchall()

    before = indexes()
    with pytest.raises(CatalogError):
        ingest(data_dir.catalog, _load(tmp_path, "mixed.jsonl", MIXED, catalog_config))
    assert indexes() == before
    ingest(data_dir.catalog, _load(tmp_path, "good.jsonl", GOOD, catalog_config))
    assert indexes() == before
    ingest(data_dir.catalog, _load(tmp_path, "good.jsonl", GOOD, catalog_config), replace=True)
    assert indexes() == before
    assert data_dir.catalog.count_by_type() == {"document": 2}

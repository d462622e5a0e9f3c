"""JSONL, BEIR and CSV loaders: good files load; every bad line is reported where it is."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from ltrr.catalog.formats import detect_format, load
from ltrr.catalog.jsonl import load_beir, load_jsonl
from ltrr.catalog.sources import Parsed
from ltrr.catalog.tabular import load_csv, parse_mapping
from ltrr.config import CatalogConfig
from ltrr.errors import CatalogError
from ltrr.types import Entity


def _write(path: Path, data: bytes) -> Path:
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def _entities(parsed: list[Parsed]) -> list[Entity]:
    return [p.result for p in parsed if isinstance(p.result, Entity)]


def _errors(parsed: list[Parsed]) -> list[CatalogError]:
    return [p.result for p in parsed if isinstance(p.result, CatalogError)]


@pytest.mark.parametrize("name", ["c.jsonl", "c.jsonl.gz"])
def test_jsonl_loads_plain_and_gzip(
    tmp_path: Path, catalog_config: CatalogConfig, name: str
) -> None:
    path = _write(
        tmp_path / name,
        b'{"id": "a", "title": "Night Drive", "type": "track"}\n\n'
        b'{"_id": "b", "title": "Love", "attributes": {"genre": "pop"}}\n',
    )
    parsed = list(load_jsonl(path, catalog_config))
    assert [p.line for p in parsed] == [1, 3]
    assert [e.id for e in _entities(parsed)] == ["a", "b"]
    assert _entities(parsed)[1].attributes == {"genre": {"pop": 1.0}}


JSONL_BAD = [
    (b'{"id": "a",,}', "invalid JSON", None),
    (b'["a"]', "a line must be a JSON object, got list", None),
    (b'{"title": "x"}', "missing id", "id"),
    (b'{"id": "a", "title": 3}', "must be a string, got number", "title"),
    (b'{"id": "a", "_id": "b"}', "both 'id' and '_id' given", "_id"),
    (b'{"id": "a", "title": "\xff\xfe"}', "undecodable bytes (not UTF-8) at byte 22", None),
    (b'{"id": "a", "colour": "red"}', "unknown field", "colour"),
]


@pytest.mark.parametrize(("line", "reason", "field"), JSONL_BAD)
def test_jsonl_bad_lines_report_path_line_field(
    tmp_path: Path, catalog_config: CatalogConfig, line: bytes, reason: str, field: str | None
) -> None:
    path = _write(tmp_path / "c.jsonl", b'{"id": "ok"}\n' + line + b'\n{"id": "ok2"}\n')
    parsed = list(load_jsonl(path, catalog_config))
    assert [e.id for e in _entities(parsed)] == ["ok", "ok2"]
    [error] = _errors(parsed)
    assert (error.path, error.line, error.field) == (str(path), 2, field)
    assert reason in error.reason
    assert error.message.startswith(f"{path}:2")


def test_beir_directory_and_metadata(tmp_path: Path, catalog_config: CatalogConfig) -> None:
    _write(
        tmp_path / "corpus.jsonl.gz",
        b'{"_id": "d1", "title": "T", "text": "abstract", "metadata": {"x": 1}, '
        b'"type": "paper", "attributes": {"field": {"bio": 0.5}}, "popularity": 3, '
        b'"related": ["d2"], "added_at": 0}\n',
    )
    [entity] = _entities(list(load_beir(tmp_path, catalog_config)))
    assert entity.fields == {"text": "abstract"}
    assert (entity.type, entity.popularity, entity.related) == ("paper", 3.0, ("d2",))
    assert detect_format(tmp_path) == "beir"


def test_beir_directory_without_corpus(tmp_path: Path, catalog_config: CatalogConfig) -> None:
    with pytest.raises(CatalogError, match=r"no corpus\.jsonl"):
        list(load_beir(tmp_path, catalog_config))


def test_missing_file_and_bad_gzip(tmp_path: Path, catalog_config: CatalogConfig) -> None:
    with pytest.raises(CatalogError, match="file does not exist"):
        list(load_jsonl(tmp_path / "nope.jsonl", catalog_config))
    (tmp_path / "bad.jsonl.gz").write_bytes(b"not gzip at all")
    with pytest.raises(CatalogError, match="not a readable gzip file"):
        list(load_jsonl(tmp_path / "bad.jsonl.gz", catalog_config))


def test_csv_with_header_names(tmp_path: Path, catalog_config: CatalogConfig) -> None:
    path = _write(
        tmp_path / "c.csv",
        b"id,type,title,popularity,attributes.genre,fields.artist,related,added_at\n"
        b'x1,track,"Night, Again",5,pop|rock,Ana,a1|a2,2020-01-01\n'
        b"x2,track,Blue,,jazz:0.7|soul:0.3,,,1600000000\n",
    )
    first, second = _entities(list(load_csv(path, catalog_config)))
    assert first.title == "Night, Again"
    assert first.attributes == {"genre": {"pop": 1.0, "rock": 1.0}}
    assert first.fields == {"artist": "Ana"}
    assert first.related == ("a1", "a2")
    assert second.attributes == {"genre": {"jazz": 0.7, "soul": 0.3}}
    assert (second.popularity, second.added_at_s) == (0.0, 1600000000.0)


def test_csv_with_mapping(tmp_path: Path, catalog_config: CatalogConfig) -> None:
    path = _write(tmp_path / "s.csv", b"track_id,name,genre,extra\nt1,Fire,rock,ignored\n")
    mapping = parse_mapping(["id=track_id", "title=name", "attributes.genre=genre"])
    [entity] = _entities(list(load(path, catalog_config, "csv", mapping)))
    assert (entity.id, entity.title, entity.attributes) == ("t1", "Fire", {"genre": {"rock": 1.0}})


CSV_HEADER_BAD = [
    (b"id,colour\n1,red\n", None, "colour", "unknown column"),
    (b"track_id,name\n1,x\n", ["id=track_id", "title=nome"], "title", "unknown column"),
    (b"track_id,name\n1,x\n", ["id=track_id", "colour=name"], None, "unknown record field"),
    (b"name\nx\n", ["title=name"], "id", "no column is mapped to id"),
]


@pytest.mark.parametrize(("data", "mapping", "field", "reason"), CSV_HEADER_BAD)
def test_csv_header_errors(
    tmp_path: Path,
    catalog_config: CatalogConfig,
    data: bytes,
    mapping: list[str] | None,
    field: str | None,
    reason: str,
) -> None:
    path = _write(tmp_path / "c.csv", data)
    with pytest.raises(CatalogError) as info:
        list(load_csv(path, catalog_config, parse_mapping(mapping) if mapping else None))
    assert (info.value.line, info.value.field) == (1, field)
    assert reason in info.value.reason


CSV_ROW_BAD = [
    (b"x2,t,5\n", "has 3 columns, the header has 2", None),
    (b"x2,\xff\n", "undecodable bytes", None),
    (b',"unterminated\n', "a quoted field is not closed before the end of the file", None),
]


@pytest.mark.parametrize(("row", "reason", "field"), CSV_ROW_BAD)
def test_csv_bad_rows(
    tmp_path: Path, catalog_config: CatalogConfig, row: bytes, reason: str, field: str | None
) -> None:
    path = _write(tmp_path / "c.csv", b"id,title\nx1,ok\n" + row)
    parsed = list(load_csv(path, catalog_config))
    assert [e.id for e in _entities(parsed)] == ["x1"]
    errors = _errors(parsed)
    assert errors, parsed
    assert errors[0].line == 3
    assert reason in errors[0].reason or reason in errors[0].message


def test_csv_bad_number_names_field(tmp_path: Path, catalog_config: CatalogConfig) -> None:
    path = _write(tmp_path / "c.csv", b"id,popularity\nx1,lots\n")
    [error] = _errors(list(load_csv(path, catalog_config)))
    assert (error.line, error.field, error.reason) == (
        2,
        "popularity",
        "must be a number, got 'lots'",
    )


def test_csv_multiline_cell_reports_start_line(
    tmp_path: Path, catalog_config: CatalogConfig
) -> None:
    path = _write(tmp_path / "c.csv", b'id,title\nx1,"two\nlines"\nx2,-\nx3,' + b"t" * 2001 + b"\n")
    parsed = list(load_csv(path, catalog_config))
    assert [p.line for p in parsed] == [2, 4, 5]
    assert _errors(parsed)[0].field == "title"


def test_detect_format(tmp_path: Path) -> None:
    assert detect_format(tmp_path / "a.csv.gz") == "csv"
    assert detect_format(tmp_path / "a.jsonl") == "jsonl"
    with pytest.raises(CatalogError, match="pass --format"):
        detect_format(tmp_path / "a.parquet")


def test_parse_mapping_rejects_garbage() -> None:
    with pytest.raises(CatalogError, match="FIELD=COLUMN"):
        parse_mapping(["id"])

"""JSONL ingest's chunk path: whole chunks validated in bulk, and every bad record reported
exactly as the per-record path reports it (file, line, field, reason)."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import orjson
import pytest

from ltrr.catalog.columnar import rows_from_json
from ltrr.catalog.demo import generate_demo_catalog
from ltrr.catalog.formats import load
from ltrr.catalog.ingest import CHUNK_LINES, ingest
from ltrr.catalog.jsonl import load_jsonl
from ltrr.catalog.sources import Parsed, ValidRows, line_chunks, raw_lines
from ltrr.catalog.writer import write_jsonl
from ltrr.config import CatalogConfig, Config
from ltrr.errors import CatalogError
from ltrr.storage.catalog import entity_row
from ltrr.storage.datadir import DataDir
from ltrr.types import Entity

N_LINES = 2 * CHUNK_LINES + 50  # three chunks
BAD_AT = CHUNK_LINES + 75  # in the second


@pytest.fixture(scope="module")
def demo_lines(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    path = tmp_path_factory.mktemp("demo") / "demo.jsonl"
    write_jsonl(generate_demo_catalog(N_LINES, 3), path)
    return path.read_bytes().splitlines(keepends=True)


def _write(path: Path, lines: list[bytes]) -> Path:
    data = b"".join(lines)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def _one_by_one(path: Path, config: CatalogConfig) -> Iterator[Parsed]:
    """The per-record path: a plain generator, which ingest does not read in chunks."""
    yield from load_jsonl(path, config)


def _reports(path: Path, config: Config, tmp_path: Path) -> tuple[dict[str, object], ...]:
    """Lenient ingest reports of ``path`` through the chunk path and the per-record path."""
    reports = []
    for name, records in (
        ("chunks", load(path, config.catalog)),
        ("one_by_one", _one_by_one(path, config.catalog)),
    ):
        with DataDir(tmp_path / name, config, writer=True) as dd:
            report = ingest(dd.catalog, records, strict=False, source=str(path)).to_dict()
            report["entities"] = list(dd.catalog.iter_entities())
        report.pop("elapsed_s")
        reports.append(report)
    return tuple(reports)


def test_demo_file_passes_in_whole_chunks(
    tmp_path: Path, demo_lines: list[bytes], catalog_config: CatalogConfig
) -> None:
    path = _write(tmp_path / "demo.jsonl", demo_lines)
    pieces = list(load_jsonl(path, catalog_config).chunks(CHUNK_LINES))
    assert all(isinstance(p, ValidRows) for p in pieces)
    rows = [row for p in pieces if isinstance(p, ValidRows) for row in p.rows]
    entities = [p.result for p in load_jsonl(path, catalog_config)]
    assert rows == [entity_row(e) for e in entities if isinstance(e, Entity)]
    assert [n for p in pieces if isinstance(p, ValidRows) for n in p.lines] == list(
        range(1, N_LINES + 1)
    )


LONG = "t" * 2001
BAD_LINES = [
    (b'{"id": "a",,}', None, "invalid JSON"),
    (b'["a"]', None, "a line must be a JSON object, got list"),
    (b'{"id": "a", "title": "\xff\xfe"}', None, "undecodable bytes (not UTF-8) at byte 22"),
    (b'{"id": "a", "_id": "b"}', "_id", "both 'id' and '_id' given"),
    (b'{"title": "x"}', "id", "missing id"),
    (b'{"id": null}', "id", "missing id"),
    (b'{"id": " \\u2003"}', "id", "must not be empty"),
    (b'{"id": ["x"]}', "id", "must be a string, got array"),
    (b'{"id": true}', "id", "must be a string, got boolean"),
    (b'{"id": "' + b"x" * 513 + b'"}', "id", "513 characters long, the limit is 512"),
    (b'{"id": "x", "colour": "red"}', "colour", "unknown field"),
    (b'{"id": "x", "type": 3}', "type", "must be a string, got number"),
    (b'{"id": "x", "type": " "}', "type", "must not be empty"),
    (b'{"id": "x", "title": 5}', "title", "must be a string, got number"),
    (b'{"id": "x", "title": "' + LONG.encode() + b'"}', "title", "2001 characters long"),
    (b'{"id": "x", "text": 5}', "text", "must be a string, got number"),
    (b'{"id": "x", "fields": []}', "fields", "must be an object, got array"),
    (b'{"id": "x", "fields": {"a": 1}}', "fields.a", "must be a string, got number"),
    (b'{"id": "x", "fields": {" ": "b"}}', "fields", "must not be empty"),
    (b'{"id": "x", "popularity": -1}', "popularity", "finite number >= 0, got -1"),
    (b'{"id": "x", "popularity": "high"}', "popularity", "must be a number, got string"),
    (b'{"id": "x", "popularity": true}', "popularity", "must be a number, got boolean"),
    (b'{"id": "x", "attributes": []}', "attributes", "must be an object, got array"),
    (b'{"id": "x", "attributes": {"": "a"}}', "attributes", "must not be empty"),
    (b'{"id": "x", "attributes": {"g": 3}}', "attributes.g", "must be a string, a list"),
    (b'{"id": "x", "attributes": {"g": {"pop": 2.0}}}', "attributes.g", "in [0, 1], got 2.0"),
    (b'{"id": "x", "attributes": {"g": {"pop": -0.5}}}', "attributes.g", "got -0.5"),
    (b'{"id": "x", "attributes": {"g": {"pop": "a"}}}', "attributes.g", "must be a number"),
    (b'{"id": "x", "attributes": {"g": {"pop": true}}}', "attributes.g", "must be a number"),
    (b'{"id": "x", "attributes": {"g": [1]}}', "attributes.g", "must be a string, got number"),
    (
        b'{"id": "x", "attributes": {"g": {'
        + b",".join(b'"%d": 1.0' % i for i in range(1001))
        + b"}}}",
        "attributes.g",
        "has 1001 values, the limit is 1000",
    ),
    (
        b'{"id": "x", "attributes": {"g": {"' + LONG.encode() + b'": 1.0}}}',
        "attributes.g",
        "2001 characters long",
    ),
    (b'{"id": "x", "related": "y"}', "related", "must be an array of ids, got string"),
    (b'{"id": "x", "related": [""]}', "related", "must not be empty"),
    (b'{"id": "x", "related": [7]}', "related", "must be a string, got number"),
    (
        b'{"id": "x", "related": [' + b",".join([b'"r"'] * 10_001) + b"]}",
        "related",
        "lists 10001 ids, the limit is 10000",
    ),
    (b'{"id": "x", "added_at": "yesterday"}', "added_at", "ISO 8601 or epoch seconds"),
    (b'{"id": "x", "added_at": true}', "added_at", "got boolean"),
]


@pytest.mark.parametrize(("line", "field", "reason"), BAD_LINES)
def test_bad_record_in_a_chunk_is_reported_where_it_is(
    tmp_path: Path,
    demo_lines: list[bytes],
    config: Config,
    line: bytes,
    field: str | None,
    reason: str,
) -> None:
    lines = list(demo_lines)
    lines[BAD_AT - 1] = line + b"\n"
    path = _write(tmp_path / "c.jsonl", lines)
    chunks, one_by_one = _reports(path, config, tmp_path)
    assert chunks == one_by_one
    [error] = cast(list[dict[str, Any]], chunks["errors"])
    assert (error["path"], error["line"], error["field"]) == (str(path), BAD_AT, field)
    assert reason in error["reason"]
    assert chunks["n_upserted"] == N_LINES - 1
    with DataDir(tmp_path / "strict", config, writer=True) as dd:
        with pytest.raises(CatalogError) as info:
            ingest(dd.catalog, load(path, config.catalog))
        assert info.value.message.startswith(f"{path}:{BAD_AT}")
        assert (len(dd.catalog), dd.catalog.version()) == (0, 0)


def test_duplicate_ids_across_and_within_chunks(
    tmp_path: Path, demo_lines: list[bytes], config: Config
) -> None:
    lines = list(demo_lines)
    lines[BAD_AT - 1] = lines[9]  # the id of line 10, a chunk earlier
    lines[BAD_AT + 1] = lines[BAD_AT]  # the id of the line before, same chunk
    path = _write(tmp_path / "c.jsonl", lines)
    chunks, one_by_one = _reports(path, config, tmp_path)
    assert chunks == one_by_one
    errors = cast(list[dict[str, Any]], chunks["errors"])
    assert [(e["line"], e["reason"]) for e in errors] == [
        (BAD_AT, f"duplicate id {orjson.loads(lines[9])['id']!r}, first seen at line 10"),
        (
            BAD_AT + 2,
            f"duplicate id {orjson.loads(lines[BAD_AT])['id']!r}, first seen at line {BAD_AT + 1}",
        ),
    ]


@pytest.mark.parametrize("name", ["c.jsonl", "c.jsonl.gz"])
def test_bom_blank_lines_and_crlf_pass_in_bulk(
    tmp_path: Path, demo_lines: list[bytes], config: Config, name: str
) -> None:
    lines = [b"\xef\xbb\xbf" + demo_lines[0], b"\n", b" \t\r\n"]
    lines += [line.replace(b"\n", b"\r\n") for line in demo_lines[1:]] + [b"\n"]
    path = _write(tmp_path / name, lines)
    assert all(isinstance(p, ValidRows) for p in load_jsonl(path, config.catalog).chunks(125))
    chunks, one_by_one = _reports(path, config, tmp_path)
    assert chunks == one_by_one
    assert chunks["n_upserted"] == N_LINES


def test_shorthands_ints_and_dates_pass_in_bulk(tmp_path: Path, config: Config) -> None:
    lines = [
        b'{"id": 42, "popularity": 3, "added_at": "2020-01-02T00:00:00Z", "text": "t"}\n',
        b'{"id": "b", "type": "", "attributes": {"genre": "pop", "mood": ["a", "b"]}}\n',
        b'{"_id": "c", "attributes": {"lang": {"en": 1}}, "added_at": 5, "text": ""}\n',
    ]
    path = _write(tmp_path / "c.jsonl", lines)
    [piece] = load_jsonl(path, config.catalog).chunks(CHUNK_LINES)
    assert isinstance(piece, ValidRows)
    expected = [p.result for p in load_jsonl(path, config.catalog)]
    assert repr(piece.rows) == repr([entity_row(e) for e in expected if isinstance(e, Entity)])


@pytest.mark.parametrize(
    "record",
    [
        {"id": "a", "popularity": float("nan")},
        {"id": "a", "popularity": float("inf")},
        {"id": "a", "added_at": float("-inf")},
        {"id": "a", "attributes": {"g": {"v": float("nan")}}},
        {"id": "a", "attributes": {"g": {"v": 0.5, "w": float("nan")}}},  # min, max say 0.5
    ],
)
def test_non_finite_numbers_are_declined(
    record: dict[str, object], catalog_config: CatalogConfig
) -> None:
    """JSON cannot carry them (orjson refuses NaN and infinity), but the checks do not rely on
    that: such a chunk goes to the per-record path, which refuses it."""
    assert rows_from_json([record], 100, catalog_config) is None


def test_truncated_gzip_fails_as_one_by_one(
    tmp_path: Path, demo_lines: list[bytes], config: Config
) -> None:
    path = tmp_path / "c.jsonl.gz"
    path.write_bytes(gzip.compress(b"".join(demo_lines))[:-40])
    for records in (load(path, config.catalog), _one_by_one(path, config.catalog)):
        with DataDir(tmp_path / "d", config, writer=True) as dd:
            with pytest.raises(CatalogError, match="not a readable gzip file"):
                ingest(dd.catalog, records)
            assert len(dd.catalog) == 0


def test_broken_gzip_still_hands_over_the_lines_before_it(
    tmp_path: Path, demo_lines: list[bytes]
) -> None:
    path = tmp_path / "c.jsonl.gz"
    path.write_bytes(gzip.compress(b"".join(demo_lines))[:-40])
    one_by_one: list[bytes] = []
    with pytest.raises(CatalogError, match="not a readable gzip file"):
        for line in raw_lines(path):
            one_by_one.append(line)
    chunked: list[bytes] = []
    with pytest.raises(CatalogError, match="not a readable gzip file"):
        for chunk in line_chunks(path, CHUNK_LINES):
            assert 0 < len(chunk) <= CHUNK_LINES
            chunked += chunk
    assert one_by_one and chunked == one_by_one

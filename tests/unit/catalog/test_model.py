"""Record validation: every bad field is rejected with a message naming it."""

from __future__ import annotations

import pytest

from ltrr.catalog.model import entity_from_record, parse_time
from ltrr.config import CatalogConfig
from ltrr.errors import CatalogError


def test_full_record_round_trips(catalog_config: CatalogConfig) -> None:
    record = {
        "id": "t1",
        "type": "track",
        "title": "Love Story",
        "text": "a song",
        "fields": {"artist": "Taylor Swift"},
        "attributes": {"genre": "pop", "mood": ["happy", "romantic"], "lang": {"en": 0.9}},
        "popularity": 87,
        "related": ["a1"],
        "added_at": "2008-09-12T00:00:00Z",
    }
    entity = entity_from_record(record, catalog_config)
    assert entity.fields == {"artist": "Taylor Swift", "text": "a song"}
    assert entity.attributes == {
        "genre": {"pop": 1.0},
        "mood": {"happy": 1.0, "romantic": 1.0},
        "lang": {"en": 0.9},
    }
    assert entity.popularity == 87.0
    assert entity.related == ("a1",)
    assert entity.added_at_s == 1221177600.0
    assert entity_from_record(entity.to_record(), catalog_config) == entity


def test_defaults_for_bare_record(catalog_config: CatalogConfig) -> None:
    entity = entity_from_record({"id": 42}, catalog_config)
    assert (entity.id, entity.type, entity.title, entity.popularity) == ("42", "document", "", 0.0)


BAD = [
    ({}, "id", "missing id"),
    ({"id": None}, "id", "missing id"),
    ({"id": "  "}, "id", "must not be empty"),
    ({"id": ["x"]}, "id", "must be a string, got array"),
    ({"id": "x", "title": 5}, "title", "must be a string, got number"),
    ({"id": "x", "title": "t" * 2001}, "title", "2001 characters long, the limit is 2000"),
    ({"id": "x" * 513}, "id", "513 characters long, the limit is 512"),
    ({"id": "x", "popularity": -1}, "popularity", "finite number >= 0, got -1"),
    ({"id": "x", "popularity": "high"}, "popularity", "must be a number, got string"),
    ({"id": "x", "popularity": True}, "popularity", "must be a number, got boolean"),
    ({"id": "x", "attributes": []}, "attributes", "must be an object, got array"),
    ({"id": "x", "attributes": {"g": 3}}, "attributes.g", "must be a string, a list"),
    ({"id": "x", "attributes": {"g": {"pop": 2}}}, "attributes.g", "must be in [0, 1], got 2"),
    ({"id": "x", "attributes": {"g": {"pop": "a"}}}, "attributes.g", "must be a number"),
    ({"id": "x", "attributes": {"g": [1]}}, "attributes.g", "must be a string, got number"),
    ({"id": "x", "related": "y"}, "related", "must be an array of ids, got string"),
    ({"id": "x", "related": [""]}, "related", "must not be empty"),
    ({"id": "x", "fields": {"a": 1}}, "fields.a", "must be a string, got number"),
    ({"id": "x", "added_at": "yesterday"}, "added_at", "ISO 8601 or epoch seconds"),
    ({"id": "x", "genre": "pop"}, "genre", "unknown field; allowed:"),
    ({"id": "x", "type": 3}, "type", "must be a string, got number"),
]


@pytest.mark.parametrize(("record", "field", "reason"), BAD)
def test_bad_records_name_field_and_reason(
    record: dict[str, object], field: str, reason: str, catalog_config: CatalogConfig
) -> None:
    with pytest.raises(CatalogError) as info:
        entity_from_record(record, catalog_config)
    assert info.value.field == field
    assert reason in info.value.reason


def test_over_long_text_uses_text_limit(catalog_config: CatalogConfig) -> None:
    long = "w " * (catalog_config.max_text_chars // 2 + 1)
    with pytest.raises(CatalogError, match="the limit is 200000") as info:
        entity_from_record({"id": "x", "text": long}, catalog_config)
    assert info.value.field == "text"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, 0.0), (1.5, 1.5), ("1970-01-02", 86400.0), ("1970-01-01T01:00:00+01:00", 0.0)],
)
def test_parse_time(value: object, expected: float) -> None:
    assert parse_time(value) == expected


def test_error_message_names_path_line_field() -> None:
    error = CatalogError("bad", field="title").at(path="c.jsonl", line=7)
    assert error.message == "c.jsonl:7, field 'title': bad"
    assert str(error) == error.message

"""ltrr JSONL and BEIR ``corpus.jsonl`` loading.

BEIR lines (``_id``, ``title``, ``text``, ``metadata``) are ltrr records with an underscore id
and an ignored ``metadata`` object; EVALUATION.md lets them carry ltrr's optional fields, so one
reader serves both and every line goes through ``entity_from_record``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson

from ltrr.catalog.model import entity_from_record
from ltrr.catalog.sources import Parsed, decoded_lines
from ltrr.config import CatalogConfig
from ltrr.errors import CatalogError


def json_object(text: str) -> dict[str, object]:
    """One line of a JSON Lines file, which must hold a JSON object.

    Raises
    ------
    CatalogError
        If the line is not JSON or not an object (the caller adds path and line).
    """
    try:
        record = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise CatalogError(f"invalid JSON: {exc}") from None
    if not isinstance(record, dict):
        raise CatalogError(f"a line must be a JSON object, got {type(record).__name__}")
    return record


def _record(text: str, beir: bool) -> dict[str, object]:
    record = json_object(text)
    if "_id" in record:
        if "id" in record:
            raise CatalogError("both 'id' and '_id' given; use one", field="_id")
        record["id"] = record.pop("_id")
    if beir:
        record.pop("metadata", None)
    return record


def load_jsonl(path: Path, config: CatalogConfig, *, beir: bool = False) -> Iterator[Parsed]:
    """Yield one ``Parsed`` per non-blank line of ``path`` (plain or ``.gz``)."""
    for number, text in decoded_lines(path):
        if isinstance(text, CatalogError):
            yield Parsed(number, text)
            continue
        if not text.strip():
            continue
        try:
            entity = entity_from_record(_record(text, beir), config)
        except CatalogError as exc:
            yield Parsed(number, exc.at(path=str(path), line=number))
            continue
        yield Parsed(number, entity)


def beir_corpus_path(path: Path) -> Path:
    """``DIR/corpus.jsonl`` or ``DIR/corpus.jsonl.gz`` for a BEIR directory, else ``path``."""
    if not path.is_dir():
        return path
    for name in ("corpus.jsonl", "corpus.jsonl.gz"):
        if (path / name).is_file():
            return path / name
    raise CatalogError("no corpus.jsonl or corpus.jsonl.gz in this directory", path=str(path))


def load_beir(path: Path, config: CatalogConfig) -> Iterator[Parsed]:
    """Yield the entities of a BEIR corpus file or directory."""
    return load_jsonl(beir_corpus_path(path), config, beir=True)

"""ltrr JSONL and BEIR ``corpus.jsonl`` loading.

BEIR lines (``_id``, ``title``, ``text``, ``metadata``) are ltrr records with an underscore id
and an ignored ``metadata`` object; EVALUATION.md lets them carry ltrr's optional fields, so one
reader serves both and every line is held to ``entity_from_record``'s rules: line by line, or
for ingest a chunk of lines at a time through ``columnar``, which checks the same rules in
bulk and hands any chunk it does not vouch for back to the line-by-line path.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

import orjson

from ltrr.catalog.chunk_worker import checked_chunks, checked_chunks_in_worker, use_worker
from ltrr.catalog.columnar import rows_from_json
from ltrr.catalog.model import entity_from_record
from ltrr.catalog.sources import Parsed, ValidRows, decode_line, raw_lines
from ltrr.config import CatalogConfig
from ltrr.errors import CatalogError

_BOM = "\ufeff".encode()
_DICT = frozenset({dict})


def json_object(text: str) -> dict[str, Any]:
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


def normalise(record: dict[str, Any], beir: bool) -> dict[str, Any]:
    """``record`` with a BEIR ``_id`` renamed to ``id`` and, for BEIR, ``metadata`` dropped."""
    if "_id" in record:
        if "id" in record:
            raise CatalogError("both 'id' and '_id' given; use one", field="_id")
        record["id"] = record.pop("_id")
    if beir:
        record.pop("metadata", None)
    return record


class JsonlSource(Iterator[Parsed]):
    """The records of one JSONL file, read lazily.

    Iterated, it yields one ``Parsed`` per non-blank line, each validated by
    ``entity_from_record``. ``chunks`` (what ingest uses) reads the same file a chunk of lines
    at a time and checks a chunk in bulk (``columnar``), falling back to the per-line path for
    any chunk that does not pass whole, so every bad line gets the same error either way.
    Use one or the other: each opens the file when it starts reading. ``in_worker`` says
    whether ``chunks`` checks the lines in a worker process; ``None`` decides by the file's
    size and the cores (``chunk_worker.use_worker``).
    """

    def __init__(
        self,
        path: Path,
        config: CatalogConfig,
        *,
        beir: bool = False,
        in_worker: bool | None = None,
    ) -> None:
        self.path = path
        self.config = config
        self.beir = beir
        self.in_worker = in_worker
        self._records: Iterator[Parsed] | None = None

    def __next__(self) -> Parsed:
        if self._records is None:
            self._records = self._each()
        return next(self._records)

    def _each(self) -> Iterator[Parsed]:
        for number, raw in enumerate(raw_lines(self.path), start=1):
            parsed = self._parse(raw, number)
            if parsed is not None:
                yield parsed

    def _parse(self, raw: bytes, number: int) -> Parsed | None:
        """Line ``number`` as a ``Parsed``, or ``None`` for a blank line."""
        text = decode_line(raw, number, self.path)
        if isinstance(text, CatalogError):
            return Parsed(number, text)
        if not text.strip():
            return None
        try:
            entity = entity_from_record(normalise(json_object(text), self.beir), self.config)
        except CatalogError as exc:
            return Parsed(number, exc.at(path=str(self.path), line=number))
        return Parsed(number, entity)

    def chunks(self, size: int) -> Iterator[ValidRows | Parsed]:
        """``size`` lines at a time: a ``ValidRows`` per chunk that passes whole, else its
        ``Parsed`` records one by one.

        A large file is read and checked in a worker process (``chunk_worker``) while the
        caller works on what it yields; the pieces, errors included, are the same.
        """
        in_worker = self.in_worker if self.in_worker is not None else use_worker(self.path)
        copy = JsonlSource(self.path, self.config, beir=self.beir)  # unread, so picklable
        checked = checked_chunks_in_worker if in_worker else checked_chunks
        with closing(checked(copy, size)) as pieces:  # closed with this generator
            for piece in pieces:
                if isinstance(piece, ValidRows):
                    yield piece
                    continue
                for number, raw in enumerate(piece.raws, start=piece.first):
                    parsed = self._parse(raw, number)
                    if parsed is not None:
                        yield parsed

    def valid_rows(self, raws: list[bytes], first: int) -> ValidRows | None:
        """The chunk's rows if each of its lines is blank or a valid record, else ``None``.

        Equal to the per-line path by construction: the chunk must decode as UTF-8 (lines end
        at a newline byte, which no multi-byte character contains, so it decodes whole exactly
        when each line does); orjson then parses the same bytes ``json_object`` would parse
        as text; a line of ASCII white space is blank to ``str.strip`` too.
        """
        if first == 1 and raws[0].startswith(_BOM):
            raws = [raws[0].removeprefix(_BOM), *raws[1:]]
        try:
            b"".join(raws).decode("utf-8")
        except UnicodeDecodeError:
            return None
        numbers: Sequence[int] = range(first, first + len(raws))
        try:
            records = list(map(orjson.loads, raws))
        except orjson.JSONDecodeError:
            numbers = [n for n, raw in zip(numbers, raws, strict=True) if raw.strip()]
            try:
                records = [orjson.loads(raw) for raw in raws if raw.strip()]
            except orjson.JSONDecodeError:
                return None
        if not records or not set(map(type, records)) <= _DICT:
            return None
        if self.beir or "_id" in set().union(*records):
            try:
                records = [normalise(record, self.beir) for record in records]
            except CatalogError:
                return None
        valid = rows_from_json(records, max(map(len, raws)), self.config)
        return None if valid is None else ValidRows(numbers, *valid)


def load_jsonl(
    path: Path, config: CatalogConfig, *, beir: bool = False, in_worker: bool | None = None
) -> JsonlSource:
    """The records of ``path`` (plain or ``.gz``), one ``Parsed`` per non-blank line."""
    return JsonlSource(path, config, beir=beir, in_worker=in_worker)


def beir_corpus_path(path: Path) -> Path:
    """``DIR/corpus.jsonl`` or ``DIR/corpus.jsonl.gz`` for a BEIR directory, else ``path``."""
    if not path.is_dir():
        return path
    for name in ("corpus.jsonl", "corpus.jsonl.gz"):
        if (path / name).is_file():
            return path / name
    raise CatalogError("no corpus.jsonl or corpus.jsonl.gz in this directory", path=str(path))


def load_beir(path: Path, config: CatalogConfig) -> JsonlSource:
    """Yield the entities of a BEIR corpus file or directory."""
    return load_jsonl(beir_corpus_path(path), config, beir=True)

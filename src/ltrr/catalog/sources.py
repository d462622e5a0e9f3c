"""Reading catalog files line by line, plain or gzip, with bytes checked per line.

Lines are decoded one at a time (ingest's bulk path reads them a small chunk at a time) so that
a file of a million lines is never held in memory and an undecodable byte is reported at its
line instead of aborting the whole file.
"""

from __future__ import annotations

import csv
import gzip
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, cast, runtime_checkable

from ltrr.errors import CatalogError
from ltrr.storage.catalog import EntityRow
from ltrr.types import Entity


@dataclass(frozen=True, slots=True)
class Parsed:
    """One record of a source file: its first line number and the entity or what is wrong."""

    line: int
    result: Entity | CatalogError


@dataclass(frozen=True, slots=True)
class ValidRows:
    """Consecutive records that all passed validation, already as storage rows.

    ``lines[i]`` is the line of ``rows[i]`` and ``ids[i]`` its id. Whether two of them share an
    id is for ingest to check: that depends on every record before them, not on the chunk.
    """

    lines: Sequence[int]
    ids: list[str]
    rows: list[EntityRow]


@runtime_checkable
class ChunkedSource(Protocol):
    """A source that can hand ingest whole chunks of rows it has validated in bulk.

    Iterating such a source still yields one ``Parsed`` per record; ``chunks`` is the faster
    way through the same file, for ingest, and yields a ``ValidRows`` for each chunk that
    passes the bulk checks and one ``Parsed`` per record of a chunk that does not.
    """

    def chunks(self, size: int) -> Iterator[ValidRows | Parsed]: ...


def _open(path: Path) -> BinaryIO:
    if not path.exists():
        raise CatalogError("file does not exist", path=str(path))
    if path.is_dir():
        raise CatalogError("is a directory, expected a file", path=str(path))
    if path.suffix == ".gz":
        return cast(BinaryIO, gzip.open(path, "rb"))
    return path.open("rb")


def raw_lines(path: Path) -> Iterator[bytes]:
    """The lines of ``path`` as bytes, newline kept; a broken gzip stream is a ``CatalogError``."""
    with _open(path) as fh:
        try:
            yield from fh
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise CatalogError(f"not a readable gzip file ({exc})", path=str(path)) from exc


def line_chunks(path: Path, size: int) -> Iterator[list[bytes]]:
    """``raw_lines`` of ``path``, ``size`` at a time.

    If the gzip stream breaks, the lines read before it still come, as a last shorter chunk,
    before the error: a reader sees each line it would have seen line by line.
    """
    chunk: list[bytes] = []
    try:
        for raw in raw_lines(path):
            chunk.append(raw)
            if len(chunk) >= size:
                yield chunk
                chunk = []
    except CatalogError:
        if chunk:
            yield chunk
        raise
    if chunk:
        yield chunk


def decode_line(raw: bytes, number: int, path: Path) -> str | CatalogError:
    """Line ``number`` of ``path`` as text (line 1 without its BOM), or why it is not UTF-8."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.start + 4]
        return CatalogError(
            f"undecodable bytes (not UTF-8) at byte {exc.start}: {bad!r}",
            path=str(path),
            line=number,
        )
    return text.removeprefix("\ufeff") if number == 1 else text


def decoded_lines(path: Path) -> Iterator[tuple[int, str | CatalogError]]:
    """Yield ``(line number, text)``, or a ``CatalogError`` for a line that is not UTF-8."""
    for number, raw in enumerate(raw_lines(path), start=1):
        yield number, decode_line(raw, number, path)


def csv_rows(path: Path) -> Iterator[tuple[int, list[str] | CatalogError]]:
    """``(first line, cells)`` per CSV row, or the error of a row that cannot be read.

    A row's line is where it starts (quoted cells may span lines); a row containing an
    undecodable line is reported once, at its start, and blank rows are skipped.
    """
    bad_lines: dict[int, CatalogError] = {}

    def texts() -> Iterator[str]:
        for number, text in decoded_lines(path):
            if isinstance(text, CatalogError):
                bad_lines[number] = text
                yield "\n"  # keeps csv's line count; the row is reported below
            else:
                yield text

    reader = csv.reader(texts(), strict=True)
    start = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            reason = str(exc)
            if reason == "unexpected end of data":
                reason = "a quoted field is not closed before the end of the file"
            yield start, CatalogError(f"malformed CSV: {reason}", path=str(path), line=start)
            start = reader.line_num + 1
            continue
        line, start = start, reader.line_num + 1
        bad = [bad_lines.pop(n) for n in range(line, start) if n in bad_lines]
        if bad:
            yield line, bad[0]
        elif row:
            yield line, row


def csv_with_header(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str] | CatalogError]]]:
    """The header of a CSV file and ``csv_rows`` of the rows after it.

    Raises
    ------
    CatalogError
        When the file is missing, empty, or its header row cannot be read.
    """
    rows = csv_rows(path)
    first = next(rows, None)
    if first is None:
        raise CatalogError("empty file, expected a header line", path=str(path))
    if isinstance(first[1], CatalogError):
        raise first[1]
    return first[1], rows

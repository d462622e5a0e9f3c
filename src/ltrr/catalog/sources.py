"""Reading catalog files line by line, plain or gzip, with bytes checked per line.

Lines are decoded one at a time so that a file of a million lines is never held in memory and
an undecodable byte is reported at its line instead of aborting the whole file.
"""

from __future__ import annotations

import csv
import gzip
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from ltrr.errors import CatalogError
from ltrr.types import Entity


@dataclass(frozen=True, slots=True)
class Parsed:
    """One record of a source file: its first line number and the entity or what is wrong."""

    line: int
    result: Entity | CatalogError


def _open(path: Path) -> BinaryIO:
    if not path.exists():
        raise CatalogError("file does not exist", path=str(path))
    if path.is_dir():
        raise CatalogError("is a directory, expected a file", path=str(path))
    if path.suffix == ".gz":
        return cast(BinaryIO, gzip.open(path, "rb"))
    return path.open("rb")


def decoded_lines(path: Path) -> Iterator[tuple[int, str | CatalogError]]:
    """Yield ``(line number, text)``, or a ``CatalogError`` for a line that is not UTF-8."""
    with _open(path) as fh:
        try:
            for number, raw in enumerate(fh, start=1):
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    bad = raw[exc.start : exc.start + 4]
                    yield (
                        number,
                        CatalogError(
                            f"undecodable bytes (not UTF-8) at byte {exc.start}: {bad!r}",
                            path=str(path),
                            line=number,
                        ),
                    )
                    continue
                if number == 1:
                    text = text.removeprefix("\ufeff")
                yield number, text
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise CatalogError(f"not a readable gzip file ({exc})", path=str(path)) from exc


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

"""Reading catalog files line by line, plain or gzip, with bytes checked per line.

Lines are decoded one at a time so that a file of a million lines is never held in memory and
an undecodable byte is reported at its line instead of aborting the whole file.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

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
        return gzip.open(path, "rb")
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
                    yield number, CatalogError(
                        f"undecodable bytes (not UTF-8) at byte {exc.start}: {bad!r}",
                        path=str(path),
                        line=number,
                    )
                    continue
                if number == 1:
                    text = text.removeprefix("\ufeff")
                yield number, text
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise CatalogError(f"not a readable gzip file ({exc})", path=str(path)) from exc

"""Writing entities as ltrr JSONL, the format ``ltrr ingest`` reads back unchanged."""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO, cast

import orjson

from ltrr.types import Entity


def _open_for_write(path: Path, *, gzipped: bool) -> BinaryIO:
    if gzipped:
        return cast(BinaryIO, gzip.open(path, "wb", compresslevel=5))
    return path.open("wb")


def write_jsonl(entities: Iterable[Entity], path: Path) -> int:
    """Write one JSON object per line (gzip when ``path`` ends in ``.gz``); return the count.

    The file is written beside its destination and renamed into place, so a reader never sees
    half a catalog and an interrupted run leaves any previous file intact.
    """
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    n_written = 0
    try:
        with _open_for_write(tmp, gzipped=path.suffix == ".gz") as fh:
            for entity in entities:
                fh.write(orjson.dumps(entity.to_record()))
                fh.write(b"\n")
                n_written += 1
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return n_written

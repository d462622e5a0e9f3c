"""Which loader reads which file: the ``--format`` names and detection from the path."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from ltrr.catalog.jsonl import load_beir, load_jsonl
from ltrr.catalog.sources import Parsed
from ltrr.catalog.tabular import load_csv
from ltrr.config import CatalogConfig
from ltrr.errors import CatalogError

FORMATS = ("jsonl", "csv", "beir")


def detect_format(path: Path) -> str:
    """``beir`` for a directory or ``corpus.jsonl(.gz)``, ``csv`` for ``.csv(.gz)``, else jsonl."""
    name = path.name.removesuffix(".gz")
    if path.is_dir() or name == "corpus.jsonl":
        return "beir"
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    raise CatalogError(
        f"cannot tell the format from the name; pass --format ({', '.join(FORMATS)})",
        path=str(path),
    )


def load(
    path: Path,
    config: CatalogConfig,
    format: str | None = None,
    column_mapping: Mapping[str, str] | None = None,
) -> Iterator[Parsed]:
    """Stream the records of ``path`` in ``format`` (detected when ``None``)."""
    format = format or detect_format(path)
    if column_mapping and format != "csv":
        raise CatalogError(f"column mappings apply to csv files, not {format}")
    if format == "jsonl":
        return load_jsonl(path, config)
    if format == "beir":
        return load_beir(path, config)
    if format == "csv":
        return load_csv(path, config, column_mapping or None)
    raise CatalogError(f"unknown format {format!r}; allowed: {', '.join(FORMATS)}")

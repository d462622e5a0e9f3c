"""CSV loading with a column mapping.

A mapping sends record fields to CSV columns: ``id``, ``type``, ``title``, ``text``,
``popularity``, ``related``, ``added_at``, ``fields.NAME`` and ``attributes.NAME``. Without a
mapping the header itself must use those names. Multi-valued cells separate values with ``|``
and may give weights as ``value:weight`` (``pop:0.7|rock:0.3``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from ltrr.catalog.model import RECORD_KEYS, entity_from_record
from ltrr.catalog.sources import Parsed, csv_with_header
from ltrr.config import CatalogConfig
from ltrr.errors import CatalogError

_SCALARS = RECORD_KEYS - {"fields", "attributes"}
_PREFIXES = ("fields.", "attributes.")


def parse_mapping(pairs: list[str]) -> dict[str, str]:
    """``["id=track_id", "attributes.genre=genre"]`` -> ``{"id": "track_id", ...}``."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        target, sep, column = pair.partition("=")
        if not sep or not target.strip() or not column.strip():
            raise CatalogError(f"column mapping {pair!r} must look like FIELD=COLUMN")
        mapping[target.strip()] = column.strip()
    return mapping


def _check_target(target: str) -> None:
    if target in _SCALARS or (target.startswith(_PREFIXES) and target.split(".", 1)[1]):
        return
    allowed = ", ".join(sorted(_SCALARS)) + ", fields.NAME, attributes.NAME"
    raise CatalogError(f"unknown record field {target!r} in the mapping; allowed: {allowed}")


def _resolve(header: list[str], mapping: Mapping[str, str] | None, path: str) -> dict[str, int]:
    """Record field -> column index, checking both sides against the header."""
    if mapping is None:
        for column in header:
            try:
                _check_target(column)
            except CatalogError:
                raise CatalogError(
                    "unknown column; without --column mappings the header must use ltrr field "
                    "names (id, type, title, text, popularity, related, added_at, "
                    "fields.NAME, attributes.NAME)",
                    path=path,
                    line=1,
                    field=column,
                ) from None
        mapping = {column: column for column in header}
    index = {column: i for i, column in enumerate(header)}
    resolved = {}
    for target, column in mapping.items():
        try:
            _check_target(target)
        except CatalogError as exc:
            raise exc.at(path=path, line=1) from None
        if column not in index:
            raise CatalogError(
                f"unknown column: the mapping names {column!r} but the header has "
                f"{', '.join(header)}",
                path=path,
                line=1,
                field=target,
            )
        resolved[target] = index[column]
    if "id" not in resolved:
        raise CatalogError("no column is mapped to id", path=path, line=1, field="id")
    return resolved


def _multi(cell: str) -> list[str] | dict[str, float]:
    parts = [part.strip() for part in cell.split("|") if part.strip()]
    if parts and all(":" in part for part in parts):
        weights: dict[str, float] = {}
        for part in parts:
            value, _, weight = part.rpartition(":")
            try:
                weights[value.strip()] = float(weight)
            except ValueError:
                return parts
        return weights
    return parts


def _number(cell: str, field: str) -> float:
    try:
        return float(cell)
    except ValueError:
        raise CatalogError(f"must be a number, got {cell!r}", field=field) from None


def _record(row: list[str], columns: dict[str, int], n_header: int) -> dict[str, object]:
    if len(row) != n_header:
        raise CatalogError(f"has {len(row)} columns, the header has {n_header}")
    record: dict[str, object] = {}
    fields: dict[str, str] = {}
    attributes: dict[str, object] = {}
    for target, i in columns.items():
        cell = row[i]
        if cell == "":
            continue
        if target.startswith("fields."):
            fields[target[len("fields.") :]] = cell
        elif target.startswith("attributes."):
            values = _multi(cell)
            name = target[len("attributes.") :]
            attributes[name] = (
                values[0] if isinstance(values, list) and len(values) == 1 else values
            )
        elif target == "popularity":
            record[target] = _number(cell, target)
        elif target == "added_at":
            record[target] = _number(cell, target) if cell.replace(".", "", 1).isdigit() else cell
        elif target == "related":
            record[target] = [v.strip() for v in cell.split("|") if v.strip()]
        else:
            record[target] = cell
    if fields:
        record["fields"] = fields
    if attributes:
        record["attributes"] = attributes
    return record


def load_csv(
    path: Path, config: CatalogConfig, mapping: Mapping[str, str] | None = None
) -> Iterator[Parsed]:
    """Yield one ``Parsed`` per CSV row; a row's line is where it starts."""
    raw_header, rows = csv_with_header(path)
    header = [h.strip() for h in raw_header]
    columns = _resolve(header, mapping, str(path))
    for line, cells in rows:
        if isinstance(cells, CatalogError):
            yield Parsed(line, cells)
            continue
        try:
            entity = entity_from_record(_record(cells, columns, len(header)), config)
        except CatalogError as exc:
            yield Parsed(line, exc.at(path=str(path), line=line))
            continue
        yield Parsed(line, entity)

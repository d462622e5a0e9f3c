"""Validation of raw catalog records into ``Entity`` values.

Every loader (JSONL, CSV, BEIR) turns its lines into plain dicts and calls
``entity_from_record``, so one set of rules decides what a valid entity is and one set of
messages explains what is wrong. Errors raised here name the field; loaders add path and line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime

from ltrr.config import CatalogConfig
from ltrr.errors import CatalogError
from ltrr.types import Entity, EntityId

#: Top-level keys of an ltrr record. ``text`` is shorthand for ``fields.text``.
RECORD_KEYS = frozenset(
    {"id", "type", "title", "text", "fields", "attributes", "popularity", "related", "added_at"}
)


def _type_name(value: object) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(value), "null" if value is None else "number"
    )


def _string(value: object, field: str, limit: int, *, required: bool = False) -> str:
    # Fast path first: ingest validates millions of strings and almost all are fine.
    if type(value) is str and len(value) <= limit and (not required or value.strip()):
        return value
    if not isinstance(value, str):
        raise CatalogError(f"must be a string, got {_type_name(value)}", field=field)
    if required and not value.strip():
        raise CatalogError("must not be empty", field=field)
    if len(value) > limit:
        raise CatalogError(f"is {len(value)} characters long, the limit is {limit}", field=field)
    return value


def _attribute(name: str, value: object, config: CatalogConfig) -> dict[str, float]:
    field = f"attributes.{name}"
    if type(value) is str and len(value) <= config.max_title_chars:
        return {value: 1.0}
    if isinstance(value, str):
        values: dict[str, float] = {value: 1.0}
    elif isinstance(value, list):
        values = {}
        for item in value:
            values[_string(item, field, config.max_title_chars)] = 1.0
    elif isinstance(value, dict):
        values = {}
        for key, weight in value.items():
            if isinstance(weight, bool) or not isinstance(weight, int | float):
                raise CatalogError(
                    f"weight of {key!r} must be a number, got {_type_name(weight)}", field=field
                )
            if not 0.0 <= float(weight) <= 1.0:
                raise CatalogError(
                    f"weight of {key!r} must be in [0, 1], got {weight}", field=field
                )
            values[_string(key, field, config.max_title_chars)] = float(weight)
    else:
        raise CatalogError(
            "must be a string, a list of strings or an object of value -> weight, "
            f"got {_type_name(value)}",
            field=field,
        )
    if len(values) > config.max_attribute_values:
        raise CatalogError(
            f"has {len(values)} values, the limit is {config.max_attribute_values}", field=field
        )
    return values


def parse_attributes(value: object, config: CatalogConfig) -> dict[str, dict[str, float]]:
    """A record's ``attributes`` as name -> value -> weight, from any of the accepted forms."""
    if not isinstance(value, dict):
        raise CatalogError(f"must be an object, got {_type_name(value)}", field="attributes")
    return {
        _string(name, "attributes", config.max_id_chars, required=True): _attribute(name, v, config)
        for name, v in value.items()
    }


def _fields(value: object, config: CatalogConfig) -> dict[str, str]:
    if not isinstance(value, dict):
        raise CatalogError(f"must be an object, got {_type_name(value)}", field="fields")
    return {
        _string(name, "fields", config.max_id_chars, required=True): _string(
            text, f"fields.{name}", config.max_text_chars
        )
        for name, text in value.items()
    }


def _popularity(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CatalogError(f"must be a number, got {_type_name(value)}", field="popularity")
    if not math.isfinite(value) or value < 0:
        raise CatalogError(f"must be a finite number >= 0, got {value}", field="popularity")
    return float(value)


def _related(value: object, config: CatalogConfig) -> tuple[EntityId, ...]:
    if not isinstance(value, list):
        raise CatalogError(f"must be an array of ids, got {_type_name(value)}", field="related")
    if len(value) > config.max_related:
        raise CatalogError(
            f"lists {len(value)} ids, the limit is {config.max_related}", field="related"
        )
    limit = config.max_id_chars
    if all(type(v) is str and 0 < len(v) <= limit and not v.isspace() for v in value):
        return tuple(value)  # the common case, checked in one pass
    return tuple(EntityId(_string(v, "related", limit, required=True)) for v in value)


def parse_time(value: object, field: str = "added_at") -> float:
    """Epoch seconds from a number or an ISO 8601 string (naive times are taken as UTC)."""
    if isinstance(value, bool):
        raise CatalogError("must be ISO 8601 or epoch seconds, got boolean", field=field)
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise CatalogError(f"must be finite, got {value}", field=field)
        return float(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise CatalogError(
                f"must be ISO 8601 or epoch seconds, got {value!r}", field=field
            ) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    raise CatalogError(f"must be ISO 8601 or epoch seconds, got {_type_name(value)}", field=field)


def entity_from_record(record: Mapping[str, object], config: CatalogConfig) -> Entity:
    """Validate one record (``RECORD_KEYS``) and build its entity.

    Raises
    ------
    CatalogError
        Naming the first bad field and why; the caller adds path and line.
    """
    unknown = sorted(set(record) - RECORD_KEYS)
    if unknown:
        raise CatalogError(
            f"unknown field; allowed: {', '.join(sorted(RECORD_KEYS))}", field=unknown[0]
        )
    if "id" not in record or record["id"] is None:
        raise CatalogError("missing id", field="id")
    raw_id = record["id"]
    if isinstance(raw_id, int) and not isinstance(raw_id, bool):
        raw_id = str(raw_id)
    entity_id = _string(raw_id, "id", config.max_id_chars, required=True)
    fields = _fields(record.get("fields", {}), config)
    if "text" in record and record["text"] is not None:
        text = _string(record["text"], "text", config.max_text_chars)
        if text:  # BEIR lines always carry "text"; an empty one is no field
            fields["text"] = text
    type_ = record.get("type") or config.default_type
    added = record.get("added_at")
    return Entity(
        id=EntityId(entity_id),
        type=_string(type_, "type", config.max_id_chars, required=True),
        title=_string(record.get("title", ""), "title", config.max_title_chars),
        fields=fields,
        attributes=parse_attributes(record.get("attributes", {}), config),
        popularity=_popularity(record.get("popularity", 0.0)),
        related=_related(record.get("related", []), config),
        added_at_s=None if added is None or added == "" else parse_time(added),
    )

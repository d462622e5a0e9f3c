"""Validating a chunk of JSON records column by column: ``model``'s rules at the speed of C loops.

``entity_from_record`` checks one record at a time, field by field, in Python, and builds an
``Entity`` that storage then takes apart again: most of the cost of an ingest. Here the same
rules are checked over a chunk of records at once with builtins that loop in C (``map``,
``set``, ``max``, ``all``, ``chain``), and the storage rows are built straight from the
parsed dicts.

This is an accelerator, not a second rule book. Each check accepts only values that
``entity_from_record`` accepts and returns unchanged (or converts exactly as it does, like an
int popularity to float); shapes that need more work (an attribute given as a string, an
ISO date) go through ``model``'s own function for that field. When anything in a chunk falls
outside, ``rows_from_json`` returns ``None`` and the caller validates the chunk record by
record, which names the first bad record's line and field exactly as before. A property test
holds this module to ``entity_from_record`` on random good and bad records.

The records are parsed JSON, and three facts about JSON let some checks go:

- (K) an object's keys are strings, so field names, attribute names and attribute values
  need no type check;
- (L) a line of ``longest`` bytes holds no string of ``longest`` characters or more (a
  character takes at least one byte, and the quotes two more) and no array or object of
  ``longest`` entries or more (each entry takes at least a byte), so a length limit of at least
  ``longest`` holds already;
- (F) orjson refuses NaN and infinity, so its numbers are finite (checked anyway, at the cost
  of one ``sum``, so that a chunk that is not orjson's output cannot slip a NaN through).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from itertools import chain, repeat
from typing import Any

from ltrr.catalog.model import RECORD_KEYS, parse_attributes, parse_time
from ltrr.config import CatalogConfig
from ltrr.storage.catalog import EntityRow, doc_jsons

_STR = frozenset({str})
_DICT = frozenset({dict})
_LIST = frozenset({list})
_FLOAT = frozenset({float})
_NUMBER = frozenset({int, float})
_OPTIONAL_FLOAT = frozenset({type(None), float})
_OPTIONAL_NUMBER = frozenset({type(None), int, float})
_NO_BOUND = sys.maxsize  # as ``longest`` where (L) does not apply
_EMPTY: dict[str, Any] = {}  # the default of a missing object; only read, never changed
_NO_IDS: list[str] = []  # likewise for a missing ``related``


class _DeclinedError(Exception):
    """The chunk holds something these checks do not vouch for; the per-record path decides."""


def rows_from_json(
    records: list[dict[str, Any]], longest: int, config: CatalogConfig
) -> tuple[list[str], list[EntityRow]] | None:
    """The ids and storage rows of ``records``, or ``None`` unless every record is valid.

    ``records`` are JSON objects parsed by orjson from lines of at most ``longest`` bytes,
    with ``_id`` already renamed (``jsonl.normalise``). Their nested dicts go into the rows
    as they are, so they must not be used afterwards.
    """
    try:
        if not set().union(*records) <= RECORD_KEYS:
            return None
        ids = _ids(records, longest, config)
        types = _types(records, config)
        titles = _column(records, "title", "")
        _strings(titles, config.max_title_chars, longest)
        fields = _fields(records, longest, config)
        attributes = _attributes(records, longest, config)
        popularity = _popularity(records)
        related = _related(records, longest, config)
        added_at_s = _added_at(records)
    except (_DeclinedError, TypeError, ValueError, ArithmeticError):
        # TypeError is str.strip meeting a non-string, ValueError includes CatalogError and
        # ArithmeticError is a huge int meeting float(): the per-record path says which.
        return None
    docs = doc_jsons(fields, attributes, related)
    return ids, list(zip(ids, types, titles, docs, popularity, added_at_s, strict=True))


def _column(records: list[dict[str, Any]], key: str, default: object = None) -> list[Any]:
    """``record.get(key, default)`` for every record, in one C loop."""
    return list(map(dict.get, records, repeat(key), repeat(default)))


def _strings(values: Iterable[Any], limit: int, longest: int) -> None:
    """Decline unless ``model._string`` returns every value unchanged (``required=False``).

    ``"".join`` raises ``TypeError`` for a value that is not a string, which model refuses.
    """
    if longest <= limit:  # the lengths hold by (L)
        "".join(values)
        return
    values = list(values)
    "".join(values)
    if max(map(len, values), default=0) > limit:
        raise _DeclinedError


def _required_strings(values: Iterable[Any], limit: int, longest: int) -> None:
    """Decline unless ``model._string(..., required=True)`` returns every value unchanged.

    ``str.strip`` raises ``TypeError`` for a non-string, and returns nothing for an empty or
    blank one: it uses the same white space as ``str.isspace``, so this is model's check.
    """
    if longest <= limit:  # the lengths hold by (L)
        if not all(map(str.strip, values)):
            raise _DeclinedError
        return
    values = list(values)
    if not all(map(str.strip, values)) or max(map(len, values), default=0) > limit:
        raise _DeclinedError


def _ids(records: list[dict[str, Any]], longest: int, config: CatalogConfig) -> list[str]:
    ids = _column(records, "id")  # a missing id is None, which str.strip refuses
    if int in set(map(type, ids)):
        ids = [str(v) if type(v) is int else v for v in ids]  # as model: 42 is "42"
    _required_strings(ids, config.max_id_chars, longest)
    return ids


def _types(records: list[dict[str, Any]], config: CatalogConfig) -> list[str]:
    """``record.get("type") or default``, as model; few distinct values, checked once each."""
    types = _column(records, "type")
    distinct = set(types)  # a list or object is unhashable: TypeError, declined
    if not all(distinct):
        types = [t or config.default_type for t in types]
        distinct = {t or config.default_type for t in distinct}
    # Every length checked: the default comes from the config, not from the line.
    _required_strings(list(distinct), config.max_id_chars, _NO_BOUND)
    return types


def _fields(
    records: list[dict[str, Any]], longest: int, config: CatalogConfig
) -> list[dict[str, Any]]:
    """Each record's ``fields`` with its top-level ``text`` folded in, as model does."""
    fields = _column(records, "fields", _EMPTY)
    if not set(map(type, fields)) <= _DICT:
        raise _DeclinedError
    _required_strings(set().union(*fields), config.max_id_chars, longest)  # strings by (K)
    _strings(chain.from_iterable(map(dict.values, fields)), config.max_text_chars, longest)
    texts = _column(records, "text")
    if texts.count(None) == len(texts):
        return fields
    _strings([t for t in texts if t is not None], config.max_text_chars, longest)
    # A new dict, so the shared _EMPTY is never written; an empty text is no field.
    return [{**f, "text": t} if t else f for f, t in zip(fields, texts, strict=True)]


def _attributes(
    records: list[dict[str, Any]], longest: int, config: CatalogConfig
) -> list[dict[str, dict[str, float]]]:
    """Each record's attributes as name -> value -> weight, the stored form.

    A chunk already in that form (the only form ltrr's writer writes) is checked in bulk;
    any other goes through ``model.parse_attributes`` record by record, which also turns
    strings, lists and int weights into it.
    """
    attributes = _column(records, "attributes", _EMPTY)
    if not set(map(type, attributes)) <= _DICT:
        raise _DeclinedError
    values = list(chain.from_iterable(map(dict.values, attributes)))
    if not _stored_form(values, longest, config):
        return [parse_attributes(a, config) for a in attributes]
    _required_strings(set().union(*attributes), config.max_id_chars, longest)  # strings by (K)
    return attributes


def _stored_form(values: list[Any], longest: int, config: CatalogConfig) -> bool:
    """Whether every attribute value is an object of value -> float weight in [0, 1]."""
    try:
        weights = list(chain.from_iterable(map(dict.values, values)))
    except TypeError:  # a value that is not an object: a shorthand, or an error
        return False
    n_limit = config.max_attribute_values
    if longest > n_limit and max(map(len, values), default=0) > n_limit:  # else (L)
        return False
    limit = config.max_title_chars  # the keys are strings by (K)
    if longest > limit and max(map(len, chain.from_iterable(values)), default=0) > limit:
        return False
    if not set(map(type, weights)) <= _FLOAT or not math.isfinite(sum(weights)):
        return False
    # Finite (a NaN or infinity makes the sum so), so min and max order them truly.
    return min(weights, default=0.0) >= 0.0 and max(weights, default=0.0) <= 1.0


def _popularity(records: list[dict[str, Any]]) -> list[float]:
    values = _column(records, "popularity", 0.0)
    kinds = set(map(type, values))  # bool is its own type here, declined as model does
    if not kinds <= _NUMBER or not math.isfinite(sum(values)):
        raise _DeclinedError
    if min(values) < 0:
        raise _DeclinedError
    return values if kinds <= _FLOAT else list(map(float, values))


def _related(records: list[dict[str, Any]], longest: int, config: CatalogConfig) -> list[Any]:
    related = _column(records, "related", _NO_IDS)
    if not set(map(type, related)) <= _LIST:
        raise _DeclinedError
    limit = config.max_related
    if longest > limit and max(map(len, related), default=0) > limit:  # else (L)
        raise _DeclinedError
    _required_strings(chain.from_iterable(related), config.max_id_chars, longest)
    return related


def _added_at(records: list[dict[str, Any]]) -> list[Any]:
    values = _column(records, "added_at")
    kinds = set(map(type, values))
    if kinds <= _OPTIONAL_NUMBER:
        numbers = values if type(None) not in kinds else [v for v in values if v is not None]
        if not math.isfinite(sum(numbers)):
            raise _DeclinedError
        if kinds <= _OPTIONAL_FLOAT:
            return values
        return [None if v is None else float(v) for v in values]
    # ISO strings and anything else: model's own expression, value by value.
    return [None if v is None or v == "" else parse_time(v) for v in values]

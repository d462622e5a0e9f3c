"""The bulk checks of ``catalog.columnar`` agree with ``entity_from_record`` on any records.

``rows_from_json`` may decline a chunk (``None``, the per-record path then decides); what it
must never do is accept a chunk holding a record ``entity_from_record`` refuses, or return a
row other than the one the per-record path stores. Records mix valid values with arbitrary
JSON, under tiny limits (every length check runs) and the default ones (lines are short, so
the checks implied by the line length are the ones skipped).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson
from hypothesis import event, given, settings
from hypothesis import strategies as st

from ltrr.catalog.columnar import rows_from_json
from ltrr.catalog.model import entity_from_record
from ltrr.config import CatalogConfig, load_config
from ltrr.storage.catalog import EntityRow, entity_row

DEFAULT = load_config().catalog
TINY = replace(
    DEFAULT,
    max_id_chars=4,
    max_title_chars=6,
    max_text_chars=8,
    max_attribute_values=2,
    max_related=2,
    default_type="doc",
)
LONG_DEFAULT = replace(TINY, default_type="document")  # too long: a record without type fails

short_text = st.text(st.sampled_from("abcdab \t\u00a0\u2003é"), max_size=7)
#: Mostly a valid name or id under either config; now and then blank or too long for TINY.
name = st.one_of(
    *[st.text(st.sampled_from("abcdé1"), min_size=1, max_size=4)] * 6,
    st.sampled_from(["", " ", "\u2003", "\t\u00a0", "abcdefg"]),
)
json_value = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | short_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(short_text, inner, max_size=3),
    max_leaves=6,
)
stored_form = st.dictionaries(short_text, st.sampled_from([0.0, 0.25, 1.0, -0.0]), max_size=3)
attribute = st.one_of(
    *[stored_form] * 4,
    st.dictionaries(short_text, st.sampled_from([0.5, -0.5, 1.5, 1e300]), max_size=2),
    st.dictionaries(short_text, st.sampled_from([0, 1, 0.5, True, None]), max_size=2),
    short_text,
    st.lists(short_text, max_size=3),
)
#: Values model accepts, give or take a limit or a blank string.
GOOD: dict[str, Any] = {
    "id": name | st.integers(-5, 99),
    "type": name | st.none(),
    "title": short_text,
    "text": short_text | st.none(),
    "fields": st.dictionaries(name, short_text, max_size=2),
    "attributes": st.dictionaries(name, attribute, max_size=2),
    "popularity": st.floats(-1, 1e9) | st.integers(-1, 2**64 - 1),
    "related": st.lists(name, max_size=3),
    "added_at": st.floats(-1e9, 1e9)
    | st.integers(-(10**9), 10**9)
    | st.none()
    | st.sampled_from(["", "2020-01-02", "2020-01-02T03:04:05Z"]),
}
#: One field of a record set to any JSON value (an unknown field included), one time in four.
edge: st.SearchStrategy[object] = st.sampled_from(
    [True, False, None, "", " ", -1, -0.5, 1e300, 2**64 - 1, [], {}, [""]]
)
corruption: st.SearchStrategy[dict[str, object]] = st.one_of(
    st.just({}),
    st.just({}),
    st.just({}),
    st.dictionaries(st.sampled_from([*GOOD, "colour"]), edge | json_value, min_size=1, max_size=1),
)
record = st.builds(
    lambda good, bad: {**good, **bad},
    st.fixed_dictionaries(
        {"id": GOOD["id"]}, optional={k: v for k, v in GOOD.items() if k != "id"}
    ),
    corruption,
)


def _per_record(lines: list[bytes], config: CatalogConfig) -> list[EntityRow] | None:
    """What the per-record path stores, or ``None`` when it refuses a record."""
    rows = []
    for line in lines:
        try:
            rows.append(entity_row(entity_from_record(orjson.loads(line), config)))
        except Exception:  # any refusal: a CatalogError or what model raises
            return None
    return rows


@settings(max_examples=1000, deadline=None)
@given(st.lists(record, min_size=1, max_size=4), st.sampled_from([TINY, DEFAULT, LONG_DEFAULT]))
def test_bulk_rows_are_the_per_record_rows(
    records: list[dict[str, Any]], config: CatalogConfig
) -> None:
    lines = [orjson.dumps(r) for r in records]
    expected = _per_record(lines, config)
    bulk = rows_from_json([orjson.loads(line) for line in lines], max(map(len, lines)), config)
    event("refused" if expected is None else "declined" if bulk is None else "accepted")
    if expected is None:
        assert bulk is None, "accepted a chunk the per-record path refuses"
    elif bulk is not None:
        ids, rows = bulk
        assert repr(rows) == repr(expected)  # repr tells 1 from 1.0 and True from 1
        assert ids == [row[0] for row in expected]

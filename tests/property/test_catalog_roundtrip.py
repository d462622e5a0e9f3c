"""Any valid entity survives JSONL writing, loading, storing and reading back unchanged."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from ltrr.catalog.jsonl import load_jsonl
from ltrr.catalog.writer import write_jsonl
from ltrr.config import load_config
from ltrr.storage.datadir import DataDir
from ltrr.types import Entity, EntityId

CONFIG = load_config()
text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
ids = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=20
).filter(lambda s: bool(s.strip()))
weights = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
entities = st.builds(
    Entity,
    id=ids.map(EntityId),
    type=ids,
    title=text,
    fields=st.dictionaries(ids, text, max_size=3),
    attributes=st.dictionaries(
        ids, st.dictionaries(text, weights, min_size=1, max_size=3), max_size=3
    ),
    popularity=st.floats(min_value=0.0, max_value=1e9, allow_nan=False),
    related=st.lists(ids.map(EntityId), max_size=4).map(tuple),
    added_at_s=st.none() | st.floats(min_value=-1e10, max_value=1e10, allow_nan=False),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(entities, max_size=6, unique_by=lambda e: e.id))
def test_write_load_store_read_round_trip(batch: list[Entity]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.jsonl.gz"
        assert write_jsonl(batch, path) == len(batch)
        loaded = [p.result for p in load_jsonl(path, CONFIG.catalog)]
        assert loaded == batch
        with DataDir(Path(tmp) / "d", CONFIG, writer=True) as dd:
            with dd.catalog.change() as change:
                change.upsert(batch)
            assert sorted(dd.catalog.iter_entities(), key=lambda e: e.id) == sorted(
                batch, key=lambda e: e.id
            )

"""The explore retriever: fresh, rarely shown entities loosely matching the query."""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from ltrr.config import Config
from ltrr.retrieve import retriever_class
from ltrr.retrieve.base import Retriever
from ltrr.retrieve.explore import ExploreParams, ExploreRetriever
from ltrr.types import Context, Entity, EntityId
from ltrr.understand.base import UnderstoodQuery, plain_query

DAY_S = 86_400.0
NOW_S = 1_700_000_000.0


def entity(i: str, title: str, age_days: float | None, **attributes: str) -> Entity:
    added = None if age_days is None else NOW_S - age_days * DAY_S
    attrs = {k: {v: 1.0} for k, v in attributes.items()}
    return Entity(EntityId(i), "track", title, {}, attrs, 10.0, (), added)


CATALOG = [
    entity("t:new", "Night Drive", 0),
    entity("t:month", "Night Fever", 30),
    entity("t:old", "Night Train", 3650),
    entity("t:undated", "Night Moves", None),
    entity("t:chill", "Slow Down", 10, mood="chill"),
    entity("t:twin-a", "Twin Song", 100),
    entity("t:twin-b", "Twin Song", 100),
]
BAD_TEXT = ["", "   ", "night " * 2000, "x" * 10_000, "ni\x00ght\x1b", "Лав night 愛", "🎵🔥"]


def config(**overrides: Any) -> Config:
    return Config({"retrieve": {"explore": {**asdict(ExploreParams()), **overrides}}})


def build(entities: list[Entity] = CATALOG, **overrides: Any) -> ExploreRetriever:
    return ExploreRetriever.build(entities, config(**overrides), catalog_version=9)


def ids(retriever: ExploreRetriever, text: str, depth: int = 10) -> list[str]:
    return [c.entity_id for c in retriever.retrieve(plain_query(text), Context(), depth)]


def test_registered_and_implements_the_protocol() -> None:
    assert retriever_class("explore") is ExploreRetriever
    retriever = build()
    assert isinstance(retriever, Retriever)
    assert (retriever.name, retriever.catalog_version, len(retriever)) == ("explore", 9, 7)


def test_fresh_first_among_matches_with_hand_computed_scores() -> None:
    found = build().retrieve(plain_query("night"), Context(), 10)
    assert [c.entity_id for c in found] == ["t:new", "t:month", "t:old", "t:undated"]
    fresh = [1.0, 0.5 ** (30 / 180), 0.5 ** (3650 / 180), 0.0]
    assert [c.score for c in found] == pytest.approx([0.5 * f + 0.5 for f in fresh], abs=1e-5)


def test_attribute_values_match_and_unmatched_queries_get_nothing() -> None:
    assert ids(build(), "chill") == ["t:chill"]
    assert ids(build(match_attributes=False), "chill") == []
    assert ids(build(), "polka") == []


def test_exposure_demotes_and_decays_by_event_time() -> None:
    retriever = build()
    for _ in range(9):
        retriever.record_exposure([EntityId("t:new"), EntityId("unknown")], NOW_S)
    assert retriever.exposure(EntityId("t:new")) == pytest.approx(9.0)
    assert ids(retriever, "night")[0] == "t:month"
    retriever.record_exposure([EntityId("t:old")], NOW_S + 7 * DAY_S)  # one half-life later
    assert retriever.exposure(EntityId("t:new")) == pytest.approx(4.5)
    retriever.record_exposure([EntityId("t:old")], NOW_S)  # a late event counts decayed
    assert retriever.exposure(EntityId("t:old")) == pytest.approx(1.5)
    retriever.add([entity("t:new", "Night Drive (Edit)", 0)])  # an update keeps its exposure
    assert retriever.exposure(EntityId("t:new")) == pytest.approx(4.5)


def test_ties_are_broken_by_the_seeded_generator() -> None:
    orders = {tuple(ids(build(seed=s), "twin song")) for s in range(12)}
    assert orders == {("t:twin-a", "t:twin-b"), ("t:twin-b", "t:twin-a")}
    assert ids(build(seed=3), "twin song") == ids(build(seed=3), "twin song")


def test_add_and_remove_are_visible() -> None:
    retriever = build()
    retriever.add([entity("t:newer", "Night Light", -1)])
    assert ids(retriever, "night")[0] == "t:newer"
    retriever.remove([EntityId("t:newer"), EntityId("t:new")])
    assert ids(retriever, "night")[0] == "t:month"
    assert len(retriever) == 6


def test_save_load_round_trip_with_exposure(tmp_path: Path) -> None:
    retriever = build()
    retriever.record_exposure([EntityId("t:new")], NOW_S)
    retriever.remove([EntityId("t:old")])
    retriever.save(tmp_path / "e")
    loaded = ExploreRetriever.load(tmp_path / "e", config())
    for q in ("night", "twin song", "chill slow"):
        assert loaded.retrieve(plain_query(q), Context(), 10) == retriever.retrieve(
            plain_query(q), Context(), 10
        )
    assert loaded.exposure(EntityId("t:new")) == 1.0 and loaded.clock_s == NOW_S
    assert math.isinf(build().clock_s)


@pytest.mark.parametrize("text", BAD_TEXT)
def test_bad_queries_never_crash(text: str) -> None:
    found = build().retrieve(plain_query(text), Context(), 10)
    assert len(found) <= 10
    assert [c.score for c in found] == sorted((c.score for c in found), reverse=True)
    odd = UnderstoodQuery(raw=text, tokens=(), corrected_tokens=(text,))
    assert len(build().retrieve(odd, Context(), 10)) <= 10

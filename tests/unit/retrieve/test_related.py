"""The related retriever: seeds named by the query, then their links, one or two hops away."""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from ltrr.config import Config
from ltrr.retrieve import retriever_class
from ltrr.retrieve.base import Retriever
from ltrr.retrieve.related import RelatedParams, RelatedRetriever
from ltrr.types import Context, Entity, EntityId
from ltrr.understand.base import Span, UnderstoodQuery, plain_query


def entity(i: str, kind: str, title: str, popularity: float, *related: str) -> Entity:
    links = tuple(EntityId(r) for r in related)
    return Entity(EntityId(i), kind, title, {}, {}, popularity, links)


CATALOG = [
    entity("a:taylor", "artist", "Taylor Swift", 90, "al:fearless", "t:love-story"),
    entity("al:fearless", "album", "Fearless", 60, "a:taylor", "t:love-story", "t:white-horse"),
    entity("t:love-story", "track", "Love Story", 80, "a:taylor", "al:fearless"),
    entity("t:white-horse", "track", "White Horse", 30, "al:fearless", "t:later"),
    entity("t:fearless", "track", "Fearless", 10, "a:other"),
    entity("a:other", "artist", "Other", 5),
]
BAD_TEXT = ["", "   ", "x" * 10_000, "taylor\x00swift", "Тейлор 愛", "🎵🔥"]


def named(name: str, label: str = "artist", confidence: float = 0.9) -> UnderstoodQuery:
    tokens = tuple(name.split())
    span = Span(0, len(tokens), "entity", label, name, confidence)
    return UnderstoodQuery(raw=name, tokens=tokens, corrected_tokens=tokens, spans=(span,))


def config(**overrides: Any) -> Config:
    return Config({"retrieve": {"related": {**asdict(RelatedParams()), **overrides}}})


def build(entities: list[Entity] = CATALOG, **overrides: Any) -> RelatedRetriever:
    return RelatedRetriever.build(entities, config(**overrides), catalog_version=4)


def ids(retriever: RelatedRetriever, q: UnderstoodQuery, depth: int = 10) -> list[str]:
    return [c.entity_id for c in retriever.retrieve(q, Context(), depth)]


def prior(popularity: float) -> float:
    return math.log1p(popularity) / math.log1p(90)


def test_registered_and_implements_the_protocol() -> None:
    assert retriever_class("related") is RelatedRetriever
    retriever = build()
    assert isinstance(retriever, Retriever)
    assert (retriever.name, retriever.catalog_version, len(retriever)) == ("related", 4, 6)


def test_seed_then_one_and_two_hops_with_hand_computed_scores() -> None:
    found = build().retrieve(named("taylor swift"), Context(), 10)
    assert [c.entity_id for c in found] == [
        "a:taylor",
        "t:love-story",
        "al:fearless",
        "t:white-horse",
    ]
    expected = [
        0.9 * (1 + 0.2 * prior(90)),  # the seed
        0.9 * 0.5 * (1 + 0.2 * prior(80)),  # one hop
        0.9 * 0.5 * (1 + 0.2 * prior(60)),
        0.9 * 0.25 * (1 + 0.2 * prior(30)),  # two hops, via the album
    ]
    assert [c.score for c in found] == pytest.approx(expected, 1e-6)
    assert ids(build(hops=1), named("taylor swift")) == ["a:taylor", "t:love-story", "al:fearless"]
    assert "a:taylor" not in ids(build(include_seeds=False), named("taylor swift"))


def test_the_span_type_picks_among_same_named_entities() -> None:
    assert ids(build(), named("fearless", "album"))[0] == "al:fearless"
    assert ids(build(), named("fearless", "track"))[:2] == ["t:fearless", "a:other"]
    assert ids(build(), named("fearless", "podcast"))[0] == "al:fearless"  # no such type: any


def test_whole_query_seeds_without_a_tagger() -> None:
    assert ids(build(), plain_query("Taylor Swift"))[0] == "a:taylor"
    assert ids(build(whole_query_seeds=False), plain_query("taylor swift")) == []
    assert ids(build(), plain_query("taylor swift songs")) == []  # nothing seeds it


def test_links_resolve_when_targets_arrive_and_vanish_when_removed() -> None:
    retriever = build()
    assert "t:later" not in ids(retriever, named("fearless", "album"))
    retriever.add([entity("t:later", "track", "Later", 1)])
    assert "t:later" in ids(retriever, named("fearless", "album"))
    retriever.remove([EntityId("t:love-story")])
    assert "t:love-story" not in ids(retriever, named("taylor swift"))
    retriever.add([entity("t:love-story", "track", "Love Story", 80)])  # back, new row
    assert "t:love-story" in ids(retriever, named("taylor swift"))
    retriever.add([entity("a:taylor", "artist", "Taylor Swift", 90)])  # update: no links now
    assert ids(retriever, named("taylor swift")) == ["a:taylor"]


def test_save_load_round_trip(tmp_path: Path) -> None:
    retriever = build()
    retriever.add([entity("t:later", "track", "Later", 1)])
    retriever.remove([EntityId("t:fearless")])
    retriever.save(tmp_path / "r")
    loaded = RelatedRetriever.load(tmp_path / "r", config())
    for q in (named("taylor swift"), named("fearless", "album"), plain_query("white horse")):
        assert loaded.retrieve(q, Context(), 10) == retriever.retrieve(q, Context(), 10)
    loaded.add([entity("t:new", "track", "New", 1, "a:taylor")])
    assert ids(loaded, named("new", "track")) == [
        "t:new",
        "a:taylor",
        "t:love-story",
        "al:fearless",
    ]


@pytest.mark.parametrize("text", BAD_TEXT)
def test_bad_queries_never_crash(text: str) -> None:
    assert len(build().retrieve(plain_query(text), Context(), 10)) <= 10
    weird = UnderstoodQuery(
        raw=text, tokens=(), corrected_tokens=(), spans=(Span(3, 1, "entity", "", text, 2.0),)
    )
    assert build().retrieve(weird, Context(), 10) == []

"""The popular retriever: by tagged attributes and types, else by taste, else global."""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from ltrr.config import Config
from ltrr.retrieve import retriever_class
from ltrr.retrieve.base import Retriever
from ltrr.retrieve.popular import PopularParams, PopularRetriever
from ltrr.types import Context, Entity, EntityId
from ltrr.understand.base import Span, UnderstoodQuery, plain_query


def entity(i: str, kind: str, popularity: float, attributes: dict[str, Any]) -> Entity:
    return Entity(EntityId(i), kind, i.title(), {}, attributes, popularity)


CHILL, JAZZ = {"mood": {"chill": 1.0}}, {"genre": {"jazz": 1.0}}
CATALOG = [
    entity("p:chill", "playlist", 40, CHILL),
    entity("p:sunday", "playlist", 50, {**CHILL, **JAZZ}),
    entity("p:rock", "playlist", 70, {"genre": {"rock": 1.0}}),
    entity("t:chill", "track", 60, CHILL),
    entity("t:jazz", "track", 20, JAZZ),
    entity("a:star", "artist", 100, {"genre": {"pop": 1.0}}),
]
BAD_TEXT = ["", "   ", "x" * 10_000, "chill\x00\x07", "Лав 愛", "🎵🔥"]


def query(tokens: tuple[str, ...], *spans: Span) -> UnderstoodQuery:
    return UnderstoodQuery(
        raw=" ".join(tokens), tokens=tokens, corrected_tokens=tokens, spans=spans
    )


CHILL_PLAYLIST = query(
    ("chill", "playlist"),
    Span(0, 1, "attribute", "mood", "chill", 0.9),
    Span(1, 2, "type", "playlist", "playlist", 1.0),
)


def config(**overrides: Any) -> Config:
    return Config({"retrieve": {"popular": {**asdict(PopularParams()), **overrides}}})


def build(entities: list[Entity] = CATALOG, **overrides: Any) -> PopularRetriever:
    return PopularRetriever.build(entities, config(**overrides), catalog_version=1)


def ids(retriever: PopularRetriever, q: UnderstoodQuery, context: Context = Context()) -> list[str]:
    return [c.entity_id for c in retriever.retrieve(q, context, 10)]


def test_registered_and_implements_the_protocol() -> None:
    assert retriever_class("popular") is PopularRetriever
    retriever = build()
    assert isinstance(retriever, Retriever)
    assert (retriever.name, len(retriever)) == ("popular", 6)


def test_spans_give_the_most_popular_carriers() -> None:
    found = build().retrieve(CHILL_PLAYLIST, Context(), 10)
    assert [c.entity_id for c in found] == ["p:sunday", "p:chill"]
    assert found[0].score == pytest.approx((1 + math.log1p(50) / math.log1p(100)) / 2, 1e-6)
    jazz = query(("jazz",), Span(0, 1, "attribute", "genre", "jazz", 0.9))
    assert ids(build(), jazz) == ["p:sunday", "t:jazz"]


def test_taste_when_the_query_implies_nothing() -> None:
    taste = Context(taste={"chill": 0.9, "jazz": 0.1, "unknown": 1.0, "rock": -1.0})
    found = ids(build(), plain_query("something"), taste)
    assert found[0] == "p:sunday"  # carries both liked values
    assert set(found) == {"p:sunday", "t:chill", "p:chill", "t:jazz"}
    assert "p:rock" not in found  # disliked


def test_global_popularity_last() -> None:
    assert ids(build(), plain_query("anything")) == [
        "a:star", "p:rock", "t:chill", "p:sunday", "p:chill", "t:jazz",
    ]  # fmt: skip
    assert ids(build(global_fallback=False), plain_query("anything")) == []
    assert ids(build(), plain_query("")) == []


def test_add_remove_and_update_are_visible() -> None:
    retriever = build()
    retriever.add([entity("p:new", "playlist", 200, CHILL)])
    assert ids(retriever, CHILL_PLAYLIST)[0] == "p:new"
    assert ids(retriever, plain_query("x"))[0] == "p:new"
    retriever.remove([EntityId("p:new"), EntityId("a:star")])
    assert ids(retriever, plain_query("x"))[0] == "p:rock"
    retriever.add([entity("p:chill", "playlist", 40, {"mood": {"sad": 1.0}})])
    assert ids(retriever, CHILL_PLAYLIST) == ["p:sunday"]


def test_save_load_round_trip(tmp_path: Path) -> None:
    retriever = build()
    retriever.add([entity("p:new", "playlist", 30, CHILL)])
    retriever.remove([EntityId("p:rock")])
    retriever.save(tmp_path / "p")
    loaded = PopularRetriever.load(tmp_path / "p", config())
    taste = Context(taste={"jazz": 1.0})
    for q, ctx in (
        (CHILL_PLAYLIST, Context()),
        (plain_query("x"), taste),
        (plain_query("x"), Context()),
    ):
        assert loaded.retrieve(q, ctx, 10) == retriever.retrieve(q, ctx, 10)


@pytest.mark.parametrize("text", BAD_TEXT)
def test_bad_queries_never_crash(text: str) -> None:
    found = build().retrieve(plain_query(text), Context(taste={text: 1.0}), 3)
    assert len(found) <= 3
    assert [c.score for c in found] == sorted((c.score for c in found), reverse=True)

"""The structured retriever: attribute and type filters from tagged spans, then text match."""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from ltrr.config import Config
from ltrr.errors import StorageError
from ltrr.retrieve import retriever_class
from ltrr.retrieve.base import Retriever
from ltrr.retrieve.structured import StructuredParams, StructuredRetriever
from ltrr.types import Context, Entity, EntityId
from ltrr.understand.base import Span, UnderstoodQuery, plain_query


def entity(
    i: str, kind: str, title: str, popularity: float, attributes: dict[str, Any], **fields: str
) -> Entity:
    return Entity(EntityId(i), kind, title, fields, attributes, popularity)


CHILL, JAZZ = {"mood": {"chill": 1.0}}, {"genre": {"jazz": 1.0}}
CATALOG = [
    entity(
        "p:chill", "playlist", "Chill Vibes", 40, CHILL, description="Relaxed beats for studying"
    ),
    entity("p:sunday", "playlist", "Lazy Sunday", 50, {**CHILL, **JAZZ}),
    entity("p:rock", "playlist", "Rock Classics", 70, {"mood": {"energetic": 1.0}}),
    entity("p:half", "playlist", "Half Chill", 90, {"mood": {"chill": 0.5, "happy": 1.0}}),
    entity("t:chill", "track", "Chill Out", 60, CHILL, artist="Band"),
    entity("t:rnb", "track", "Slow Jam", 20, {"genre": {"R&B": 1.0}}, artist="Singer"),
    entity("a:miles", "artist", "Miles Davis", 80, JAZZ),
]
BAD_TEXT = ["", "   ", "x" * 10_000, "chill\x00\x07playlist", "Лав chill 愛", "🎵🔥"]


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
    return Config({"retrieve": {"structured": {**asdict(StructuredParams()), **overrides}}})


def build(entities: list[Entity] = CATALOG, **overrides: Any) -> StructuredRetriever:
    return StructuredRetriever.build(entities, config(**overrides), catalog_version=2)


def ids(retriever: StructuredRetriever, q: UnderstoodQuery, depth: int = 10) -> list[str]:
    return [c.entity_id for c in retriever.retrieve(q, Context(), depth)]


def test_registered_and_implements_the_protocol() -> None:
    assert retriever_class("structured") is StructuredRetriever
    retriever = build()
    assert isinstance(retriever, Retriever)
    assert (retriever.name, retriever.catalog_version, len(retriever)) == ("structured", 2, 7)


def test_chill_playlist_finds_chill_playlists_only() -> None:
    # full matches first by popularity, then the half-weight one; no track, no rock playlist
    assert ids(build(), CHILL_PLAYLIST) == ["p:sunday", "p:chill", "p:half"]


def test_hand_computed_score() -> None:
    # match 1 * (text_floor 0.3, no remaining tokens) * (1 + 0.5 * log1p(50) / log1p(90))
    found = build().retrieve(CHILL_PLAYLIST, Context(), 1)[0]
    assert found.score == pytest.approx(0.3 * (1 + 0.5 * math.log1p(50) / math.log1p(90)), 1e-5)


def test_remaining_tokens_are_matched_inside_the_filtered_set() -> None:
    q = query(
        ("chill", "playlist", "for", "studying"),
        Span(0, 1, "attribute", "mood", "chill", 0.9),
        Span(1, 2, "type", "playlist", "playlist", 1.0),
    )
    assert ids(build(), q)[0] == "p:chill"


def test_attributes_are_a_soft_and_and_types_a_hard_filter() -> None:
    q = query(
        ("chill", "jazz"),
        Span(0, 1, "attribute", "mood", "chill", 0.9),
        Span(1, 2, "attribute", "genre", "jazz", 0.9),
    )
    found = ids(build(), q)
    assert found[0] == "p:sunday"  # carries both
    assert set(found) == {"p:sunday", "p:chill", "t:chill", "p:half", "a:miles"}
    only_type = query(("playlist",), Span(0, 1, "type", "playlist", "playlist", 1.0))
    assert ids(build(), only_type) == ["p:half", "p:rock", "p:sunday", "p:chill"]


def test_readings_of_the_same_tokens_are_ored() -> None:
    # the tagger keeps both readings of "jazz chill" tokens: mood and genre for token 1
    q = query(
        ("jazz", "chill"),
        Span(0, 1, "attribute", "genre", "jazz", 0.9),
        Span(1, 2, "attribute", "mood", "chill", 0.9),
        Span(1, 2, "attribute", "genre", "chill", 0.5),  # no such genre: falls back to mood
    )
    found = build().retrieve(q, Context(), 10)
    assert found[0].entity_id == "p:sunday"
    assert found[0].score == pytest.approx(
        0.3 * (1 + 0.5 * math.log1p(50) / math.log1p(90)), 1e-5
    )  # both groups fully matched: match 1


def test_values_are_normalised_and_a_wrong_label_falls_back_to_the_value() -> None:
    rnb = query(("r", "b"), Span(0, 2, "attribute", "genre", "r&b", 0.8))
    assert ids(build(), rnb) == ["t:rnb"]
    wrong_label = query(("chill",), Span(0, 1, "attribute", "genre", "chill", 0.8))
    assert "p:sunday" in ids(build(), wrong_label)


@pytest.mark.parametrize(
    "q",
    [
        plain_query("chill playlist"),  # no spans at all
        query(("miles", "davis"), Span(0, 2, "entity", "artist", "miles davis", 0.9)),
        query(("polka",), Span(0, 1, "attribute", "genre", "polka", 0.9)),  # unknown value
        query(("podcast",), Span(0, 1, "type", "podcast", "podcast", 1.0)),  # unknown type
    ],
)
def test_no_usable_span_gives_nothing(q: UnderstoodQuery) -> None:
    assert build().retrieve(q, Context(), 10) == []


def test_add_remove_and_update_are_visible() -> None:
    retriever = build()
    retriever.add([entity("p:new", "playlist", "Night Chill", 99, CHILL)])
    assert ids(retriever, CHILL_PLAYLIST)[0] == "p:new"
    retriever.remove([EntityId("p:new"), EntityId("p:sunday")])
    assert ids(retriever, CHILL_PLAYLIST) == ["p:chill", "p:half"]
    retriever.add([entity("p:chill", "playlist", "Chill Vibes", 40, {"mood": {"sad": 1.0}})])
    assert ids(retriever, CHILL_PLAYLIST) == ["p:half"]


def test_save_load_round_trip(tmp_path: Path) -> None:
    retriever = build()
    retriever.add([entity("p:new", "playlist", "Night Chill", 99, CHILL)])
    retriever.remove([EntityId("p:rock")])
    retriever.save(tmp_path / "s")
    loaded = StructuredRetriever.load(tmp_path / "s", config())
    for q in (CHILL_PLAYLIST, query(("playlist",), Span(0, 1, "type", "playlist", "x", 1.0))):
        assert loaded.retrieve(q, Context(), 10) == retriever.retrieve(q, Context(), 10)
    with pytest.raises(StorageError, match="text_fields"):
        StructuredRetriever.load(tmp_path / "s", config(text_fields=["lyrics"]))


@pytest.mark.parametrize("text", BAD_TEXT)
def test_bad_queries_never_crash(text: str) -> None:
    plain = plain_query(text)
    assert build().retrieve(plain, Context(), 10) == []
    # spans pointing past the tokens, as a confused tagger might produce
    tagged = UnderstoodQuery(
        raw=text,
        tokens=plain.tokens,
        corrected_tokens=plain.corrected_tokens,
        spans=(Span(5, 9, "attribute", "mood", "chill", 0.9),),
    )
    found = build().retrieve(tagged, Context(), 3)
    assert len(found) == 3 and [c.score for c in found] == sorted(
        (c.score for c in found), reverse=True
    )

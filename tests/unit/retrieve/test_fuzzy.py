"""The fuzzy retriever on a small catalog: typos, partial titles, changes, save/load, bad input."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pytest

from ltrr.config import Config
from ltrr.errors import ConfigError, StorageError
from ltrr.retrieve import retriever_class
from ltrr.retrieve.base import Retriever
from ltrr.retrieve.fuzzy import FuzzyParams, FuzzyRetriever, TokenMatcher, TypoBudget, deletions
from ltrr.types import Context, Entity, EntityId
from ltrr.understand.base import UnderstoodQuery, plain_query


def entity(i: str, kind: str, title: str, popularity: float = 10.0, **fields: str) -> Entity:
    return Entity(EntityId(i), kind, title, fields, popularity=popularity)


CATALOG = [
    entity("a:taylor", "artist", "Taylor Swift", 90),
    entity("a:tyler", "artist", "Tyler Swiftly", 5),
    entity("a:beyonce", "artist", "Beyoncé", 85),
    entity("t:love-story", "track", "Love Story", 80, artist="Taylor Swift"),
    entity("t:love-story-aw", "track", "Love Story (Remastered 2011)", 20, artist="Andy Williams"),
    entity("t:story", "track", "Story", 30, artist="Someone Else"),
    entity("t:halo", "track", "Halo", 70, artist="Beyoncé"),
    entity("t:soul", "track", "Soul", 10, artist="Band"),
    entity("al:fearless", "album", "Fearless", 60, artist="Taylor Swift"),
]
BAD_QUERIES = [
    "",
    "   \t\n ",
    "love " * 2000,
    "x" * 10_000,
    "lo\x00ve\x07 st\x1bory\x7f",
    "Лав story 愛 قصة",
    "🎵🎶🔥 ❤️",
]


def config(**overrides: Any) -> Config:
    return Config({"retrieve": {"fuzzy": {**asdict(FuzzyParams()), **overrides}}})


def build(entities: list[Entity] = CATALOG, **overrides: Any) -> FuzzyRetriever:
    return FuzzyRetriever.build(entities, config(**overrides), catalog_version=3)


def ids(retriever: FuzzyRetriever, text: str, depth: int = 10) -> list[str]:
    return [c.entity_id for c in retriever.retrieve(plain_query(text), Context(), depth)]


def test_registered_and_implements_the_protocol() -> None:
    assert retriever_class("fuzzy") is FuzzyRetriever
    retriever = build()
    assert isinstance(retriever, Retriever)
    assert (retriever.name, retriever.catalog_version, len(retriever)) == ("fuzzy", 3, 9)


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("tayler swift", "a:taylor"),  # substitution in the artist's name
        ("beyonse", "a:beyonce"),  # the accent folds; "s" for "c"
        ("lvoe story", "t:love-story"),  # transposition (Damerau distance 1)
        ("love sto", "t:love-story"),  # partial: the last token is a prefix
        ("love story taylor swift", "t:love-story"),  # title + artist beats the other version
        ("halo beyonce", "t:halo"),
        ("fearles", "al:fearless"),
        ("sul", "t:soul"),  # an unknown three-letter token gets one edit
    ],
)
def test_concrete_hits(query: str, first: str) -> None:
    assert ids(build(), query)[0] == first


def test_reads_the_typed_tokens_not_the_corrected_ones() -> None:
    query = UnderstoodQuery(raw="tayler", tokens=("tayler",), corrected_tokens=("halo",))
    assert build().retrieve(query, Context(), 1)[0].entity_id == "a:taylor"


def test_sorted_bounded_and_empty_for_depth_zero() -> None:
    found = build().retrieve(plain_query("love story swift"), Context(), 3)
    assert len(found) == 3
    assert [c.score for c in found] == sorted((c.score for c in found), reverse=True)
    assert build().retrieve(plain_query("love"), Context(), 0) == []


def test_add_remove_and_update_are_visible() -> None:
    retriever = build()
    retriever.add([entity("t:new", "track", "Shake It Off", 50, artist="Taylor Swift")])
    assert ids(retriever, "shake it of")[0] == "t:new"
    retriever.remove([EntityId("a:taylor"), EntityId("unknown")])
    assert "a:taylor" not in ids(retriever, "taylor swift")
    retriever.add([entity("t:halo", "track", "Crazy in Love", 70, artist="Beyoncé")])
    assert "t:halo" not in ids(retriever, "halo")
    assert ids(retriever, "crazy in lvoe")[0] == "t:halo"
    assert len(retriever) == 9


@pytest.mark.parametrize("query", ["tayler swift", "lvoe story", "love", "shake it off"])
def test_save_load_round_trip(tmp_path: Path, query: str) -> None:
    retriever = build()
    retriever.add([entity("t:new", "track", "Shake It Off", 50, artist="Taylor Swift")])
    retriever.remove([EntityId("t:story")])
    retriever.save(tmp_path / "fuzzy")
    retriever.save(tmp_path / "fuzzy")  # a second save replaces the first whole
    loaded = FuzzyRetriever.load(tmp_path / "fuzzy", config())
    assert loaded.retrieve(plain_query(query), Context(), 10) == retriever.retrieve(
        plain_query(query), Context(), 10
    )
    assert (len(loaded), loaded.catalog_version) == (len(retriever), 3)
    loaded.add([entity("t:later", "track", "Later Song", 1, artist="X")])
    assert ids(loaded, "latr song")[0] == "t:later"


def test_load_refuses_other_index_params_and_missing_folders(tmp_path: Path) -> None:
    build().save(tmp_path / "fuzzy")
    with pytest.raises(StorageError, match="name_fields"):
        FuzzyRetriever.load(tmp_path / "fuzzy", config(name_fields=["artist", "album"]))
    with pytest.raises(StorageError, match="no fuzzy index"):
        FuzzyRetriever.load(tmp_path / "nothing", config())


def test_params_are_validated() -> None:
    with pytest.raises(ConfigError, match="n_rerank"):
        FuzzyParams(n_rerank=0)


@pytest.mark.parametrize("text", BAD_QUERIES)
def test_bad_queries_never_crash(text: str) -> None:
    found = build().retrieve(plain_query(text), Context(), 10)
    assert len(found) <= 10
    assert [c.score for c in found] == sorted((c.score for c in found), reverse=True)


def test_empty_catalog() -> None:
    assert build([]).retrieve(plain_query("love"), Context(), 10) == []


# -- the token matcher --------------------------------------------------------------------


def test_deletions_are_the_symspell_neighbourhood() -> None:
    assert deletions("abc", 1) == {"abc", "bc", "ac", "ab"}
    assert deletions("abc", 2) == {"abc", "bc", "ac", "ab", "a", "b", "c"}


def test_typo_budget_grows_with_length() -> None:
    budget = TypoBudget(4, 7, 3)
    assert [budget(n) for n in (2, 3, 4, 6, 7, 12)] == [0, 0, 1, 1, 2, 2]
    assert budget(3, known=False) == 1


def test_matcher_finds_neighbours_and_new_words() -> None:
    matcher = TokenMatcher.build(TypoBudget(4, 7, 3), 32, ["love", "story", "beyonce"])
    words = matcher.vocab.words
    assert [(words[k], d) for k, d in matcher.similar("lvoe")] == [("love", 1)]
    assert [(words[k], d) for k, d in matcher.similar("beyonse")] == [("beyonce", 1)]
    assert matcher.similar("x" * 40) == []
    matcher.add("glove")
    assert [words[k] for k, _ in matcher.similar("glovr")] == ["glove"]
    assert [words[k] for k in matcher.prefixed("sto", 5)] == ["story"]


def test_params_replace_keeps_defaults_valid() -> None:
    assert replace(FuzzyParams(), n_rerank=5).n_rerank == 5

"""The lexical retriever on a small catalog: hits, fields, prior, changes, save/load, bad input."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from ltrr.config import Config
from ltrr.errors import ConfigError, StorageError
from ltrr.retrieve import retriever_class
from ltrr.retrieve.base import Candidate, Retriever
from ltrr.retrieve.lexical import LexicalParams, LexicalRetriever
from ltrr.types import Context, Entity, EntityId
from ltrr.understand.base import UnderstoodQuery, plain_query

CATALOG = [
    Entity(EntityId("t1"), "track", "Love Story", {"artist": "Taylor Swift", "album": "Fearless"}),
    Entity(EntityId("t2"), "track", "Crazy in Love", {"artist": "Beyoncé"}),
    Entity(EntityId("t3"), "track", "Shake It Off", {"artist": "Taylor Swift"}),
    Entity(EntityId("d1"), "document", "Studies of sleep", {"text": "Cells divide at night."}),
    Entity(EntityId("d2"), "document", "Night shifts", {"text": "A study of sleep in nurses."}),
    Entity(EntityId("p1"), "playlist", "Don't Stop", {"description": "upbeat running songs"}),
]


def config(**overrides: Any) -> Config:
    return Config({"retrieve": {"lexical": {**asdict(LexicalParams()), **overrides}}})


def build(entities: list[Entity] = CATALOG, **overrides: Any) -> LexicalRetriever:
    return LexicalRetriever.build(entities, config(**overrides), catalog_version=7)


def ids(retriever: LexicalRetriever, text: str, depth: int = 10) -> list[str]:
    return [c.entity_id for c in retriever.retrieve(plain_query(text), Context(), depth)]


def test_registered_and_implements_the_protocol() -> None:
    assert retriever_class("lexical") is LexicalRetriever
    retriever = build()
    assert isinstance(retriever, Retriever)
    assert retriever.name == "lexical"
    assert retriever.catalog_version == 7
    assert len(retriever) == len(CATALOG)


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("love story", "t1"),
        ("beyonce crazy", "t2"),  # accent folded on both sides
        ("taylor swift fearless", "t1"),  # artist and album names are searched
        ("dont stop", "p1"),  # apostrophe dropped as by the shared tokenizer
        ("upbeat run", "p1"),  # other fields searched, "running" stemmed to "run"
        ("study sleep", "d1"),  # stemming: the title's "studies" meets "study"
    ],
)
def test_concrete_hits(query: str, first: str) -> None:
    assert ids(build(), query)[0] == first


def test_results_sorted_and_bounded_by_depth() -> None:
    found = build().retrieve(plain_query("love taylor swift sleep night"), Context(), 3)
    assert len(found) == 3
    scores = [c.score for c in found]
    assert scores == sorted(scores, reverse=True)
    assert build().retrieve(plain_query("love"), Context(), 0) == []


def test_retrieve_reads_the_corrected_tokens() -> None:
    typo = UnderstoodQuery(raw="tayler", tokens=("tayler",), corrected_tokens=("taylor",))
    assert set(c.entity_id for c in build().retrieve(typo, Context(), 10)) == {"t1", "t3"}


def test_title_boost_puts_title_matches_first() -> None:
    entities = [
        Entity(EntityId("a"), "document", "Other", {"text": "night"}),
        Entity(EntityId("b"), "document", "Night", {"text": "other"}),
    ]
    assert ids(build(entities), "night")[0] == "b"
    assert ids(build(entities, title_boost=0.0), "night") == [
        "a",
        "b",
    ]  # bare BM25: a tie, id order


def test_popularity_prior_orders_equal_text_and_vanishes_at_zero() -> None:
    same = [
        Entity(EntityId("rare"), "track", "Hello", popularity=0.0),
        Entity(EntityId("hit"), "track", "Hello", popularity=90.0),
    ]
    assert ids(build(same), "hello") == ["hit", "rare"]
    flat = build([Entity(EntityId(e.id), e.type, e.title) for e in same])
    prior_off = build(same, popularity_weight=0.0)
    query = plain_query("hello")
    assert [c.score for c in flat.retrieve(query, Context(), 2)] == [
        c.score for c in prior_off.retrieve(query, Context(), 2)
    ]
    hit = build(same).retrieve(query, Context(), 2)[0]
    assert hit.score == pytest.approx(
        flat.retrieve(query, Context(), 1)[0].score * (1 + 0.05 * 4.51086), rel=1e-4
    )


def test_add_replace_and_remove_are_visible() -> None:
    retriever = build()
    retriever.add([Entity(EntityId("t9"), "track", "Lover", {"artist": "Taylor Swift"})])
    assert "t9" in ids(retriever, "lover")
    retriever.add([Entity(EntityId("t1"), "track", "Enchanted", {"artist": "Taylor Swift"})])
    assert ids(retriever, "enchanted") == ["t1"]
    assert "t1" not in ids(retriever, "love story")
    retriever.remove([EntityId("t1"), EntityId("unknown")])
    assert ids(retriever, "enchanted") == []
    assert len(retriever) == len(CATALOG)  # +t9, -t1


def test_save_load_round_trip_and_copy_on_write(tmp_path: Path) -> None:
    retriever = build()
    retriever.save(tmp_path / "lexical")
    loaded = LexicalRetriever.load(tmp_path / "lexical", config())
    assert loaded.catalog_version == 7
    assert len(loaded) == len(retriever)
    for text in ("love story", "taylor", "sleep study", "night"):
        query = plain_query(text)
        assert loaded.retrieve(query, Context(), 10) == retriever.retrieve(query, Context(), 10)
    loaded.remove([EntityId("t1")])
    assert "t1" not in ids(loaded, "love story")
    again = LexicalRetriever.load(tmp_path / "lexical", config())
    assert ids(again, "love story")[0] == "t1"  # the change went to a private copy
    loaded.catalog_version = 8
    loaded.save(tmp_path / "lexical")  # replaces the folder it was loaded from
    reloaded = LexicalRetriever.load(tmp_path / "lexical", config())
    assert (reloaded.catalog_version, len(reloaded)) == (8, len(CATALOG) - 1)
    assert "t1" not in ids(reloaded, "love story")


def test_load_refuses_other_index_params_and_corruption(tmp_path: Path) -> None:
    build().save(tmp_path / "lexical")
    with pytest.raises(StorageError, match="stemmer = 'english', the config says 'french'"):
        LexicalRetriever.load(tmp_path / "lexical", config(stemmer="french"))
    LexicalRetriever.load(tmp_path / "lexical", config(title_boost=3.0))  # query-time only
    (tmp_path / "lexical" / "ids.json").write_text('["x"]')
    with pytest.raises(StorageError, match="checksum"):
        LexicalRetriever.load(tmp_path / "lexical", config())
    with pytest.raises(StorageError, match=r"no manifest\.json"):
        LexicalRetriever.load(tmp_path / "nothing", config())


def test_missing_section_falls_back_to_defaults_and_bad_params_are_named() -> None:
    assert LexicalRetriever.build(CATALOG, Config({}), catalog_version=0).params == LexicalParams()
    with pytest.raises(ConfigError, match="stemmer 'klingon'"):
        LexicalParams(stemmer="klingon")
    with pytest.raises(ConfigError, match="writer_heap_mb"):
        LexicalParams(writer_heap_mb=1)


BAD_QUERIES = [
    "",
    "   \t\n ",
    "love " * 2000,
    "lo\x00ve\x07 st\x1bory",
    "love история 愛 حب",
    "🎵🔥 love 💃",
    'title:love AND (story OR "',
    "* ? ~2 ^3 -love +story [a TO z]",
    "a" * 70_000,
]


@pytest.mark.parametrize("text", BAD_QUERIES, ids=range(len(BAD_QUERIES)))
def test_bad_queries_never_crash(text: str) -> None:
    found = build().retrieve(plain_query(text), Context(), 10)
    assert all(isinstance(c, Candidate) for c in found)
    assert len(found) <= 10
    if "love" in text:
        assert found and found[0].entity_id in {"t1", "t2"}


def test_empty_index_and_empty_update() -> None:
    retriever = build([])
    assert len(retriever) == 0
    assert ids(retriever, "love") == []
    retriever.add([])
    retriever.remove([])
    retriever.add(CATALOG[:1])
    assert ids(retriever, "love") == ["t1"]


def test_an_id_twice_in_one_batch_keeps_the_last_record() -> None:
    retriever = build([])
    retriever.add(
        [
            Entity(EntityId("x"), "track", "First Title", popularity=50.0),
            Entity(EntityId("x"), "track", "Second Title"),
        ]
    )
    assert len(retriever) == 1
    assert ids(retriever, "first") == []
    assert ids(retriever, "second title") == ["x"]
    retriever.remove([EntityId("x"), EntityId("x")])
    assert len(retriever) == 0
    assert ids(retriever, "second") == []

"""The catalog dictionaries: counts, names, attribute values, updates and persistence."""

from __future__ import annotations

from pathlib import Path

import pytest

from ltrr.errors import ConfigError
from ltrr.types import Entity, EntityId
from ltrr.understand.vocabulary import AttributeValue, Vocabulary, VocabularyParams


def _entity(
    id_: str,
    type_: str,
    title: str,
    fields: dict[str, str] | None = None,
    attributes: dict[str, dict[str, float]] | None = None,
) -> Entity:
    return Entity(EntityId(id_), type_, title, fields or {}, attributes or {})


CATALOG = [
    _entity("a1", "artist", "Taylor Swift", attributes={"genre": {"Pop": 1.0}}),
    _entity("t1", "track", "Love Story", {"artist": "Taylor Swift"}, {"genre": {"Pop": 1.0}}),
    _entity("t2", "track", "Crazy in Love", {"artist": "Beyoncé"}, {"genre": {"R&B": 1.0}}),
    _entity("p1", "playlist", "Hip Hop Party", attributes={"subgenre": {"Hip Hop": 0.7}}),
]


@pytest.fixture
def vocab() -> Vocabulary:
    v = Vocabulary(VocabularyParams())
    v.add(CATALOG)
    return v


def _state(v: Vocabulary) -> tuple[object, ...]:
    """Every count a query reads, keyed by text so that ids may differ."""
    return (
        {t: v.df_of(t) for t in v.tokens if v.df_of(t)},
        {n: v.name(n) for n in v.names if v.name(n)},
        {p: v.attribute_values(p) for p in v.attribute_phrases()},
        v.live_types(),
        len(v),
    )


@pytest.mark.parametrize(
    ("token", "df"),
    [("love", 2), ("taylor", 2), ("swift", 2), ("beyonce", 1), ("pop", 0), ("hop", 1), ("x", 0)],
)
def test_document_frequency_counts_titles_and_fields_once_per_entity(
    vocab: Vocabulary, token: str, df: int
) -> None:
    assert vocab.df_of(token) == df


def test_names_carry_types_and_name_fields(vocab: Vocabulary) -> None:
    info = vocab.name("taylor swift")
    assert info is not None
    assert info.label == "artist"
    assert dict(info.labels) == {"artist": 2}  # the artist's title and the track's artist field
    assert info.n_named == 2
    story = vocab.name("love story")
    assert story is not None and story.label == "track"
    assert vocab.name("swift") is None
    assert vocab.name_span("crazy") == 3


def test_attribute_values_keep_the_catalog_spelling(vocab: Vocabulary) -> None:
    assert vocab.attribute_values("r b") == [AttributeValue("genre", "R&B", 1)]
    assert vocab.attribute_values("pop") == [AttributeValue("genre", "Pop", 2)]
    assert vocab.attribute_values("hip hop") == [AttributeValue("subgenre", "Hip Hop", 1)]
    assert vocab.attribute_span("hip") == 2
    assert sorted(vocab.attribute_phrases()) == ["hip hop", "pop", "r b"]


def test_bigrams_come_from_names_and_values(vocab: Vocabulary) -> None:
    assert vocab.has_bigram("taylor", "swift")
    assert vocab.has_bigram("hip", "hop")
    assert not vocab.has_bigram("swift", "taylor")


def test_idf_is_scaled_and_highest_for_unknown_words(vocab: Vocabulary) -> None:
    assert 0 < vocab.idf("love") < vocab.idf("beyonce") < vocab.idf("unknown") == 1.0


def test_remove_takes_back_exactly_what_add_counted(vocab: Vocabulary) -> None:
    before = _state(vocab)
    extra = _entity("t9", "track", "Swift Love", {"artist": "Taylor Swift"}, {"mood": {"sad": 1}})
    vocab.add([extra])
    assert vocab.df_of("swift") == 3
    assert vocab.attribute_values("sad") == [AttributeValue("mood", "sad", 1)]
    vocab.remove([EntityId("t9"), EntityId("unknown")])
    assert _state(vocab) == before
    assert vocab.attribute_values("sad") == []


def test_add_replaces_an_entity_with_the_same_id(vocab: Vocabulary) -> None:
    vocab.add([_entity("t2", "track", "Halo", {"artist": "Beyoncé"})])
    assert vocab.name("crazy in love") is None
    assert vocab.name("halo") is not None
    assert vocab.df_of("crazy") == 0
    assert vocab.attribute_values("r b") == []
    assert len(vocab) == 4


def test_removing_the_last_entity_of_a_type(vocab: Vocabulary) -> None:
    vocab.remove([EntityId("p1")])
    assert "playlist" not in vocab.live_types()
    assert not vocab.has_bigram("hip", "hop")


def test_save_load_round_trip_and_compaction(vocab: Vocabulary, tmp_path: Path) -> None:
    vocab.remove([EntityId("t1")])
    vocab.add([_entity("t1", "track", "Blank Space", {"artist": "Taylor Swift"})])
    vocab.save(tmp_path)
    loaded = Vocabulary.load(tmp_path, vocab.params)
    assert _state(loaded) == _state(vocab)
    assert "t1" in loaded and "t9" not in loaded
    loaded.remove([EntityId("a1")])
    assert loaded.name("taylor swift") is not None  # still the artist field of t1
    assert loaded.df_of("taylor") == 1


def test_empty_vocabulary_round_trips(tmp_path: Path) -> None:
    empty = Vocabulary(VocabularyParams())
    empty.save(tmp_path)
    assert len(Vocabulary.load(tmp_path, empty.params)) == 0


def test_long_values_are_counted_but_not_tagged() -> None:
    v = Vocabulary(VocabularyParams(max_name_tokens=2))
    v.add([_entity("x", "track", "One Two Three", attributes={"topic": {"a b c": 1.0}})])
    assert v.name("one two three") is None
    assert v.attribute_values("a b c") == []


def test_bad_params_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="max_name_tokens"):
        VocabularyParams(max_name_tokens=0)

"""The tagger: entity names, attribute values, type words, confidences and overlaps."""

from __future__ import annotations

import pytest

from ltrr.errors import ConfigError
from ltrr.types import Entity, EntityId
from ltrr.understand.base import Span
from ltrr.understand.tagger import Tagger, TaggerParams, _resolve
from ltrr.understand.vocabulary import Vocabulary, VocabularyParams


def _e(id_: str, type_: str, title: str, **kw: object) -> Entity:
    return Entity(EntityId(id_), type_, title, **kw)  # type: ignore[arg-type]


def _a(**values: str) -> dict[str, dict[str, float]]:
    return {name: {value: 1.0} for name, value in values.items()}


CATALOG = [
    _e("a1", "artist", "Taylor Swift", attributes={"genre": {"pop": 1.0}}),
    _e("t1", "track", "Love Story", fields={"artist": "Taylor Swift"}),
    _e("t2", "track", "Love", fields={"artist": "Someone"}),
    _e("t3", "track", "Love Me Do", fields={"artist": "The Beatles"}),
    _e("t4", "track", "Crazy in Love", fields={"artist": "Beyonce"}),
    _e("t5", "track", "Jazz", fields={"artist": "Someone"}),
    _e("p1", "playlist", "Chill Jazz Evenings", attributes=_a(genre="jazz", mood="chill")),
    _e("p2", "playlist", "Rap Caviar", attributes=_a(genre="hip hop", subgenre="rock")),
    _e("p3", "playlist", "Rock Classics", attributes=_a(genre="rock")),
]  # fmt: skip


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    v = Vocabulary(VocabularyParams())
    v.add(CATALOG)
    return v


def _tag(tagger: Tagger, text: str, distances: list[int] | None = None) -> list[tuple[object, ...]]:
    tokens = text.split()
    spans = tagger.tag(tokens, distances or [0] * len(tokens))
    return [(s.start, s.end, s.kind, s.label, s.value) for s in spans]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            "chill jazz playlist",
            [(0, 1, "attribute", "mood", "chill"), (1, 2, "attribute", "genre", "jazz"),
             (2, 3, "type", "playlist", "playlist")],
        ),
        (
            "songs by taylor swift",
            [(0, 2, "type", "track", "track"), (2, 4, "entity", "artist", "taylor swift")],
        ),
        ("taylor swift love story", [(0, 2, "entity", "artist", "taylor swift"),
                                     (2, 4, "entity", "track", "love story")]),
        ("hip hop", [(0, 2, "attribute", "genre", "hip hop")]),
        ("crazy in love", [(0, 3, "entity", "track", "crazy in love")]),
        ("rock", [(0, 1, "attribute", "genre", "rock"), (0, 1, "attribute", "subgenre", "rock")]),
        ("podcast", []),  # the catalog has no podcast: not a type word here
        ("albums", []),
        ("tracks", [(0, 1, "type", "track", "track")]),
        ("artists", [(0, 1, "type", "artist", "artist")]),
        ("", []),
        ("zzz qqq", []),
    ],
)  # fmt: skip
def test_spans(vocab: Vocabulary, query: str, expected: list[tuple[object, ...]]) -> None:
    assert _tag(Tagger(vocab, TaggerParams()), query) == expected


def test_attribute_beats_a_one_word_title_of_the_same_tokens(vocab: Vocabulary) -> None:
    spans = Tagger(vocab, TaggerParams()).tag(["jazz"], [0])
    assert [(s.kind, s.label) for s in spans] == [("attribute", "genre")]


def test_entity_confidence_from_specificity_length_coverage_and_corrections(
    vocab: Vocabulary,
) -> None:
    tagger = Tagger(vocab, TaggerParams())
    (swift,) = tagger.tag(["taylor", "swift"], [0, 0])
    # specificity = 2 named / df("taylor") 2 = 1: 0.2 + 0.4 * 1 + 0.2 * (1 - 1/2) + 0.2 * 2/2
    assert swift.confidence == pytest.approx(0.9)
    (corrected,) = tagger.tag(["taylor", "swift"], [1, 0])
    assert corrected.confidence == pytest.approx(0.9 * 0.85)
    (love,) = tagger.tag(["love"], [0])
    # "love" names 1 entity but 4 hold the word: 0.2 + 0.4 * 1/4 + 0 + 0.2 * 1
    assert love.kind == "entity" and love.confidence == pytest.approx(0.5)
    assert love.confidence < swift.confidence


def test_low_confidence_spans_are_dropped(vocab: Vocabulary) -> None:
    strict = Tagger(vocab, TaggerParams(min_confidence=0.6))
    assert strict.tag(["love"], [0]) == ()


def test_type_words_are_configurable_per_domain() -> None:
    v = Vocabulary(VocabularyParams())
    v.add([_e("d1", "paper", "Deep Learning"), _e("d2", "dataset", "ImageNet")])
    params = TaggerParams(type_words=(("papers", "paper"), ("data set", "dataset")))
    tagger = Tagger(v, params)
    assert _tag(tagger, "data set papers") == [
        (0, 2, "type", "dataset", "dataset"),
        (2, 3, "type", "paper", "paper"),
    ]
    assert _tag(tagger, "datasets") == [(0, 1, "type", "dataset", "dataset")]  # catalog types
    assert _tag(Tagger(v, TaggerParams(catalog_type_words=False)), "datasets") == []


def test_a_single_type_catalog_has_no_type_words() -> None:
    v = Vocabulary(VocabularyParams())
    v.add([_e("d1", "document", "Deep Learning")])
    assert Tagger(v, TaggerParams()).type_phrases == {}


def test_refresh_follows_catalog_types() -> None:
    v = Vocabulary(VocabularyParams())
    v.add([_e("a", "artist", "X"), _e("t", "track", "Y")])
    tagger = Tagger(v, TaggerParams())
    assert "podcast" not in tagger.type_phrases
    v.add([_e("p", "podcast", "Z")])
    tagger.refresh()
    assert tagger.type_phrases["podcasts"] == "podcast"


def test_overlaps_prefer_longer_then_more_confident() -> None:
    spans = [
        Span(0, 1, "entity", "track", "a", 0.9),
        Span(0, 2, "entity", "artist", "a b", 0.5),
        Span(1, 3, "attribute", "genre", "b c", 0.95),
        Span(2, 3, "type", "track", "track", 0.95),
        Span(2, 3, "entity", "track", "c", 0.3),
    ]
    # (1, 3) beats (0, 2) on confidence at equal length; both beat the one-token spans inside
    assert [(s.start, s.end, s.kind) for s in _resolve(spans)] == [
        (0, 1, "entity"),
        (1, 3, "attribute"),
    ]
    assert [(s.start, s.end) for s in _resolve(spans[:2] + spans[3:])] == [(0, 2), (2, 3)]


def test_type_words_must_be_pairs() -> None:
    with pytest.raises(ConfigError, match="type_words"):
        TaggerParams(type_words=(("playlist",),))  # type: ignore[arg-type]
    params = TaggerParams(type_words=[["songs by", "track"]])  # type: ignore[arg-type]
    assert params.type_words == (("songs by", "track"),)

"""QueryUnderstander end to end on a small synthetic music catalog."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

import pytest

from ltrr.config import Config
from ltrr.errors import StorageError
from ltrr.types import Entity, EntityId
from ltrr.understand.base import INTENTS, UnderstoodQuery
from ltrr.understand.features import FEATURE_NAMES
from ltrr.understand.understander import QueryUnderstander, UnderstandSettings

CONFIG = Config({})


def _e(id_: str, type_: str, title: str, artist: str = "", **attributes: str) -> Entity:
    return Entity(
        EntityId(id_),
        type_,
        title,
        {"artist": artist} if artist else {},
        {name: {value: 1.0} for name, value in attributes.items()},
    )


CATALOG = [
    _e("a1", "artist", "Taylor Swift", genre="pop"),
    _e("a2", "artist", "Beyoncé", genre="r&b"),
    _e("a3", "artist", "Queen", genre="rock"),
    _e("a4", "artist", "Tyler Childers", genre="country"),
    _e("t1", "track", "Shake It Off", "Taylor Swift", genre="pop", mood="happy"),
    _e("t2", "track", "Love Story", "Taylor Swift", genre="pop", mood="happy"),
    _e("t3", "track", "Crazy in Love", "Beyoncé", genre="r&b", mood="happy"),
    _e("t4", "track", "Bohemian Rhapsody", "Queen", genre="rock", mood="intense"),
    _e("t5", "track", "Love", "Someone", genre="pop", mood="sad"),
    _e("t6", "track", "Endless Love", "Someone Else", genre="pop", mood="sad"),
    _e("t7", "track", "Love Me Do", "The Beatles", genre="rock", mood="happy"),
    _e("t8", "track", "All You Need Is Love", "The Beatles", genre="rock", mood="happy"),
    _e("t9", "track", "Lady Tyler", "Tyler Childers", genre="country", mood="sad"),
    _e("p1", "playlist", "Chill Jazz Evenings", genre="jazz", mood="chill"),
    _e("p2", "playlist", "Hip Hop Party", genre="hip hop", mood="happy"),
    _e("p3", "playlist", "Late Night Jazz", genre="jazz", mood="chill"),
    _e("c1", "podcast", "Murder Weekly", topic="true crime", language="english"),
]


@pytest.fixture
def understander() -> QueryUnderstander:
    return QueryUnderstander.build(CATALOG, CONFIG, catalog_version=3)


def _spans(q: UnderstoodQuery) -> list[tuple[int, int, str, str, str]]:
    return [(s.start, s.end, s.kind, s.label, s.value) for s in q.spans]


@pytest.mark.parametrize(
    ("raw", "corrected", "distance"),
    [
        ("tayler swift", "taylor swift", 1),
        ("Beyonse", "beyonce", 1),
        ("bohemian rapsody", "bohemian rhapsody", 1),
        ("kwin", "queen", 4),
        ("chil jazz playlsit", "chill jazz playlist", 2),
        ("chill jaz", "chill jaz", 0),  # three characters: no edit allowed
        ("Taylor Swift", "taylor swift", 0),
        ("love", "love", 0),  # a known word is never corrected
        ("tyler", "tyler", 0),
        ("teh", "teh", 0),  # too short for any edit
        ("truecrime", "truecrime", 0),
    ],
)
def test_corrections(
    understander: QueryUnderstander, raw: str, corrected: str, distance: int
) -> None:
    q = understander.understand(raw)
    assert q.corrected == corrected
    assert q.correction_distance == distance


@pytest.mark.parametrize(
    ("raw", "spans"),
    [
        ("chill jazz playlist", [(0, 1, "attribute", "mood", "chill"),
                                 (1, 2, "attribute", "genre", "jazz"),
                                 (2, 3, "type", "playlist", "playlist")]),
        ("songs by taylor swift", [(0, 2, "type", "track", "track"),
                                   (2, 4, "entity", "artist", "taylor swift")]),
        ("tayler swift songs", [(0, 2, "entity", "artist", "taylor swift"),
                                (2, 3, "type", "track", "track")]),
        ("true crime podcasts", [(0, 2, "attribute", "topic", "true crime"),
                                 (2, 3, "type", "podcast", "podcast")]),
        ("r&b", [(0, 2, "attribute", "genre", "r&b")]),
        ("love story taylor swift", [(0, 2, "entity", "track", "love story"),
                                     (2, 4, "entity", "artist", "taylor swift")]),
    ],
)  # fmt: skip
def test_tagging(understander: QueryUnderstander, raw: str, spans: list[tuple[object]]) -> None:
    assert _spans(understander.understand(raw)) == spans


@pytest.mark.parametrize(
    ("raw", "intent"),
    [
        ("bohemian rhapsody", "spearfish"),
        ("Taylor Swift", "spearfish"),
        ("tayler swift", "spearfish"),
        ("songs by taylor swift", "spearfish"),
        ("chill playlist", "topic"),
        ("jazz", "topic"),
        ("hip hop party playlists", "spearfish"),  # a playlist's exact title
        ("love", "broad"),
        ("something else entirely", "broad"),
    ],
)
def test_intent(understander: QueryUnderstander, raw: str, intent: str) -> None:
    q = understander.understand(raw)
    assert q.intent == intent
    assert set(q.intent_scores) == set(INTENTS)
    assert sum(q.intent_scores.values()) == pytest.approx(1.0)
    assert max(q.intent_scores, key=q.intent_scores.__getitem__) == intent


def test_every_field_is_filled(understander: QueryUnderstander) -> None:
    q = understander.understand("  Songs by TAYLER Swift! ")
    assert q.raw == "  Songs by TAYLER Swift! "
    assert q.tokens == ("songs", "by", "tayler", "swift")
    assert q.corrected_tokens == ("songs", "by", "taylor", "swift")
    assert q.feature_names == FEATURE_NAMES
    assert len(q.features) == len(FEATURE_NAMES)
    features = dict(zip(q.feature_names, q.features, strict=True))
    assert features["correction_distance"] == 1.0 and features["has_type"] == 1.0
    assert features["oov_share"] == 0.25 and features["tagged_coverage"] == 1.0


BAD_INPUTS = [
    "",
    "   \t\n ",
    "x" * 10_000,
    "love " * 2_000,
    "\x00\x01\x07tay\x1bler\x7f swift",
    "Тейлор Swift 泰勒·斯威夫特 テイラー",
    "🎵🔥💃",
    "taylor 🎵 swift",
    "\ud800 lone surrogate \udfff",
    "\u202eevol\u202c \u200b\u200d",
    "e\u0301\u0301\u0301",
    "مرحبا بالعالم",
    "''' \" ; DROP TABLE --",
    "1999 2 22",
]


@pytest.mark.parametrize("raw", BAD_INPUTS, ids=range(len(BAD_INPUTS)))
def test_bad_input_gives_a_sensible_query(understander: QueryUnderstander, raw: str) -> None:
    q = understander.understand(raw)
    assert q.raw == raw
    assert len(q.tokens) <= 64 and len(q.corrected_tokens) == len(q.tokens)
    assert len(q.features) == len(FEATURE_NAMES)
    assert all(v == v and abs(v) < 1e6 for v in q.features)  # finite, no NaN
    assert sum(q.intent_scores.values()) == pytest.approx(1.0)
    assert all(0 <= s.start < s.end <= len(q.tokens) for s in q.spans)
    assert all(0.0 <= s.confidence <= 1.0 for s in q.spans)


def test_empty_query(understander: QueryUnderstander) -> None:
    q = understander.understand("🎵 !!")
    assert q.is_empty and q.intent == "broad" and q.spans == ()


def test_long_queries_are_capped(understander: QueryUnderstander) -> None:
    assert len(understander.understand("love " * 2_000).tokens) == 64
    small = QueryUnderstander.build(
        CATALOG, Config({"understand": {"max_query_chars": 12, "max_tokens": 2, "spelling": True}}),
        catalog_version=0,
    )  # fmt: skip
    assert small.understand("taylor swift love story").tokens == ("taylor", "swift")
    assert small.understand("a b c d e f").tokens == ("a", "b")


def test_add_and_remove_update_every_dictionary(understander: QueryUnderstander) -> None:
    assert understander.understand("olivia rodrgo").corrected == "olivia rodrgo"
    assert understander.understand("shoegaze").spans == ()
    understander.add(
        [
            _e("a9", "artist", "Olivia Rodrigo", genre="pop"),
            _e("t99", "track", "Drivers License", "Olivia Rodrigo", genre="shoegaze"),
            _e("b1", "audiobook", "Dune"),
        ]
    )
    assert len(understander) == len(CATALOG) + 3
    q = understander.understand("olivia rodrgo")
    assert q.corrected == "olivia rodrigo"
    assert _spans(q) == [(0, 2, "entity", "artist", "olivia rodrigo")]
    assert _spans(understander.understand("shoegaze")) == [(0, 1, "attribute", "genre", "shoegaze")]
    assert _spans(understander.understand("audiobooks")) == [
        (0, 1, "type", "audiobook", "audiobook")
    ]
    understander.remove([EntityId("a9"), EntityId("t99"), EntityId("b1"), EntityId("nope")])
    assert len(understander) == len(CATALOG)
    assert understander.understand("olivia rodrgo").spans == ()
    assert understander.understand("shoegaze").spans == ()
    assert understander.understand("audiobooks").spans == ()


def test_removing_every_podcast_retires_the_type_word(understander: QueryUnderstander) -> None:
    understander.remove([EntityId("c1")])
    assert [s.kind for s in understander.understand("podcast").spans] == []


QUERIES = ["tayler swift", "chil jazz playlsit", "love", "kwin", "songs by beyonse", ""]


def test_save_load_round_trip(understander: QueryUnderstander, tmp_path: Path) -> None:
    understander.add([_e("a9", "artist", "Olivia Rodrigo", genre="pop")])  # pending in index
    understander.save(tmp_path / "understand")
    loaded = QueryUnderstander.load(tmp_path / "understand", CONFIG)
    assert loaded.catalog_version == 3 and len(loaded) == len(understander)
    for raw in [*QUERIES, "olivia rodrgo"]:
        assert loaded.understand(raw) == understander.understand(raw)
    loaded.remove([EntityId("a9")])
    loaded.save(tmp_path / "understand")  # replaces the earlier save whole
    again = QueryUnderstander.load(tmp_path / "understand", CONFIG)
    assert again.understand("olivia rodrgo").spans == ()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["understand"]


def test_load_rebuilds_the_spelling_index_when_its_params_change(
    understander: QueryUnderstander, tmp_path: Path
) -> None:
    understander.save(tmp_path / "u")
    spell = {**asdict(UnderstandSettings().spell), "prefix_chars": 5}
    config = Config({"understand": {**asdict(UnderstandSettings().understand), "spell": spell}})
    loaded = QueryUnderstander.load(tmp_path / "u", config)
    assert loaded.settings.spell.prefix_chars == 5
    assert loaded.understand("bohemian rapsody").corrected == "bohemian rhapsody"


def test_load_refuses_corrupt_or_foreign_folders(
    understander: QueryUnderstander, tmp_path: Path
) -> None:
    with pytest.raises(StorageError, match="no manifest"):
        QueryUnderstander.load(tmp_path, CONFIG)
    understander.save(tmp_path / "u")
    (tmp_path / "u" / "vocabulary.json").write_bytes(b"{}")
    with pytest.raises(StorageError, match="corrupt"):
        QueryUnderstander.load(tmp_path / "u", CONFIG)


def test_build_reports_progress_and_reads_config_sections() -> None:
    seen: list[int] = []
    defaults = UnderstandSettings()
    toml_like = {  # as tomllib reads it: lists, not tuples
        "understand": {
            **asdict(defaults.understand),
            "spelling": False,
            "tagger": {**asdict(defaults.tagger), "type_words": [["tunes", "track"]]},
        }
    }
    u = QueryUnderstander.build(
        iter(CATALOG), Config(toml_like), catalog_version=1, on_progress=seen.append
    )
    assert seen[-1] == len(CATALOG)
    assert u.understand("tayler swift").corrected == "tayler swift"  # spelling off
    assert _spans(u.understand("tunes"))[0][2:4] == ("type", "track")
    assert u.settings == replace(
        defaults,
        understand=replace(defaults.understand, spelling=False),
        tagger=replace(defaults.tagger, type_words=(("tunes", "track"),)),
    )

"""The demo catalog: exact size, determinism, closed links, long tail, coherent facets."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ltrr.catalog import demo, demo_names
from ltrr.catalog.demo import ENTITY_TYPES, generate_demo_catalog, type_counts
from ltrr.catalog.model import entity_from_record
from ltrr.config import load_config
from ltrr.types import Entity

_START_S, _END_S = 946_684_800.0, 1_767_225_600.0  # 2000-01-01, 2026-01-01


@pytest.fixture(scope="module")
def catalog() -> list[Entity]:
    return list(generate_demo_catalog(5000, seed=11))


@pytest.fixture(scope="module")
def by_id(catalog: list[Entity]) -> dict[str, Entity]:
    return {e.id: e for e in catalog}


def _check_closed(entities: list[Entity]) -> None:
    ids = [e.id for e in entities]
    assert len(set(ids)) == len(ids)
    known = set(ids)
    assert all(r in known for e in entities for r in e.related)


@settings(max_examples=30, deadline=None)
@given(size=st.integers(1, 400), seed=st.integers(0, 2**32 - 1))
def test_exact_size_closed_links_and_deterministic(size: int, seed: int) -> None:
    first = list(generate_demo_catalog(size, seed))
    assert len(first) == size
    assert Counter(e.type for e in first) == {t: n for t, n in type_counts(size).items() if n}
    _check_closed(first)
    assert list(generate_demo_catalog(size, seed)) == first


@pytest.mark.parametrize("size", [5, 50, 51, 400])
def test_every_type_present(size: int) -> None:
    assert {e.type for e in generate_demo_catalog(size, seed=3)} == set(ENTITY_TYPES)


@pytest.mark.parametrize(("size", "types"), [(1, ["artist"]), (3, ["artist", "album", "track"])])
def test_tiny_catalogs_fill_types_in_order(size: int, types: list[str]) -> None:
    assert [e.type for e in generate_demo_catalog(size, seed=0)] == types


def test_type_shares_of_a_million() -> None:
    assert type_counts(1_000_000) == {
        "artist": 60_000,
        "album": 120_000,
        "track": 750_000,
        "playlist": 50_000,
        "podcast": 20_000,
    }


def test_seeds_differ() -> None:
    a = [e.title for e in generate_demo_catalog(200, seed=1)]
    b = [e.title for e in generate_demo_catalog(200, seed=2)]
    assert a != b


@pytest.mark.parametrize(
    ("size", "seed"), [(0, 1), (-5, 1), (True, 1), (10, -1), (10, True), (2.5, 1)]
)
def test_bad_arguments_raise_value_error(size: object, seed: object) -> None:
    with pytest.raises(ValueError, match="must be an integer"):
        generate_demo_catalog(size, seed)  # type: ignore[arg-type]


def test_streams_lazily() -> None:
    stream = generate_demo_catalog(1_000_000, seed=7)
    assert isinstance(stream, Iterator)
    assert next(stream).id == "artist:000000"


def test_many_blocks_keep_links_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo, "BLOCK_ARTISTS", 7)
    entities = list(generate_demo_catalog(3000, seed=5))
    assert len(entities) == 3000
    _check_closed(entities)


def test_ids_are_readable(catalog: list[Entity]) -> None:
    pattern = re.compile(r"(artist|album|playlist|podcast):\d{6}|track:\d{7}")
    assert all(pattern.fullmatch(e.id) and e.id.startswith(e.type) for e in catalog)


def test_popularity_is_long_tailed(catalog: list[Entity]) -> None:
    pop = np.sort([e.popularity for e in catalog])[::-1]
    assert pop.min() >= 0 and pop.max() <= 100
    assert pop[: len(pop) // 10].sum() > 0.4 * pop.sum()
    assert np.median(pop) < 0.7 * pop.mean()


def test_artists_drive_their_tracks_popularity(
    catalog: list[Entity], by_id: dict[str, Entity]
) -> None:
    tracks = [e for e in catalog if e.type == "track"]
    artist_pop = [by_id[t.related[0]].popularity for t in tracks]
    assert np.corrcoef(np.log1p(artist_pop), np.log1p([t.popularity for t in tracks]))[0, 1] > 0.6


def test_common_words_recur(catalog: list[Entity]) -> None:
    words = Counter(w for e in catalog for w in set(re.findall(r"[a-z']+", e.title.lower())))
    assert words["love"] > 200
    assert words["night"] > 100
    assert len([w for w, n in words.items() if n >= 20]) > 50


def test_attribute_shapes(catalog: list[Entity]) -> None:
    vocab = {
        "genre": set(demo_names.GENRES),
        "subgenre": {s for subs in demo_names.SUBGENRES.values() for s in subs},
        "mood": set(demo_names.MOODS),
        "language": set(demo_names.LANGUAGES),
        "topic": set(demo_names.TOPICS),
    }
    expected = {
        "artist": {"genre", "subgenre", "mood", "language"},
        "album": {"genre", "subgenre", "mood", "language"},
        "track": {"genre", "subgenre", "mood", "language"},
        "podcast": {"topic", "language"},
    }
    for e in catalog:
        names = set(e.attributes)
        if e.type == "playlist":
            assert names and names <= {"genre", "mood"}
        else:
            assert names == expected[e.type]
        for name, values in e.attributes.items():
            assert values and set(values) <= vocab[name]
            assert all(isinstance(w, float) and 0.0 <= w <= 1.0 for w in values.values())
            assert max(values.values()) == 1.0


def test_tracks_and_albums_follow_their_artist(
    catalog: list[Entity], by_id: dict[str, Entity]
) -> None:
    for e in catalog:
        if e.type not in ("track", "album"):
            continue
        artist = by_id[e.related[0]]
        assert artist.type == "artist" and e.fields["artist"] == artist.title
        primary = max(e.attributes["genre"].items(), key=lambda kv: kv[1])[0]
        assert artist.attributes["genre"] == {primary: 1.0}
        assert e.attributes["language"] == artist.attributes["language"]
        assert set(e.attributes["subgenre"]) <= set(artist.attributes["subgenre"])
        if e.type == "track":
            album = by_id[e.related[1]]
            assert album.type == "album" and e.fields["album"] == album.title
            assert e.id in album.related or len(album.related) == demo.MAX_ALBUM_RELATED


def test_artists_link_their_albums_and_tracks(
    catalog: list[Entity], by_id: dict[str, Entity]
) -> None:
    for e in (x for x in catalog if x.type == "artist"):
        assert 0 < len(e.related) <= demo.MAX_ARTIST_RELATED
        assert all(by_id[r].related[0] == e.id for r in e.related)


def test_playlists_name_their_facets_and_hold_matching_tracks(
    catalog: list[Entity], by_id: dict[str, Entity]
) -> None:
    n_matching = n_tracks = 0
    for e in (x for x in catalog if x.type == "playlist"):
        assert e.fields["description"].endswith(".")
        assert 0 < len(e.related) <= 50 and len(e.related) == len(set(e.related))
        for name, values in e.attributes.items():
            (value,) = values
            assert demo_names.label(value) in e.title
            for r in e.related:
                assert by_id[r].type == "track"
                n_tracks += 1
                n_matching += value in by_id[r].attributes[name]
    assert n_matching > 0.7 * n_tracks


def test_podcasts_have_topic_and_description(catalog: list[Entity]) -> None:
    podcasts = [e for e in catalog if e.type == "podcast"]
    assert podcasts and all(len(e.fields["description"].split()) >= 5 for e in podcasts)


def test_added_at_spans_the_years(catalog: list[Entity]) -> None:
    added = np.array([e.added_at_s for e in catalog], dtype=np.float64)
    assert added.min() >= _START_S and added.max() < _END_S
    assert np.ptp(added) > 15 * 365 * 86_400


def test_every_entity_round_trips_through_validation(catalog: list[Entity]) -> None:
    config = load_config().catalog
    for e in catalog:
        assert entity_from_record(e.to_record(), config) == e


@pytest.mark.parametrize(
    "name",
    [
        "title_nouns", "title_adjectives", "title_verbs", "first_names", "surnames",
        "band_nouns", "cities", "playlist_suffixes", "playlist_activities", "playlist_times",
        "occasions",
    ],
)  # fmt: skip
def test_word_lists_are_clean(name: str) -> None:
    words = demo_names.words(name)
    entries = list(words.lower)
    assert entries and len(set(entries)) == len(entries)
    assert all(e == e.strip() and e for e in entries)
    assert np.isclose(words.p.sum(), 1.0) and np.all(np.diff(words.p) <= 0)


def test_title_vocabulary_is_large() -> None:
    lists = ("title_nouns", "title_adjectives", "title_verbs")
    assert sum(len(demo_names.words(n).lower) for n in lists) >= 400

"""The Spotify songs loader, on the real TidyTuesday file and on small hand-written CSVs."""

from __future__ import annotations

import csv
import dataclasses
import gzip
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ltrr.catalog.model import entity_from_record
from ltrr.catalog.sources import Parsed
from ltrr.catalog.spotify import (
    REQUIRED_COLUMNS,
    artist_slug,
    load_spotify,
    mood,
    release_time,
)
from ltrr.config import CatalogConfig, load_config
from ltrr.errors import CatalogError
from ltrr.types import Entity

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared"
SPOTIFY = SHARED / "datasets" / "spotify-songs-tidytuesday-2020" / "spotify_songs.csv.gz"

#: The five rows of the real file whose track_name (and artist and album) is R's ``NA``.
NA_LINES = [8153, 9284, 9285, 19570, 19813]

HEADER = [*REQUIRED_COLUMNS, "danceability"]


@pytest.fixture(scope="module")
def config() -> CatalogConfig:
    return load_config().catalog


def _row(track_id: str = "t1", **cells: str) -> dict[str, str]:
    row = {
        "track_id": track_id,
        "track_name": f"Song {track_id}",
        "track_artist": "Some Artist",
        "track_popularity": "50",
        "track_album_id": "al1",
        "track_album_name": "Some Album",
        "track_album_release_date": "2019-06-14",
        "playlist_name": "Mix",
        "playlist_id": "p1",
        "playlist_genre": "pop",
        "playlist_subgenre": "dance pop",
        "energy": "0.9",
        "valence": "0.8",
        "danceability": "0.5",
    }
    row.update(cells)
    return row


def _write(path: Path, rows: list[dict[str, str]], header: list[str] = HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def _split(parsed: list[Parsed]) -> tuple[dict[str, Entity], list[Parsed]]:
    entities: dict[str, Entity] = {
        p.result.id: p.result for p in parsed if isinstance(p.result, Entity)
    }
    errors = [p for p in parsed if isinstance(p.result, CatalogError)]
    return entities, errors


def _error(parsed: Parsed) -> CatalogError:
    assert isinstance(parsed.result, CatalogError)
    return parsed.result


# --- the real file -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real(config: CatalogConfig) -> list[Parsed]:
    return list(load_spotify(SPOTIFY, config))


needs_shared = pytest.mark.skipif(
    not SPOTIFY.is_file(), reason=f"the shared Spotify data set is absent ({SPOTIFY})"
)


@needs_shared
def test_real_file_counts_by_type(real: list[Parsed]) -> None:
    entities, errors = _split(real)
    assert Counter(e.type for e in entities.values()) == {
        "track": 28_352,  # 28,356 distinct track_id minus 4 whose name is NA (5 rows)
        "artist": 10_679,  # 10,693 distinct names minus "NA" minus 13 case/punctuation twins
        "album": 22_543,  # 22,545 distinct album ids minus 2 that only NA rows carry
        "playlist": 471,
    }
    assert len(entities) == sum(isinstance(p.result, Entity) for p in real)  # ids are unique
    assert len(errors) == len(NA_LINES)


@needs_shared
def test_real_file_reports_every_na_row(real: list[Parsed]) -> None:
    _, errors = _split(real)
    assert [p.line for p in errors] == NA_LINES
    for parsed in errors:
        error = _error(parsed)
        assert (error.path, error.line, error.field) == (str(SPOTIFY), parsed.line, "track_name")
        assert error.reason == "missing value 'NA'"


@needs_shared
def test_real_file_first_row(real: list[Parsed]) -> None:
    entities, _ = _split(real)
    track = entities["track:6f807x0ima9a1j3VPbc7VN"]
    assert track.type == "track"
    assert track.title == "I Don't Care (with Justin Bieber) - Loud Luxury Remix"
    assert track.fields == {
        "artist": "Ed Sheeran",
        "album": "I Don't Care (with Justin Bieber) [Loud Luxury Remix]",
    }
    # Two rows: "Pop Remix" (pop / dance pop) and an EDM playlist (edm / pop edm).
    assert track.attributes == {
        "genre": {"pop": 0.5, "edm": 0.5},
        "subgenre": {"dance pop": 0.5, "pop edm": 0.5},
        "mood": {"happy": 1.0},  # valence 0.518, energy 0.916
    }
    assert track.popularity == 66.0
    assert track.added_at_s == datetime(2019, 6, 14, tzinfo=UTC).timestamp()
    assert track.related == ("artist:ed-sheeran", "album:2oCs0DGTsRO98Gh5ZSl2Cx")
    artist = entities["artist:ed-sheeran"]
    assert artist.title == "Ed Sheeran"
    assert track.id in artist.related
    assert "album:2oCs0DGTsRO98Gh5ZSl2Cx" in artist.related


@needs_shared
def test_real_file_has_no_na_entities_and_closed_relations(
    real: list[Parsed], config: CatalogConfig
) -> None:
    entities, _ = _split(real)
    assert not [e.id for e in entities.values() if e.title in ("NA", "")]
    assert "artist:na" not in entities
    dangling = {r for e in entities.values() for r in e.related if r not in entities}
    assert dangling == set()
    for entity in entities.values():
        assert entity_from_record(entity.to_record(), config) == entity
        assert len(entity.related) <= 200
        for values in entity.attributes.values():
            assert all(0.0 <= w <= 1.0 for w in values.values())


# --- hand-written files --------------------------------------------------------------------


def test_duplicate_track_rows_merge_genres_with_weights(
    tmp_path: Path, config: CatalogConfig
) -> None:
    rows = [
        _row(playlist_id="p1", playlist_genre="pop", playlist_subgenre="dance pop"),
        _row(playlist_id="p2", playlist_genre="pop", playlist_subgenre="electropop"),
        _row(playlist_id="p3", playlist_genre="rock", playlist_subgenre="hard rock"),
    ]
    entities, errors = _split(list(load_spotify(_write(tmp_path / "s.csv", rows), config)))
    assert errors == []
    assert Counter(e.type for e in entities.values()) == {
        "track": 1,
        "artist": 1,
        "album": 1,
        "playlist": 3,
    }
    track = entities["track:t1"]
    assert track.attributes["genre"] == {"pop": 0.6667, "rock": 0.3333}
    assert track.attributes["subgenre"] == {
        "dance pop": 0.3333,
        "electropop": 0.3333,
        "hard rock": 0.3333,
    }
    assert entities["playlist:p3"].attributes["genre"] == {"rock": 1.0}
    assert entities["playlist:p3"].related == ("track:t1",)


def test_aggregates(tmp_path: Path, config: CatalogConfig) -> None:
    rows = [
        _row("t1", track_popularity="80", playlist_genre="pop"),
        _row("t2", track_popularity="20", playlist_genre="rock", energy="0.1", valence="0.1"),
        _row("t3", track_popularity="30", track_album_id="al2", track_album_name="Other"),
    ]
    entities, _ = _split(list(load_spotify(_write(tmp_path / "s.csv", rows), config)))
    artist = entities["artist:some-artist"]
    assert artist.popularity == 80.0  # the best track's
    assert artist.attributes["genre"] == {"pop": 0.6667, "rock": 0.3333}  # mean over tracks
    assert artist.attributes["mood"] == {"happy": 0.6667, "sad": 0.3333}
    # albums by their best track's popularity, then tracks most popular first
    assert artist.related == ("album:al1", "album:al2", "track:t1", "track:t3", "track:t2")
    album = entities["album:al1"]
    assert album.fields == {"artist": "Some Artist"}
    assert album.related == ("artist:some-artist", "track:t1", "track:t2")
    assert album.popularity == 80.0
    playlist = entities["playlist:p1"]
    assert playlist.popularity == pytest.approx((80 + 20 + 30) / 3, abs=0.01)
    assert playlist.related == ("track:t1", "track:t2", "track:t3")  # the playlist's order


def test_na_rows(tmp_path: Path, config: CatalogConfig) -> None:
    rows = [
        _row("t1", track_name="NA", track_artist="NA", track_album_name="NA"),
        _row("t2", track_artist="NA", track_album_id="al2", track_album_name="NA"),
        _row("t3"),
    ]
    path = _write(tmp_path / "s.csv", rows)
    entities, errors = _split(list(load_spotify(path, config)))
    assert [(p.line, _error(p).field, _error(p).reason) for p in errors] == [
        (2, "track_name", "missing value 'NA'")
    ]
    assert _error(errors[0]).path == str(path)
    assert "track:t1" not in entities
    t2 = entities["track:t2"]
    assert t2.fields == {}
    assert t2.related == ()  # no artist named NA, and album al2 has no name
    assert "album:al2" not in entities
    assert sorted(e.title for e in entities.values() if e.type == "artist") == ["Some Artist"]
    assert entities["playlist:p1"].related == ("track:t2", "track:t3")


@pytest.mark.parametrize(
    ("cells", "field", "reason"),
    [
        ({"track_popularity": "high"}, "track_popularity", "must be a number, got 'high'"),
        ({"track_popularity": "-3"}, "track_popularity", "must be a finite number >= 0"),
        ({"track_popularity": "NA"}, "track_popularity", "missing value"),
        ({"valence": "x"}, "valence", "must be a number, got 'x'"),
        ({"track_id": ""}, "track_id", "missing value ''"),
        ({"track_name": ""}, "track_name", "missing value ''"),
        ({"track_album_release_date": "14/06/2019"}, "track_album_release_date", "must be YYYY"),
        ({"track_album_release_date": "2019-13-01"}, "track_album_release_date", "not a date"),
    ],
)
def test_bad_cells_are_reported_and_the_rest_loads(
    tmp_path: Path, config: CatalogConfig, cells: dict[str, str], field: str, reason: str
) -> None:
    rows = [_row("t1"), _row(**{"track_id": "t2", **cells}), _row("t3")]
    path = _write(tmp_path / "s.csv", rows)
    entities, errors = _split(list(load_spotify(path, config)))
    assert len(errors) == 1
    error = _error(errors[0])
    assert (error.path, error.line, error.field) == (str(path), 3, field)
    assert reason in error.reason
    assert {"track:t1", "track:t3"} <= set(entities)
    assert "track:t2" not in entities


def test_wrong_column_count_and_bad_bytes(tmp_path: Path, config: CatalogConfig) -> None:
    path = _write(tmp_path / "s.csv", [_row("t1"), _row("t2"), _row("t3")])
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2] = b"t2,only,three\n"
    lines[3] = lines[3].replace(b"Song t3", b"Song \xff t3")
    path.write_bytes(b"".join([*lines, b"\n"]))  # a trailing blank line is no row
    entities, errors = _split(list(load_spotify(path, config)))
    assert [(p.line, _error(p).field) for p in errors] == [(3, None), (4, None)]
    assert "has 3 columns, the header has 14" in _error(errors[0]).reason
    assert "undecodable bytes" in _error(errors[1]).reason
    assert [e.id for e in entities.values() if e.type == "track"] == ["track:t1"]


def test_missing_column_names_file_line_and_column(tmp_path: Path, config: CatalogConfig) -> None:
    header = [c for c in HEADER if c != "playlist_genre"]
    path = _write(tmp_path / "s.csv", [_row()], header=header)
    with pytest.raises(CatalogError) as info:
        list(load_spotify(path, config))
    assert (info.value.path, info.value.line, info.value.field) == (str(path), 1, "playlist_genre")
    assert "missing column 'playlist_genre'" in str(info.value)


def test_empty_file(tmp_path: Path, config: CatalogConfig) -> None:
    path = tmp_path / "s.csv"
    path.write_bytes(b"")
    with pytest.raises(CatalogError, match="empty file"):
        list(load_spotify(path, config))


def test_gzip_and_column_order_do_not_matter(tmp_path: Path, config: CatalogConfig) -> None:
    plain = _write(tmp_path / "s.csv", [_row("t1"), _row("t2")])
    shuffled = _write(tmp_path / "r.csv", [_row("t1"), _row("t2")], header=HEADER[::-1])
    packed = tmp_path / "s.csv.gz"
    packed.write_bytes(gzip.compress(shuffled.read_bytes()))
    expected = [p.result for p in load_spotify(plain, config)]
    assert [p.result for p in load_spotify(packed, config)] == expected


def test_related_lists_are_capped(tmp_path: Path, config: CatalogConfig) -> None:
    rows = [_row(f"t{i}") for i in range(5)]
    small = dataclasses.replace(config, max_related=3)
    entities, _ = _split(list(load_spotify(_write(tmp_path / "s.csv", rows), small)))
    assert len(entities["playlist:p1"].related) == 3
    assert entities["album:al1"].related == ("artist:some-artist", "track:t0", "track:t1")


def test_spelling_variants_share_an_artist(tmp_path: Path, config: CatalogConfig) -> None:
    rows = [
        _row("t1", track_artist="Sash!"),
        _row("t2", track_artist="SASH"),
        _row("t3", track_artist="Sash!"),
        _row("t4", track_artist="!!!"),
    ]
    entities, _ = _split(list(load_spotify(_write(tmp_path / "s.csv", rows), config)))
    assert entities["artist:sash"].title == "Sash!"
    assert entities["track:t2"].related[0] == "artist:sash"
    assert entities["artist:%21%21%21"].title == "!!!"


@pytest.mark.parametrize(
    ("valence", "energy", "expected"),
    [
        (0.9, 0.9, "happy"),
        (0.5, 0.5, "happy"),
        (0.1, 0.9, "intense"),
        (0.9, 0.1, "chill"),
        (0.1, 0.1, "sad"),
        (0.49, 0.49, "sad"),
    ],
)
def test_mood_quadrants(valence: float, energy: float, expected: str) -> None:
    assert mood(valence, energy) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2019", datetime(2019, 1, 1, tzinfo=UTC)),
        ("2019-06", datetime(2019, 6, 1, tzinfo=UTC)),
        ("2019-06-14", datetime(2019, 6, 14, tzinfo=UTC)),
        ("1957-01-01", datetime(1957, 1, 1, tzinfo=UTC)),
    ],
)
def test_release_time(text: str, expected: datetime) -> None:
    assert release_time(text) == expected.timestamp()


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Ed Sheeran", "ed-sheeran"),
        ("M.O.P.", "m-o-p"),
        ("Beyoncé", "beyoncé"),
        ("G-Unit", "g-unit"),
        ("!!!", "%21%21%21"),
    ],
)
def test_artist_slug(name: str, slug: str) -> None:
    assert artist_slug(name) == slug


def test_album_named_by_another_row(tmp_path: Path, config: CatalogConfig) -> None:
    rows = [_row("t1", track_album_name="NA"), _row("t2", track_album_name="Real Name")]
    entities, errors = _split(list(load_spotify(_write(tmp_path / "s.csv", rows), config)))
    assert errors == []
    assert entities["album:al1"].title == "Real Name"
    assert entities["track:t1"].fields["album"] == "Real Name"
    assert entities["track:t1"].related == ("artist:some-artist", "album:al1")

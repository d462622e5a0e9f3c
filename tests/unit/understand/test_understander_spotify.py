"""The understander on the real Spotify catalog (62k entities): real misspellings of real names."""

from __future__ import annotations

from pathlib import Path

import pytest

from ltrr.catalog.spotify import load_spotify
from ltrr.config import load_config
from ltrr.types import Entity
from ltrr.understand.understander import QueryUnderstander

DATASETS = Path(__file__).resolve().parents[3] / ".." / "shared" / "datasets"
SPOTIFY = DATASETS / "spotify-songs-tidytuesday-2020" / "spotify_songs.csv.gz"

pytestmark = pytest.mark.skipif(
    not SPOTIFY.is_file(), reason=f"the Spotify songs data set is not at {SPOTIFY}"
)


@pytest.fixture(scope="module")
def understander() -> QueryUnderstander:
    config = load_config()
    entities = [
        p.result for p in load_spotify(SPOTIFY, config.catalog) if isinstance(p.result, Entity)
    ]
    return QueryUnderstander.build(entities, config, catalog_version=1)


@pytest.mark.parametrize(
    ("typed", "corrected"),
    [
        ("ed sheren", "ed sheeran"),
        ("tayler swift", "taylor swift"),
        ("beyonse", "beyonce"),
        ("arianna grande", "ariana grande"),
        ("eminen", "eminem"),
        ("rihana", "rihanna"),
        ("kwin", "queen"),
        ("post malon", "post malone"),
        ("imagine dragns", "imagine dragons"),
        ("dua lipaa", "dua lipa"),
        ("billie elish", "billie eilish"),
    ],
)
def test_misspelled_artists_are_corrected(
    understander: QueryUnderstander, typed: str, corrected: str
) -> None:
    q = understander.understand(typed)
    assert q.corrected == corrected
    assert q.correction_distance > 0
    assert any(s.kind == "entity" and s.value == corrected for s in q.spans)


@pytest.mark.parametrize(
    ("raw", "intent", "kinds"),
    [
        ("taylor swift", "spearfish", ["entity"]),
        ("songs by ed sheeran", "spearfish", ["type", "entity"]),
        ("chill playlist", "topic", ["attribute", "type"]),
        ("hip hop", "topic", ["attribute"]),
        ("love", "broad", ["entity"]),
    ],
)
def test_tags_and_intent(
    understander: QueryUnderstander, raw: str, intent: str, kinds: list[str]
) -> None:
    q = understander.understand(raw)
    assert q.intent == intent
    assert [s.kind for s in q.spans] == kinds


def test_known_words_stay(understander: QueryUnderstander) -> None:
    for raw in ["love", "remix", "dance", "summer", "the weeknd"]:
        assert understander.understand(raw).correction_distance == 0

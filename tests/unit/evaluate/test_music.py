"""The music benchmark builder on a small synthetic catalog and on the real Spotify file.

Targets are checked against a brute-force oracle that re-derives, from each query's metadata
alone, every entity that should be relevant.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import orjson
import pytest

from ltrr.catalog.jsonl import load_beir
from ltrr.catalog.model import entity_from_record
from ltrr.catalog.spotify import load_spotify
from ltrr.config import CatalogConfig, Config, load_config
from ltrr.errors import CatalogError, ConfigError
from ltrr.evaluate.misspell import MisspellParams
from ltrr.evaluate.music import (
    MusicBenchmark,
    MusicQuery,
    build_benchmark,
    corpus_record,
    write_benchmark,
)
from ltrr.evaluate.music_queries import (
    CLASSES,
    MusicBenchmarkParams,
    benchmark_params,
    core_tokens,
    sampling_order,
)
from ltrr.types import Entity, EntityId
from ltrr.understand.text import normalize, tokenize

DATASETS = Path(__file__).resolve().parents[3] / ".." / "shared" / "datasets"
SPOTIFY = DATASETS / "spotify-songs-tidytuesday-2020" / "spotify_songs.csv.gz"

#: (title, artist, popularity, genre, mood): several titles repeat across artists.
SONGS = [
    ("Love Story", "Taylor Swift", 90, "pop", "happy"),
    ("Shake It Off", "Taylor Swift", 88, "pop", "happy"),
    ("Love", "Taylor Swift", 40, "pop", "sad"),
    ("Love", "Lana Del Rey", 70, "indie", "sad"),
    ("Love", "Kendrick Lamar", 75, "rap", "chill"),
    ("Bohemian Rhapsody", "Queen", 95, "rock", "intense"),
    ("Don't Stop Me Now", "Queen", 85, "rock", "happy"),
    ("Killer Queen", "Queen", 60, "rock", "happy"),
    ("Memories", "Maroon 5", 80, "pop", "chill"),
    ("Memories", "Kid Cudi", 30, "rap", "sad"),
    ("Memories - Acoustic", "Maroon 5", 20, "pop", "chill"),
    ("Summertime Sadness", "Lana Del Rey", 72, "indie", "sad"),
    ("Video Games", "Lana Del Rey", 65, "indie", "sad"),
    ("Bad Guy", "Billie Eilish", 92, "pop", "intense"),
    ("Love Me Harder", "Ariana Grande", 50, "pop", "happy"),
    ("Love The Way You Lie", "Eminem", 78, "rap", "intense"),
    ("Lose Yourself", "Eminem", 89, "rap", "intense"),
    ("Humble", "Kendrick Lamar", 87, "rap", "intense"),
    ("Midnight City Lights", "M83", 55, "electronic", "chill"),
    ("Get Lucky (feat. Pharrell Williams)", "Daft Punk", 83, "electronic", "happy"),
    ("One More Time", "Daft Punk", 81, "electronic", "happy"),
    ("Chill Summer Love", "Kid Cudi", 10, "rap", "chill"),
    ("Lovely Night Drive", "M83", 5, "electronic", "chill"),
    ("Love Lockdown", "Kanye West", 64, "rap", "sad"),
    ("Night Moves", "Bob Seger", 45, "rock", "chill"),
    ("City of Stars", "Ryan Gosling", 35, "pop", "sad"),
    ("Midnight City", "M83", 66, "electronic", "intense"),
]
PLAYLISTS = [
    ("Chill Vibes", "electronic", "chill", 60),
    ("Love Songs", "pop", "sad", 70),
    ("Rock Classics", "rock", "happy", 80),
    ("Rap Caviar", "rap", "intense", 90),
    ("Memories", "pop", "chill", 40),
]
ALBUMS = [
    ("Lover", "Taylor Swift", 91),
    ("Memories", "Maroon 5", 79),
    ("A Night at the Opera", "Queen", 94),
    ("Random Access Memories", "Daft Punk", 82),
    ("Love", "Lana Del Rey", 30),
]
FAST = MusicBenchmarkParams(per_class=6, broad_min_entities=2, partial_max_targets=5)


def slug(name: str) -> str:
    return "-".join(tokenize(name))


def synthetic_catalog() -> list[Entity]:
    tracks = [
        Entity(
            id=EntityId(f"track:{i}"),
            type="track",
            title=title,
            fields={"artist": artist, "album": "Single"},
            attributes={"genre": {genre: 1.0}, "mood": {mood: 1.0}},
            popularity=float(pop),
            related=(EntityId(f"artist:{slug(artist)}"),),
            added_at_s=1.5e9 + i,
        )
        for i, (title, artist, pop, genre, mood) in enumerate(SONGS)
    ]
    by_artist: dict[str, list[tuple[str, str, int, str, str]]] = {}
    for song in SONGS:
        by_artist.setdefault(song[1], []).append(song)
    artists = [
        Entity(
            id=EntityId(f"artist:{slug(name)}"),
            type="artist",
            title=name,
            attributes={"genre": {Counter(s[3] for s in songs).most_common(1)[0][0]: 1.0}},
            popularity=float(max(s[2] for s in songs)),
        )
        for name, songs in by_artist.items()
    ]
    playlists = [
        Entity(
            id=EntityId(f"playlist:{i}"),
            type="playlist",
            title=title,
            fields={"description": f"The best {genre} for you"},
            attributes={"genre": {genre: 1.0}, "mood": {mood: 0.6, "happy": 0.4}},
            popularity=float(pop),
        )
        for i, (title, genre, mood, pop) in enumerate(PLAYLISTS)
    ]
    albums = [
        Entity(
            id=EntityId(f"album:{i}"),
            type="album",
            title=title,
            fields={"artist": artist},
            popularity=float(pop),
        )
        for i, (title, artist, pop) in enumerate(ALBUMS)
    ]
    return [*tracks, *artists, *playlists, *albums]


@pytest.fixture(scope="module")
def catalog() -> list[Entity]:
    return synthetic_catalog()


@pytest.fixture(scope="module")
def benchmark(catalog: list[Entity]) -> MusicBenchmark:
    return build_benchmark(catalog, FAST, seed=3)


def pair(value: object) -> tuple[str, str]:
    assert isinstance(value, tuple) and len(value) == 2
    return str(value[0]), str(value[1])


def expected_targets(
    query: MusicQuery, catalog: list[Entity], params: MusicBenchmarkParams
) -> set[str]:
    """Every relevant entity, re-derived by brute force from the query's text and metadata."""
    m, text = query.metadata, normalize(query.text)

    def name(e: Entity) -> str:
        return normalize(e.title)

    def artist(e: Entity) -> str:
        return normalize(e.fields.get("artist", ""))

    cls = query.query_class
    if cls == "exact":
        hits = [e for e in catalog if name(e) == text]
    elif cls == "misspelled":
        hits = [e for e in catalog if name(e) == m["original"]]
    elif cls == "partial":
        hits = [e for e in catalog if f" {text} " in f" {name(e)} "]
    elif cls == "title_artist":
        title, by = pair(m["source"])
        assert text == normalize(f"{title} {by}")
        hits = [e for e in catalog if e.type == "track" and (name(e), artist(e)) == (title, by)]
    elif cls == "artist":
        hits = [e for e in catalog if e.type == "artist" and name(e) == text]
    elif cls == "type_qualified" and m["form"] == "songs by X":
        hits = [e for e in catalog if e.type == "track" and f"songs by {artist(e)}" == text]
    elif cls == "type_qualified":
        word = str(m["form"]).removeprefix("X ")
        named = {"song": "track"}.get(word, word)
        hits = [e for e in catalog if e.type == named and f"{name(e)} {word}" == text]
    elif cls == "topic":
        attr, value, of_type = str(m["attribute"]), str(m["value"]), m["type"]
        hits = [
            e
            for e in catalog
            if e.attributes.get(attr, {}).get(value, 0.0) >= params.topic_min_weight
            and of_type in (None, e.type)
        ]
    else:
        hits = [e for e in catalog if text in name(e).split()]
    return {e.id for e in hits}


def test_every_class_is_present(benchmark: MusicBenchmark) -> None:
    assert benchmark.counts == dict.fromkeys(CLASSES, FAST.per_class)
    assert [q.query_class for q in benchmark.queries] == sorted(
        (q.query_class for q in benchmark.queries), key=CLASSES.index
    )


def test_targets_are_every_matching_entity(
    benchmark: MusicBenchmark, catalog: list[Entity]
) -> None:
    for query in benchmark.queries:
        assert set(query.targets) == expected_targets(query, catalog, FAST), query
        assert len(set(query.targets)) == len(query.targets)


def test_all_same_name_entities_are_targets(catalog: list[Entity]) -> None:
    # only "love" is in 7+ titles, so broad queries take no other name
    everything = build_benchmark(
        catalog, replace(FAST, per_class=1000, broad_min_entities=7), seed=0
    )
    texts = {(q.query_class, normalize(q.text)): set(q.targets) for q in everything.queries}
    assert texts[("exact", "memories")] == {"track:8", "track:9", "playlist:4", "album:1"}
    assert texts[("artist", "queen")] == {"artist:queen"}
    assert texts[("type_qualified", "memories song")] == {"track:8", "track:9"}
    assert texts[("type_qualified", "memories album")] == {"album:1"}
    assert texts[("type_qualified", "songs by queen")] == {"track:5", "track:6", "track:7"}
    assert texts[("title_artist", "love lana del rey")] == {"track:3"}
    assert texts[("topic", "chill playlist")] == {"playlist:0", "playlist:4"}
    love = {e.id for e in catalog if "love" in tokenize(e.title)}
    assert texts[("broad", "love")] == love and len(love) > 5
    assert ("exact", "love") not in texts  # the broad query took that text


def test_one_text_one_class(benchmark: MusicBenchmark) -> None:
    texts = [normalize(q.text) for q in benchmark.queries]
    assert len(texts) == len(set(texts))
    assert len({q.id for q in benchmark.queries}) == len(benchmark.queries)


def test_same_seed_same_benchmark_other_seed_differs(catalog: list[Entity]) -> None:
    first = build_benchmark(catalog, FAST, seed=11)
    assert build_benchmark(catalog, FAST, seed=11).queries == first.queries
    assert build_benchmark([*reversed(catalog), catalog[0]], FAST, seed=11) == first
    assert build_benchmark(catalog, FAST, seed=12).queries != first.queries


def test_misspellings_within_budget_and_histogram(benchmark: MusicBenchmark) -> None:
    misspelled = [q for q in benchmark.queries if q.query_class == "misspelled"]
    names = {normalize(e.title) for e in benchmark.entities}
    for q in misspelled:
        assert q.text not in names and q.text != q.metadata["original"]
        edits = q.metadata["edits"]
        assert isinstance(edits, list) and 1 <= len(edits) <= 2
        assert 1 <= int(str(q.metadata["edit_distance"])) <= 2 * len(edits)
    distances = Counter(int(str(q.metadata["edit_distance"])) for q in misspelled)
    assert benchmark.edit_distance_histogram == dict(sorted(distances.items()))
    assert sum(benchmark.edit_distance_histogram.values()) == FAST.per_class


def test_partial_queries_are_proper_parts_of_their_title(benchmark: MusicBenchmark) -> None:
    for q in benchmark.queries:
        if q.query_class == "partial":
            source = str(q.metadata["source"])
            assert f" {q.text} " in f" {source} " and q.text != source
            assert len(q.targets) <= FAST.partial_max_targets


def test_core_tokens_drop_versions_and_features() -> None:
    assert core_tokens("Get Lucky (feat. Pharrell Williams) - Radio Edit") == ["get", "lucky"]
    assert core_tokens("(Intro)") == ["intro"]


def test_sampling_prefers_popular_but_reaches_the_tail() -> None:
    popularity = np.arange(1000, dtype=np.float64)[::-1]  # candidate 0 is the most popular
    params = MusicBenchmarkParams()
    first_20 = np.concatenate(
        [sampling_order(popularity, np.random.default_rng(s), params)[0][:20] for s in range(200)]
    )
    head, tail = np.mean(first_20 < 10), np.mean(first_20 >= 500)
    assert head > 0.15  # the top 1% of the candidates fills a fifth of the draws
    assert 0.15 < tail < 0.35  # the less popular half still gets about a quarter
    order, rank_pct = sampling_order(popularity, np.random.default_rng(0), params)
    assert sorted(order.tolist()) == list(range(1000)) and rank_pct[0] == 0.0
    uniform = replace(params, tail_share=1.0)
    flat = np.concatenate(
        [sampling_order(popularity, np.random.default_rng(s), uniform)[0][:20] for s in range(200)]
    )
    assert np.mean(flat < 10) < 0.03


def test_ties_share_a_rank() -> None:
    _, rank_pct = sampling_order(np.array([5.0, 5.0, 1.0, 0.0]), np.random.default_rng(0), FAST)
    assert rank_pct.tolist() == [0.0, 0.0, 50.0, 75.0]


def test_written_benchmark_loads_as_beir(
    benchmark: MusicBenchmark, catalog: list[Entity], tmp_path: Path
) -> None:
    out = tmp_path / "bench"
    manifest = write_benchmark(
        benchmark, out, params=FAST, misspelling=MisspellParams(), source={"path": "synthetic"}
    )
    loaded = [p.result for p in load_beir(out, load_config().catalog)]
    assert all(isinstance(e, Entity) for e in loaded)
    by_id = {e.id: e for e in loaded if isinstance(e, Entity)}
    assert list(by_id) == sorted(e.id for e in catalog)
    for original in catalog:
        again = by_id[original.id]
        assert (again.title, again.type, again.popularity) == (
            original.title,
            original.type,
            original.popularity,
        )
        assert again.attributes == original.attributes and again.related == original.related
        assert again.added_at_s == original.added_at_s
    queries = [orjson.loads(line) for line in (out / "queries.jsonl").read_bytes().splitlines()]
    with (out / "qrels" / "test.tsv").open(newline="") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))
    assert rows[0] == ["query-id", "corpus-id", "score"]
    judged = Counter(r[0] for r in rows[1:])
    assert {q["_id"] for q in queries} == set(judged)
    assert all(r[1] in by_id and r[2] == "1" for r in rows[1:])
    assert Counter(q["metadata"]["class"] for q in queries) == benchmark.counts
    saved = orjson.loads((out / "benchmark.json").read_bytes())
    assert saved == orjson.loads(orjson.dumps(manifest))
    assert saved["seed"] == 3 and saved["counts"] == benchmark.counts
    assert saved["n_qrels"] == len(rows) - 1
    assert saved["edit_distance_histogram"] == {
        str(d): n for d, n in benchmark.edit_distance_histogram.items()
    }


def test_corpus_keeps_named_fields_and_round_trips(
    catalog: list[Entity], catalog_config: CatalogConfig
) -> None:
    record = corpus_record(catalog[0])
    assert record["text"] == ""
    assert record["fields"] == {"artist": "Taylor Swift", "album": "Single"}
    with_text = corpus_record(replace(catalog[0], fields={"text": "a", "artist": "b"}))
    assert (with_text["text"], with_text["fields"]) == ("a", {"artist": "b"})
    record["id"] = record.pop("_id")
    loaded = entity_from_record(record, catalog_config)
    assert loaded.fields == catalog[0].fields


def test_rewriting_replaces_a_benchmark_but_not_other_files(
    benchmark: MusicBenchmark, tmp_path: Path
) -> None:
    out = tmp_path / "bench"
    kwargs = {"params": FAST, "misspelling": MisspellParams(), "source": {}}
    write_benchmark(benchmark, out, **kwargs)  # type: ignore[arg-type]
    write_benchmark(benchmark, out, **kwargs)  # type: ignore[arg-type]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench"]
    (out / "notes.txt").write_text("mine")
    with pytest.raises(CatalogError, match=r"notes\.txt"):
        write_benchmark(benchmark, out, **kwargs)  # type: ignore[arg-type]
    assert (out / "notes.txt").read_text() == "mine"


def test_classes_the_catalog_cannot_support_are_empty() -> None:
    docs = [
        Entity(id=EntityId(f"d{i}"), type="document", title=f"Protein folding study {i}")
        for i in range(30)
    ]
    counts = build_benchmark(docs, FAST, seed=0).counts
    assert counts["title_artist"] == counts["artist"] == counts["type_qualified"] == 0
    assert counts["topic"] == 0
    assert counts["exact"] == counts["misspelled"] == FAST.per_class
    assert counts["broad"] > 0
    assert build_benchmark([], FAST).counts == dict.fromkeys(CLASSES, 0)


def test_params_from_config_and_validation() -> None:
    config = Config({"benchmark": {**vars_of(FAST), "misspell": vars_of(MisspellParams())}})
    assert benchmark_params(config) == (FAST, MisspellParams())
    assert benchmark_params(Config({})) == (MusicBenchmarkParams(), MisspellParams())
    with pytest.raises(ConfigError):
        MusicBenchmarkParams(tail_share=1.5)
    with pytest.raises(ConfigError):
        build_benchmark([], FAST, seed=-1)


def vars_of(params: object) -> dict[str, object]:
    return {name: getattr(params, name) for name in params.__dataclass_fields__}  # type: ignore[attr-defined]


@pytest.mark.skipif(not SPOTIFY.is_file(), reason=f"Spotify songs CSV not found at {SPOTIFY}")
def test_real_spotify_catalog() -> None:
    entities = [
        p.result
        for p in load_spotify(SPOTIFY, load_config().catalog)
        if isinstance(p.result, Entity)
    ]
    bench = build_benchmark(entities, replace(MusicBenchmarkParams(), per_class=40), seed=0)
    assert bench.counts == dict.fromkeys(CLASSES, 40)
    artists: dict[str, set[str]] = {}
    for e in entities:
        if e.type == "artist":
            artists.setdefault(normalize(e.title), set()).add(e.id)
    for q in bench.queries:
        if q.query_class == "artist":
            assert set(q.targets) == artists[normalize(q.text)]
            assert all(t.startswith("artist:") for t in q.targets)
        if q.query_class == "type_qualified" and q.metadata["form"] == "songs by X":
            assert all(t.startswith("track:") for t in q.targets)
    by_id = {e.id: e for e in entities}
    songs = [q for q in bench.queries if q.query_class == "title_artist"]
    for q in songs:
        title, by = pair(q.metadata["source"])
        for t in q.targets:
            e = by_id[t]
            assert normalize(e.title) == title and normalize(e.fields["artist"]) == by
    assert sum(bench.edit_distance_histogram.values()) == 40
    assert set(bench.edit_distance_histogram) <= {1, 2, 3, 4}

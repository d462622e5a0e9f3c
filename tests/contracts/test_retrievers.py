"""Every registered retriever passes the same checks (the Retriever contract of DESIGN.md).

A small music catalog goes through the real query understander, so structured, related and
popular see the spans they act on. Each retriever must: return at most ``depth`` candidates
sorted by descending score, answer the same query identically twice and after a save/load
round trip, show added and removed entities in its results, leave its input unchanged, and
survive hostile queries without raising.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from ltrr.config import Config, load_config
from ltrr.retrieve import RETRIEVERS, retriever_class
from ltrr.retrieve.base import Retriever
from ltrr.types import Context, Entity, EntityId
from ltrr.understand.base import UnderstoodQuery
from ltrr.understand.understander import QueryUnderstander


def _e(i: str, type_: str, title: str, **kw: object) -> Entity:
    return Entity(id=EntityId(i), type=type_, title=title, **kw)  # type: ignore[arg-type]


CATALOG = [
    _e(
        "a1",
        "artist",
        "Taylor Swift",
        attributes={"genre": {"pop": 1.0}},
        popularity=95,
        related=(EntityId("t1"), EntityId("t2")),
        added_at_s=1.0e9,
    ),
    _e(
        "a2",
        "artist",
        "Miles Davis",
        attributes={"genre": {"jazz": 1.0}},
        popularity=70,
        related=(EntityId("t3"),),
        added_at_s=1.0e9,
    ),
    _e(
        "t1",
        "track",
        "Love Story",
        fields={"artist": "Taylor Swift"},
        attributes={"genre": {"pop": 1.0}, "mood": {"romantic": 1.0}},
        popularity=90,
        related=(EntityId("a1"),),
        added_at_s=1.2e9,
    ),
    _e(
        "t2",
        "track",
        "Shake It Off",
        fields={"artist": "Taylor Swift"},
        attributes={"genre": {"pop": 1.0}, "mood": {"happy": 1.0}},
        popularity=85,
        related=(EntityId("a1"),),
        added_at_s=1.4e9,
    ),
    _e(
        "t3",
        "track",
        "So What",
        fields={"artist": "Miles Davis"},
        attributes={"genre": {"jazz": 1.0}, "mood": {"chill": 1.0}},
        popularity=60,
        related=(EntityId("a2"),),
        added_at_s=0.9e9,
    ),
    _e(
        "p1",
        "playlist",
        "Chill Jazz Evenings",
        fields={"description": "calm jazz for the night"},
        attributes={"genre": {"jazz": 1.0}, "mood": {"chill": 1.0}},
        popularity=40,
        related=(EntityId("t3"),),
        added_at_s=1.6e9,
    ),
    _e(
        "p2",
        "playlist",
        "Pop Party",
        fields={"description": "happy pop hits"},
        attributes={"genre": {"pop": 1.0}, "mood": {"happy": 1.0}},
        popularity=50,
        added_at_s=1.7e9,
    ),
]
NEW = _e(
    "t9",
    "track",
    "Lovely Night Swim",
    fields={"artist": "Taylor Swift"},
    attributes={"genre": {"pop": 1.0}, "mood": {"chill": 1.0}},
    popularity=99,
    related=(EntityId("a1"),),
    added_at_s=1.8e9,
)

QUERIES = ["love story", "tayler swift", "chill jazz playlist", "songs by miles davis", "pop"]
BAD_QUERIES = {
    "empty": "",
    "whitespace": "   \t\n ",
    "10k characters": "love " * 2000,
    "control characters": "love\x00\x07\x1b[31m story\x7f",
    "mixed scripts": "love Любовь 愛 حب story",
    "emoji": "🎵 love 💔 story 🔥",
    "punctuation only": "?!(*&^%$#@)",
}


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config()


@pytest.fixture(scope="module")
def understander(config: Config) -> QueryUnderstander:
    return QueryUnderstander.build([*CATALOG, NEW], config, catalog_version=1)


def _build(name: str, config: Config, entities: list[Entity]) -> Retriever:
    retriever: Retriever = retriever_class(name).build(iter(entities), config, catalog_version=1)
    return retriever


def _ranked(
    retriever: Retriever, query: UnderstoodQuery, depth: int = 10
) -> list[tuple[str, float]]:
    return [(c.entity_id, round(c.score, 6)) for c in retriever.retrieve(query, Context(), depth)]


NAMES = sorted(RETRIEVERS)


@pytest.fixture(scope="module", params=NAMES)
def built(request: pytest.FixtureRequest, config: Config) -> tuple[str, Retriever]:
    return request.param, _build(request.param, config, CATALOG)


def test_is_a_retriever(built: tuple[str, Retriever]) -> None:
    name, retriever = built
    assert isinstance(retriever, Retriever)
    assert retriever.name == name
    assert retriever.catalog_version == 1
    assert len(retriever) == len(CATALOG)


@pytest.mark.parametrize("text", QUERIES)
@pytest.mark.parametrize("depth", [1, 3, 100])
def test_at_most_depth_sorted_and_repeatable(
    built: tuple[str, Retriever], understander: QueryUnderstander, text: str, depth: int
) -> None:
    _, retriever = built
    query = understander.understand(text)
    before = copy.deepcopy(query)
    first = retriever.retrieve(query, Context(), depth)
    assert len(first) <= depth
    scores = [c.score for c in first]
    assert scores == sorted(scores, reverse=True)
    assert len({c.entity_id for c in first}) == len(first)
    assert {c.entity_id for c in first} <= {e.id for e in CATALOG}
    assert retriever.retrieve(query, Context(), depth) == first
    assert query == before


@pytest.mark.parametrize("kind", list(BAD_QUERIES))
def test_bad_queries_never_raise(
    built: tuple[str, Retriever], understander: QueryUnderstander, kind: str
) -> None:
    _, retriever = built
    result = retriever.retrieve(understander.understand(BAD_QUERIES[kind]), Context(), 10)
    assert len(result) <= 10
    if kind in ("empty", "whitespace", "punctuation only"):
        assert result == [] or retriever.name in ("popular", "explore")


def test_save_load_round_trip(
    built: tuple[str, Retriever], understander: QueryUnderstander, tmp_path: Path, config: Config
) -> None:
    name, retriever = built
    retriever.save(tmp_path / name)
    loaded = retriever_class(name).load(tmp_path / name, config)
    assert loaded.catalog_version == retriever.catalog_version
    assert len(loaded) == len(retriever)
    for text in QUERIES:
        query = understander.understand(text)
        assert _ranked(loaded, query) == _ranked(retriever, query)


@pytest.mark.parametrize("name", NAMES)
def test_add_and_remove_show_in_results(
    name: str, understander: QueryUnderstander, config: Config
) -> None:
    retriever = _build(name, config, CATALOG)
    probes = [
        understander.understand(t) for t in ("lovely night swim", "taylor swift", "chill", "pop")
    ]

    def found(entity_id: str) -> bool:
        return any(
            entity_id in {c.entity_id for c in retriever.retrieve(q, Context(), 50)} for q in probes
        )

    assert not found("t9")
    retriever.add([NEW])
    assert len(retriever) == len(CATALOG) + 1
    assert found("t9"), f"{name} does not return an added entity"
    retriever.remove([EntityId("t9"), EntityId("never-there")])
    assert len(retriever) == len(CATALOG)
    assert not found("t9"), f"{name} still returns a removed entity"

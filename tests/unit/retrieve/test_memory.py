"""The memory retriever: predicted queries, learning from actions, near-duplicates, decay."""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from ltrr.config import Config
from ltrr.errors import ConfigError, StorageError
from ltrr.retrieve import retriever_class
from ltrr.retrieve.base import Retriever
from ltrr.retrieve.memory import (
    MemoryParams,
    MemoryRetriever,
    aliases,
    canonical,
    predicted_queries,
)
from ltrr.types import Context, Entity, EntityId
from ltrr.understand.base import UnderstoodQuery, plain_query

DAY_S = 86_400.0


def entity(i: str, kind: str, title: str, popularity: float = 10.0, **fields: str) -> Entity:
    return Entity(EntityId(i), kind, title, fields, popularity=popularity)


CATALOG = [
    entity("a:taylor", "artist", "Taylor Swift", 90),
    entity("t:love-story", "track", "Love Story", 80, artist="Taylor Swift"),
    entity("t:love-story-aw", "track", "Love Story (Remastered 2011)", 20, artist="Andy Williams"),
    entity("t:halo", "track", "Halo", 70, artist="Beyoncé"),
    entity("t:feat", "track", "Stay - Radio Edit feat. Someone", 30, artist="Duo"),
    entity("al:fearless", "album", "Fearless", 60, artist="Taylor Swift"),
    entity("p:chill", "playlist", "Chill Vibes", 40),
]
BAD_QUERIES = [
    "",
    "   ",
    "love " * 2000,
    "x" * 10_000,
    "lo\x00ve\x1b story",
    "Лав 愛 story",
    "🎵🔥",
]


def config(**overrides: Any) -> Config:
    return Config({"retrieve": {"memory": {**asdict(MemoryParams()), **overrides}}})


def build(entities: list[Entity] = CATALOG, **overrides: Any) -> MemoryRetriever:
    return MemoryRetriever.build(entities, config(**overrides), catalog_version=5)


def ids(retriever: MemoryRetriever, q: str | UnderstoodQuery, depth: int = 10) -> list[str]:
    query = plain_query(q) if isinstance(q, str) else q
    return [c.entity_id for c in retriever.retrieve(query, Context(), depth)]


def click(retriever: MemoryRetriever, text: str, entity_id: str, t: float, r: float = 1.0) -> None:
    retriever.record(plain_query(text), Context(), EntityId(entity_id), r, t)


def test_registered_and_implements_the_protocol() -> None:
    assert retriever_class("memory") is MemoryRetriever
    retriever = build()
    assert isinstance(retriever, Retriever)
    assert (retriever.name, retriever.catalog_version, len(retriever)) == ("memory", 5, 7)


def test_canonical_form_and_aliases() -> None:
    assert canonical(["the", "swift", "taylor"], ["the"]) == "swift taylor"
    assert canonical(["the"], ["the"]) == "the"
    assert aliases("Stay (Live) - Radio Edit feat. X") == [
        ["stay", "radio", "edit", "feat", "x"],
        ["stay"],
    ]


def test_predicted_queries_cover_the_forms() -> None:
    p = MemoryParams()
    track = predicted_queries(CATALOG[2], p)
    assert track == {
        "2011 love remastered story": 1.0,
        "love story": 0.8,
        "2011 andy love remastered story williams": 1.0,
        "andy love story williams": 0.8,
    }
    assert predicted_queries(CATALOG[0], p) == {
        "swift taylor": 1.0,
        "by songs swift taylor": 0.9,
        "by music swift taylor": 0.9,
        "songs swift taylor": 0.9,
    }
    assert predicted_queries(CATALOG[6], p) == {"chill vibes": 1.0, "chill playlist vibes": 0.9}


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("love story", "t:love-story"),  # shared alias: the popularity prior decides
        ("taylor swift love story", "t:love-story"),  # title + artist, any order
        ("story love swift taylor", "t:love-story"),
        ("songs by taylor swift", "a:taylor"),
        ("fearless album", "al:fearless"),
        ("chill vibes playlist", "p:chill"),
        ("stay", "t:feat"),
        ("lvoe story", "t:love-story"),  # no key: typed tokens snap to key tokens
    ],
)
def test_predicted_hits(query: str, first: str) -> None:
    assert ids(build(), query)[0] == first


def test_prior_is_the_normalised_predicted_distribution() -> None:
    # key "love story": weights 1.0 * (0.2 + prior(80)) and 0.8 * (0.2 + prior(20)), where
    # prior(x) = log1p(x) / log1p(90), 90 being the highest popularity
    w1, w2 = 0.2 + math.log1p(80) / math.log1p(90), 0.8 * (0.2 + math.log1p(20) / math.log1p(90))
    found = build().retrieve(plain_query("love story"), Context(), 10)
    assert [c.entity_id for c in found] == ["t:love-story", "t:love-story-aw"]
    assert [c.score for c in found] == pytest.approx([w1 / (w1 + w2), w2 / (w1 + w2)], 1e-5)


def test_a_recorded_click_is_found_for_a_near_duplicate_query() -> None:
    retriever = build()
    assert ids(retriever, "sad breakup song") == []
    click(retriever, "sad breakup song", "t:halo", 1000.0)
    assert ids(retriever, "song breakup sad") == ["t:halo"]  # word order
    assert ids(retriever, "sng brekup sad") == ["t:halo"]  # typos, no understand stage
    corrected = UnderstoodQuery(
        raw="breakup sadd song", tokens=("breakup", "sadd", "song"),
        corrected_tokens=("breakup", "sad", "song"),
    )  # fmt: skip
    assert ids(retriever, corrected) == ["t:halo"]


def test_observed_statistics_overtake_the_prediction() -> None:
    retriever = build()
    assert ids(retriever, "love story")[0] == "t:love-story"
    for k in range(3):
        click(retriever, "love story", "t:love-story-aw", 1000.0 + k)
    found = retriever.retrieve(plain_query("love story"), Context(), 10)
    assert [c.entity_id for c in found] == ["t:love-story-aw", "t:love-story"]
    # (R + m p) / (N + m) with m = 2, N = R = 3 (decay over 2 s is ~1e-6 relative)
    w1, w2 = 0.2 + math.log1p(80) / math.log1p(90), 0.8 * (0.2 + math.log1p(20) / math.log1p(90))
    p2 = w2 / (w1 + w2)
    assert found[0].score == pytest.approx((3 + 2 * p2) / 5, 1e-4)
    assert found[1].score == pytest.approx(2 * (1 - p2) / 5, 1e-4)


def test_withdraw_takes_a_click_back_as_if_it_had_not_counted() -> None:
    clicked_once, clicked_twice = build(), build()
    click(clicked_once, "love story", "t:love-story-aw", 1000.0)
    for k in range(2):
        click(clicked_twice, "love story", "t:love-story-aw", 1000.0 + k)
    clicked_twice.withdraw(plain_query("love story"), Context(), "t:love-story-aw", 1.0, 1001.0)
    once = clicked_once.retrieve(plain_query("love story"), Context(), 10)
    twice = clicked_twice.retrieve(plain_query("love story"), Context(), 10)
    assert [c.entity_id for c in twice] == [c.entity_id for c in once]
    assert [c.score for c in twice] == pytest.approx([c.score for c in once], 1e-4)
    before = [c.score for c in twice]
    clicked_twice.withdraw(plain_query("unknown query"), Context(), "t:halo", 1.0, 1002.0)
    clicked_twice.withdraw(plain_query("love story"), Context(), "t:never-clicked", 1.0, 1002.0)
    after = clicked_twice.retrieve(plain_query("love story"), Context(), 10)
    assert [c.score for c in after] == pytest.approx(before, 1e-4)  # nothing to take back


def test_observations_decay_back_to_the_prior_by_event_time() -> None:
    retriever = build(half_life_days=1.0)
    click(retriever, "love story", "t:love-story-aw", 0.0)
    click(retriever, "love story", "t:love-story-aw", 0.0)
    assert ids(retriever, "love story")[0] == "t:love-story-aw"
    click(retriever, "other query", "t:halo", 10 * DAY_S)  # time passes, by event time only
    assert ids(retriever, "love story")[0] == "t:love-story"
    stats = retriever.observed["love story"]
    assert stats.n == pytest.approx(2.0) and stats.time_s == 0.0  # decayed when read


def test_record_is_deterministic_and_order_of_late_events_is_handled() -> None:
    events = [("love story", "t:halo", 10.0, 1.0), ("love story", "t:love-story", 5.0, 1.0),
              ("halo", "t:halo", 20.0, -0.5), ("love story", "t:halo", 3 * DAY_S, 2.0)]  # fmt: skip
    a, b = build(), build()
    for text, e, t, r in events:
        click(a, text, e, t, r)
        click(b, text, e, t, r)
    assert a.observed == b.observed and a.clock_s == b.clock_s == 3 * DAY_S
    late = a.observed["love story"]
    assert late.rewards["t:love-story"] == pytest.approx(0.5 ** ((3 * DAY_S - 5.0) / (30 * DAY_S)))


def test_negative_rewards_push_below_the_prior() -> None:
    retriever = build()
    for k in range(4):
        click(retriever, "love story", "t:love-story", float(k), -1.0)
    assert ids(retriever, "love story") == ["t:love-story-aw"]


def test_add_remove_update_and_learned_state_survive(tmp_path: Path) -> None:
    retriever = build()
    click(retriever, "best song ever", "t:halo", 50.0)
    retriever.add([entity("t:new", "track", "Brand New Song", 10, artist="Newcomer")])
    assert ids(retriever, "brand new song")[0] == "t:new"
    retriever.remove([EntityId("t:halo")])
    assert ids(retriever, "best song ever") == [] and ids(retriever, "halo") == []
    retriever.add([entity("t:halo", "track", "Halo (Live)", 70, artist="Beyoncé")])
    assert ids(retriever, "best song ever") == ["t:halo"]  # learned by id, back with the entity
    retriever.save(tmp_path / "m")
    loaded = MemoryRetriever.load(tmp_path / "m", config())
    for q in ("best song ever", "love story", "brand new sng", "halo live", "lvoe story"):
        assert loaded.retrieve(plain_query(q), Context(), 10) == retriever.retrieve(
            plain_query(q), Context(), 10
        )
    assert loaded.observed == retriever.observed and loaded.clock_s == retriever.clock_s
    loaded.clear_observed()
    assert ids(loaded, "best song ever") == []
    with pytest.raises(StorageError, match="drop_tokens"):
        MemoryRetriever.load(tmp_path / "m", config(drop_tokens=[]))


@pytest.mark.parametrize("text", BAD_QUERIES)
def test_bad_queries_never_crash(text: str) -> None:
    retriever = build()
    retriever.record(plain_query(text), Context(), EntityId("t:halo"), 1.0, 1.0)
    found = retriever.retrieve(plain_query(text), Context(), 10)
    assert len(found) <= 10
    assert [c.score for c in found] == sorted((c.score for c in found), reverse=True)
    retriever.record(plain_query("ok"), Context(), EntityId("t:halo"), math.nan, 1.0)
    assert "ok" not in retriever.observed


def test_params_are_validated() -> None:
    with pytest.raises(ConfigError, match="max_fuzzy_keys"):
        MemoryParams(max_fuzzy_keys=0)

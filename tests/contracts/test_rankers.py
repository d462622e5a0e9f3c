"""Every registered ranker through the same checks (STYLE.md: one suite per contract)."""

from __future__ import annotations

import copy

import pytest

from ltrr.config import load_config
from ltrr.rank import RANKERS, Ranker, make_ranker
from ltrr.rank.base import RankFeedback
from ltrr.retrieve.base import Candidate
from ltrr.types import Context, EntityId
from ltrr.understand.base import plain_query

LISTS = {
    "lexical": [Candidate(EntityId(e), 3.0 - i) for i, e in enumerate("abcd")],
    "dense": [Candidate(EntityId(e), 0.9 - i / 10) for i, e in enumerate("ceaf")],
    "fuzzy": [Candidate(EntityId(e), 1.0) for e in "gb"],
    "memory": [],
}


def _trained(name: str) -> Ranker:
    ranker = make_ranker(load_config(), name)
    for i in range(300):  # past one refit of the default period
        lists = {s: [c.entity_id for c in cs] for s, cs in LISTS.items()}
        scores = {s: [c.score for c in cs] for s, cs in LISTS.items()}
        wanted = lists["lexical"][i % 4]
        ranker.update(RankFeedback(plain_query(f"q{i % 7}"), lists, wanted, scores))
    return ranker


@pytest.fixture(params=sorted(RANKERS))
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_every_candidate_once_best_first_with_provenance(name: str) -> None:
    fused = _trained(name).rank(plain_query("q1"), Context(), LISTS)
    ids = [f.entity_id for f in fused]
    assert sorted(ids) == sorted({c.entity_id for cs in LISTS.values() for c in cs})
    assert [f.score for f in fused] == sorted((f.score for f in fused), reverse=True)
    for f in fused:
        for strategy, (rank, score) in f.provenance.items():
            assert LISTS[strategy][rank - 1] == Candidate(f.entity_id, score)


def test_depth_order_independence_and_inputs_unchanged(name: str) -> None:
    ranker = _trained(name)
    before = copy.deepcopy(LISTS)
    first = ranker.rank(plain_query("q1"), Context(), LISTS, depth=3)
    again = ranker.rank(plain_query("q1"), Context(), dict(reversed(LISTS.items())), depth=3)
    assert len(first) == 3 and first == again
    assert before == LISTS


def test_same_updates_same_ranking(name: str) -> None:
    a = _trained(name).rank(plain_query("q2"), Context(), LISTS)
    b = _trained(name).rank(plain_query("q2"), Context(), LISTS)
    assert a == b


def test_empty_input_and_name(name: str) -> None:
    ranker = make_ranker(load_config(), name)
    assert ranker.name == name and isinstance(ranker, Ranker)
    assert ranker.rank(plain_query(""), Context(), {}) == []
    assert ranker.update(RankFeedback(plain_query(""), {}, None)) is None

"""The learned rank fusion: RRF before feedback, per-bucket probabilities after, seen-bit."""

from __future__ import annotations

import pytest

from ltrr.config import load_config
from ltrr.errors import ConfigError
from ltrr.merge.rrf import rrf
from ltrr.rank import make_ranker
from ltrr.rank.base import RankFeedback
from ltrr.rank.fusion import FusionRankParams, LearnedFusion
from ltrr.rank.rrf import RrfRanker
from ltrr.retrieve.base import Candidate
from ltrr.types import Context, EntityId
from ltrr.understand.base import plain_query

K = 60.0


def _lists(**named: str) -> dict[str, list[Candidate]]:
    """``lexical="a b c"`` -> {"lexical": [a, b, c]} with descending scores."""
    return {
        s: [Candidate(EntityId(e), float(-i)) for i, e in enumerate(ids.split())]
        for s, ids in named.items()
    }


def _fusion(**params: object) -> LearnedFusion:
    return LearnedFusion(FusionRankParams(**params), {"lexical": 1.0, "dense": 1.0}, K)  # type: ignore[arg-type]


def _teach(ranker: LearnedFusion, query: str, n: int, **ranks: int | None) -> None:
    for _ in range(n):
        depths = dict.fromkeys(ranks, 10)
        ranker.update(RankFeedback(plain_query(query), depths, ranks))


def test_without_feedback_it_is_the_configured_rrf() -> None:
    lists = _lists(lexical="a b c d", dense="c e a", fuzzy="f a")
    got = _fusion().rank(plain_query("x"), Context(), lists)
    weighted = rrf(lists, {"lexical": 1.0, "dense": 1.0, "fuzzy": 0.0}, k=K)
    assert [f.entity_id for f in got] == [f.entity_id for f in weighted]
    assert [f.score for f in got] == pytest.approx([f.score for f in weighted], abs=1e-15)
    assert got[0].score == pytest.approx(1 / (K + 1) + 1 / (K + 3))  # a: lexical 1, dense 3
    assert got[-1].entity_id == "f" and got[-1].score == 0.0  # unweighted strategy adds last
    assert got[0].provenance == {"lexical": (1, 0.0), "dense": (3, -2.0), "fuzzy": (2, -1.0)}


def test_one_hit_moves_its_bucket_by_the_hand_computed_amount() -> None:
    ranker = _fusion(prior_strength=20.0)
    ranker.update(RankFeedback(plain_query("x"), {"lexical": 10}, {"lexical": 1}))
    p = ranker.probabilities("lexical", seen=False)
    assert p[0] == pytest.approx((1 + 20 / (K + 1)) / (1 + 20))
    assert p[1] == pytest.approx((0 + 20 / (K + 2)) / (1 + 20))  # a trial without a hit
    mass_11_25 = sum(1 / (K + r) for r in range(11, 26))
    assert p[5] == pytest.approx(mass_11_25)  # bucket 11-25 unobserved at depth 10: the prior


def test_a_strategy_that_finds_the_wanted_item_earns_the_top() -> None:
    ranker = _fusion()
    lists = _lists(lexical="a b", dense="b a", fuzzy="z")
    assert ranker.rank(plain_query("q0"), Context(), lists)[0].entity_id != "z"
    for i in range(200):  # fuzzy's first result is what users want; the others' never is
        ranker.update(
            RankFeedback(
                plain_query(f"q{i}"),
                {"lexical": 10, "dense": 10, "fuzzy": 10},
                {"lexical": None, "dense": None, "fuzzy": 1},
            )
        )
    ranked = ranker.rank(plain_query("new query"), Context(), lists)
    assert ranked[0].entity_id == "z"
    assert ranker.n_updates == 200


def test_history_counts_only_for_queries_seen_before() -> None:
    ranker = _fusion()
    for i in range(100):  # new queries: memory's first result is never wanted
        _teach(ranker, f"new {i}", 1, memory=None, lexical=1)
    _teach(ranker, "repeat", 100, memory=1, lexical=5)  # the repeated query: memory's top
    lists = _lists(memory="m a", lexical="a b c d e")
    seen = ranker.rank(plain_query("repeat"), Context(), lists)
    unseen = ranker.rank(plain_query("never asked"), Context(), lists)
    assert seen[0].entity_id == "m"
    assert unseen[0].entity_id == "a"
    p_seen, p_unseen = (ranker.probabilities("memory", seen=b)[0] for b in (True, False))
    assert p_seen > 0.8 and p_unseen < 0.01


def test_rank_reads_only_and_cuts_at_depth() -> None:
    ranker = _fusion()
    _teach(ranker, "x", 5, lexical=2, dense=None)
    before = ranker.probabilities("lexical", seen=True).copy()
    lists = _lists(lexical="a b c", dense="c d")
    first = ranker.rank(plain_query("x"), Context(), lists, depth=2)
    again = ranker.rank(plain_query("x"), Context(), dict(reversed(lists.items())), depth=2)
    assert len(first) == 2 and first == again
    assert (ranker.probabilities("lexical", seen=True) == before).all()
    assert lists == _lists(lexical="a b c", dense="c d")


def test_ranks_past_the_last_bucket_add_nothing() -> None:
    ranker = _fusion(bucket_ends=(1, 2))
    got = ranker.rank(plain_query("x"), Context(), _lists(lexical="a b c"))
    assert [f.score for f in got][2] == 0.0 and [f.entity_id for f in got] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"bucket_ends": (5, 2)}, "bucket_ends must be ascending"),
        ({"bucket_ends": ()}, "bucket_ends must be ascending"),
        ({"prior_strength": 0.0}, "prior_strength must be > 0"),
    ],
)
def test_bad_parameters_are_named(params: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        FusionRankParams(**params)  # type: ignore[arg-type]


def test_make_ranker_by_name() -> None:
    config = load_config()
    assert isinstance(make_ranker(config), LearnedFusion)
    assert isinstance(make_ranker(config, "rrf"), RrfRanker)
    with pytest.raises(ConfigError, match="unknown ranker 'lambdamart'; allowed: fusion, rrf"):
        make_ranker(config, "lambdamart")

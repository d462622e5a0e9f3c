"""The learned rank fusion: the configured RRF before feedback, weights refitted on the wanted
items by coordinate ascent, one weight vector for new queries and one for repeated ones."""

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
    """``lexical="a b c"`` -> {"lexical": [a, b, c]} with scores 1, 1/2, 1/3."""
    return {
        s: [Candidate(EntityId(e), 1.0 / (i + 1)) for i, e in enumerate(ids.split())]
        for s, ids in named.items()
    }


def _fusion(**params: object) -> LearnedFusion:
    values = {"refit_every": 20, "window": 100, "apply_after": 5, **params}
    return LearnedFusion(FusionRankParams(**values), {"lexical": 1.0, "dense": 1.0}, K)  # type: ignore[arg-type]


def _teach(ranker: LearnedFusion, query: str, wanted: str, **named: str) -> None:
    ranked = _lists(**named)
    lists = {s: [c.entity_id for c in cs] for s, cs in ranked.items()}
    scores = {s: [c.score for c in cs] for s, cs in ranked.items()}
    ranker.update(RankFeedback(plain_query(query), lists, EntityId(wanted), scores))


def test_without_feedback_it_is_the_configured_rrf() -> None:
    lists = _lists(lexical="a b c d", dense="c e a", fuzzy="f a")
    got = _fusion().rank(plain_query("x"), Context(), lists)
    weighted = rrf(lists, {"lexical": 1.0, "dense": 1.0, "fuzzy": 0.0}, k=K)
    assert got == weighted
    assert got[0].score == pytest.approx(1 / (K + 1) + 1 / (K + 3))  # a: lexical 1, dense 3
    assert got[-1].entity_id == "f" and got[-1].score == 0.0  # unweighted strategy adds last
    assert got[0].provenance == {"lexical": (1, 1.0), "dense": (3, 1 / 3), "fuzzy": (2, 0.5)}


def test_a_strategy_whose_top_is_wanted_earns_weight() -> None:
    ranker = _fusion()
    for i in range(20):  # new queries: fuzzy's first result is the wanted one, lexical's 4th
        _teach(ranker, f"q{i}", f"z{i}", lexical=f"a{i} b{i} c{i} z{i}", fuzzy=f"z{i}")
    ranker.settle()
    assert ranker.weights[0]["fuzzy"] > 0 and ranker.n_updates == 20
    ranked = ranker.rank(plain_query("fresh"), Context(), _lists(lexical="a b c z", fuzzy="z"))
    assert ranked[0].entity_id == "z"


def test_a_strategy_that_only_adds_noise_keeps_weight_zero() -> None:
    ranker = _fusion()
    for i in range(20):  # lexical's top is wanted; fuzzy's top never is
        _teach(ranker, f"q{i}", f"a{i}", lexical=f"a{i} b{i}", fuzzy=f"n{i}")
    ranker.settle()
    assert ranker.weights[0].get("fuzzy", 0.0) == 0.0


def test_repeated_queries_get_their_own_weights() -> None:
    ranker = _fusion()
    for i in range(40):  # new queries: lexical's top wanted, memory's top a wrong guess
        _teach(ranker, f"new {i}", f"a{i}", lexical=f"a{i} b{i} c{i}", memory=f"b{i}")
    for _ in range(20):  # one repeated query: memory remembers what lexical ranks third
        _teach(ranker, "again", "c", lexical="a b c", memory="c")
    ranker.settle()
    lists = _lists(lexical="a b c", memory="c")
    assert ranker.rank(plain_query("again"), Context(), lists)[0].entity_id == "c"
    assert ranker.rank(plain_query("never asked"), Context(), lists)[0].entity_id == "a"
    assert ranker.weights[1]["memory"] > ranker.weights[0].get("memory", 0.0)


def test_a_calibrated_strategy_votes_its_probability_not_its_rank() -> None:
    ranker = _fusion()
    _teach(ranker, "again", "r", lexical="x r", memory="r")  # the query is now a seen one
    ranker.weights[1] = {"lexical": 1.0, "dense": 1.0, "memory": 8.0}
    memory = [Candidate(EntityId("r"), 0.6), Candidate(EntityId("s"), 0.05)]  # s: a stray click
    lists = {**_lists(lexical="x r", dense="x r"), "memory": memory}
    order = [f.entity_id for f in ranker.rank(plain_query("again"), Context(), lists)]
    # by rank, memory's second entry would outvote x (8 / 62 > 2 / 61); by probability,
    # 8 * 0.05 / 61 does not
    assert order == ["r", "x", "s"]


def test_feedback_without_the_scores_of_a_calibrated_strategy_is_refused() -> None:
    with pytest.raises(ValueError, match="memory"):
        _fusion().update(RankFeedback(plain_query("q"), {"memory": [EntityId("a")]}, EntityId("a")))


def test_rank_reads_only_cuts_at_depth_and_ignores_mapping_order() -> None:
    ranker = _fusion()
    for _ in range(20):
        _teach(ranker, "x", "b", lexical="a b c", dense="b d")
    weights = [dict(w) for w in ranker.weights]
    lists = _lists(lexical="a b c", dense="c d")
    first = ranker.rank(plain_query("x"), Context(), lists, depth=2)
    again = ranker.rank(plain_query("x"), Context(), dict(reversed(lists.items())), depth=2)
    assert len(first) == 2 and first == again
    assert ranker.weights == weights and lists == _lists(lexical="a b c", dense="c d")


def test_refits_happen_at_fixed_counts_so_replays_agree() -> None:
    a, b = _fusion(), _fusion()
    for ranker in (a, b):
        for i in range(45):
            _teach(ranker, f"q{i % 9}", f"z{i}", lexical=f"a{i} z{i}", fuzzy=f"z{i}")
    assert a.weights == b.weights


def test_a_refit_lands_exactly_apply_after_updates_after_it_started() -> None:
    ranker = _fusion(apply_after=5)
    for i in range(24):  # the refit starts at update 20 (in the background) ...
        _teach(ranker, f"q{i}", f"z{i}", lexical=f"a{i} b{i} c{i} z{i}", fuzzy=f"z{i}")
    assert ranker.weights[0].get("fuzzy", 0.0) == 0.0
    _teach(ranker, "q24", "z24", lexical="a24 z24", fuzzy="z24")  # ... and lands at 25
    assert ranker.weights[0]["fuzzy"] > 0


def test_feedback_without_a_wanted_item_counts_but_teaches_no_weights() -> None:
    ranker = _fusion()
    for i in range(20):
        ranker.update(RankFeedback(plain_query(f"q{i}"), {"fuzzy": [EntityId("z")]}, None))
    assert ranker.n_updates == 20 and ranker.weights[0] == {"lexical": 1.0, "dense": 1.0}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"weight_grid": ()}, "weight_grid must list weights >= 0"),
        ({"weight_grid": (-1.0, 1.0)}, "weight_grid must list weights >= 0"),
        ({"refit_every": 0}, "refit_every must be >= 1"),
        ({"cutoff": 0}, "cutoff must be >= 1"),
        ({"refit_every": 10, "apply_after": 11}, "apply_after .11. must be <= refit_every"),
    ],
)
def test_bad_parameters_are_named(params: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        FusionRankParams(**params)  # type: ignore[arg-type]


def test_make_ranker_by_name() -> None:
    config = load_config()
    assert isinstance(make_ranker(config), LearnedFusion)
    assert isinstance(make_ranker(config, "rrf"), RrfRanker)
    with pytest.raises(
        ConfigError, match="unknown ranker 'nope'; allowed: fusion, rrf, lambdamart"
    ):
        make_ranker(config, "nope")

"""Reciprocal rank fusion: hand-computed scores, weights, provenance, order independence."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ltrr.config import Config
from ltrr.errors import ConfigError
from ltrr.merge import FusionParams, fusion_params, rrf
from ltrr.retrieve.base import Candidate
from ltrr.types import EntityId


def ranked(*ids: str) -> list[Candidate]:
    return [Candidate(EntityId(i), 10.0 - n) for n, i in enumerate(ids)]


def test_scores_are_the_sum_of_reciprocal_ranks() -> None:
    fused = rrf({"lexical": ranked("a", "b", "c"), "dense": ranked("c", "d")})
    by_id = {f.entity_id: f.score for f in fused}
    assert by_id["c"] == pytest.approx(1 / (60 + 3) + 1 / (60 + 1))
    assert by_id["a"] == pytest.approx(1 / (60 + 1))
    assert by_id["d"] == pytest.approx(1 / (60 + 2))
    assert by_id["b"] == pytest.approx(1 / (60 + 2))
    assert [f.entity_id for f in fused] == ["c", "a", "b", "d"]  # b and d tie: best rank, then id


def test_provenance_keeps_rank_and_score_of_each_strategy() -> None:
    fused = rrf({"lexical": ranked("a", "b", "c"), "dense": ranked("c", "d")})
    c = next(f for f in fused if f.entity_id == "c")
    assert c.provenance == {"lexical": (3, 8.0), "dense": (1, 10.0)}
    assert next(f for f in fused if f.entity_id == "d").provenance == {"dense": (2, 9.0)}


def test_weights_and_k() -> None:
    fused = rrf(
        {"lexical": ranked("a", "b"), "dense": ranked("b", "a")},
        {"lexical": 2.0, "dense": 0.5},
        k=10,
    )
    assert [f.entity_id for f in fused] == ["a", "b"]
    assert fused[0].score == pytest.approx(2.0 / 11 + 0.5 / 12)
    assert fused[1].score == pytest.approx(2.0 / 12 + 0.5 / 11)


def test_depth_truncates_and_empty_inputs_give_nothing() -> None:
    assert [f.entity_id for f in rrf({"x": ranked("a", "b", "c")}, depth=2)] == ["a", "b"]
    assert rrf({}) == []
    assert rrf({"x": [], "y": []}) == []


def test_duplicate_in_one_list_keeps_its_best_rank() -> None:
    (fused,) = rrf({"x": ranked("a", "a")})
    assert fused.score == pytest.approx(1 / 61)
    assert fused.provenance == {"x": (1, 10.0)}


@pytest.mark.parametrize(
    ("weights", "k", "match"),
    [({"lexical": 1.0}, 60, "no RRF weight for dense"), (None, -1, "k must be >= 0")],
)
def test_bad_arguments(weights: dict[str, float] | None, k: int, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        rrf({"lexical": ranked("a"), "dense": ranked("b")}, weights, k=k)


def test_fusion_params_from_config_and_validation() -> None:
    assert fusion_params(Config({})) == FusionParams()
    section = {"strategies": ["lexical", "fuzzy"], "weights": [1.0, 0.5], "k": 20}
    params = fusion_params(Config({"merge": {"fusion": section}}))
    assert params.strategy_to_weight == {"lexical": 1.0, "fuzzy": 0.5}
    assert params.k == 20
    with pytest.raises(ConfigError, match=r"2 strategies .* but 1 weights"):
        FusionParams(("lexical", "dense"), (1.0,))


lists = st.dictionaries(
    st.sampled_from(["lexical", "dense", "fuzzy", "memory"]),
    st.lists(st.sampled_from("abcdefgh"), unique=True, max_size=8),
    max_size=4,
)


@given(lists, st.randoms(use_true_random=False))
def test_order_independent_and_keeps_every_candidate(
    rankings: dict[str, list[str]], rnd: object
) -> None:
    candidates = {name: ranked(*ids) for name, ids in rankings.items()}
    weights = {name: 1.0 + n / 3 for n, name in enumerate(sorted(candidates))}
    names = list(candidates)
    rnd.shuffle(names)  # type: ignore[attr-defined]
    shuffled = {name: candidates[name] for name in names}
    assert rrf(candidates, weights) == rrf(shuffled, weights)
    fused = rrf(shuffled, weights)
    assert {f.entity_id for f in fused} == set(itertools.chain(*rankings.values()))
    for f in fused:
        for name, (rank, _) in f.provenance.items():
            assert rankings[name][rank - 1] == f.entity_id

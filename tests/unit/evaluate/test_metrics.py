"""Metrics by name through pytrec_eval, checked against hand-computed values."""

from __future__ import annotations

import math

import pytest

from ltrr.errors import ConfigError
from ltrr.evaluate.metrics import mean, per_query

ALL = ("ndcg@10", "recall@100", "mrr@10", "success@10")


def test_single_relevant_document_at_rank_one_two_and_eleven() -> None:
    qrels = {"a": {"d1": 1}, "b": {"d1": 1}, "c": {"d1": 1}}
    ranked = [f"x{i}" for i in range(10)]
    run = {"a": ["d1", "x1"], "b": ["x1", "d1"], "c": [*ranked, "d1"]}
    values = per_query(qrels, run, ALL)
    assert values["a"] == {"ndcg@10": 1.0, "recall@100": 1.0, "mrr@10": 1.0, "success@10": 1.0}
    assert values["b"]["mrr@10"] == 0.5
    assert values["b"]["ndcg@10"] == pytest.approx(1 / math.log2(3))
    assert values["c"] == {"ndcg@10": 0.0, "recall@100": 1.0, "mrr@10": 0.0, "success@10": 0.0}


def test_graded_ndcg_uses_linear_gains_like_trec_eval() -> None:
    qrels = {"q": {"d1": 1, "d2": 2, "d3": 0}}
    values = per_query(qrels, {"q": ["d3", "d1", "d2"]}, ["ndcg@10", "recall@100", "p@2"])
    dcg = 1 / math.log2(3) + 2 / math.log2(4)
    ideal = 2 + 1 / math.log2(3)
    assert values["q"]["ndcg@10"] == pytest.approx(dcg / ideal)
    assert values["q"]["recall@100"] == 1.0
    assert values["q"]["p@2"] == 0.5


def test_given_order_is_kept_not_trec_evals_docid_tie_break() -> None:
    # trec_eval would sort equal scores by document id ("z" before "a"): ranks are given here.
    values = per_query({"q": {"a": 1}}, {"q": ["a", "z"]}, ["mrr@10"])
    assert values["q"]["mrr@10"] == 1.0


def test_queries_without_results_score_zero_and_count_in_the_mean() -> None:
    qrels = {"hit": {"d": 1}, "empty": {"d": 1}, "absent": {"d": 1}}
    values = per_query(qrels, {"hit": ["d"], "empty": [], "other": ["d"]}, ["ndcg@10", "mrr@10"])
    assert set(values) == set(qrels)
    assert values["empty"] == values["absent"] == {"ndcg@10": 0.0, "mrr@10": 0.0}
    assert mean(values, qrels) == pytest.approx({"ndcg@10": 1 / 3, "mrr@10": 1 / 3})
    assert mean(values, []) == {}


def test_repeated_ids_keep_their_first_place_and_mrr_cutoffs_differ() -> None:
    run = {"q": ["x", "x", "y", "z", "d"]}
    values = per_query({"q": {"d": 1}}, run, ["mrr@3", "mrr@10", "success@3"])
    assert values["q"] == {"mrr@3": 0.0, "mrr@10": 0.25, "success@3": 0.0}


@pytest.mark.parametrize("name", ["ndcg", "ndcg@0", "bleu@10", "NDCG@10", "mrr@x"])
def test_unknown_metric_names_list_the_allowed(name: str) -> None:
    with pytest.raises(ConfigError, match=f"unknown metric '{name}'; allowed: ndcg@K"):
        per_query({"q": {"d": 1}}, {"q": ["d"]}, [name])

"""Fixed plans by set operations: equal to ``merge.rrf``, set unions and pytrec_eval."""

from __future__ import annotations

import numpy as np
import pytest

from ltrr.evaluate.metrics import per_query
from ltrr.merge.rrf import rrf
from ltrr.retrieve.base import Candidate
from ltrr.select.fixed import plan_name
from ltrr.simulate.fixed import (
    FixedSet,
    evaluate_plans,
    ideal_dcg,
    oracle_rows,
    ranking_metrics,
    top_shown,
)
from ltrr.types import EntityId


def _random_problem(seed: int) -> tuple[dict, list[str], dict, list[dict[str, int]]]:
    """Lists of three strategies over 40 ids, with ties in RRF (equal ranks in two lists)."""
    rng = np.random.default_rng(seed)
    ids = [f"e{i:02d}" for i in range(40)]
    query_ids = [f"q{j}" for j in range(12)]
    lists: dict[str, dict[str, list[str]]] = {s: {} for s in ("alpha", "beta", "gamma")}
    grades: dict[str, dict[str, int]] = {}
    for q in query_ids:
        for s in lists:
            n = int(rng.integers(0, 25))
            lists[s][q] = [ids[i] for i in rng.choice(40, n, replace=False)]
        picked = rng.choice(40, 4, replace=False)
        grades[q] = {ids[i]: int(g) for i, g in zip(picked, rng.integers(0, 3, 4), strict=True)}
    plans: list[dict[str, int]] = [{"alpha": 5}, {"beta": 20}, {"alpha": 10, "gamma": 10}]
    plans += [{"alpha": 3, "beta": 25, "gamma": 7}, {"gamma": 1}, {"beta": 10, "alpha": 10}]
    return lists, query_ids, grades, plans


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_evaluate_plans_equals_rrf_sets_and_pytrec_eval(seed: int) -> None:
    lists, query_ids, grades, plans = _random_problem(seed)
    names = [plan_name(p) for p in plans]
    table = evaluate_plans(names, plans, lists, query_ids, grades, shown=10, rrf_k=60)
    for row, plan in enumerate(plans):
        run = {}
        for j, q in enumerate(query_ids):
            cut = {
                s: [Candidate(EntityId(e), 1.0) for e in lists[s][q][:d]] for s, d in plan.items()
            }
            union = {c.entity_id for ranked in cut.values() for c in ranked}
            relevant = {e for e, g in grades[q].items() if g >= 1}
            shown = [f.entity_id for f in rrf(cut, k=60, depth=10)]
            run[q] = shown
            assert table.candidates[row, j] == len(union)
            assert table.found[row, j] == bool(union & relevant)
            ndcg, mrr = ranking_metrics(shown, grades[q], ideal_dcg(grades[q], 10))
            assert table.ndcg[row, j] == pytest.approx(ndcg, abs=1e-12)
            assert table.mrr[row, j] == pytest.approx(mrr, abs=1e-12)
        expected = per_query(grades, run, ["ndcg@10", "mrr@10"])
        for j, q in enumerate(query_ids):
            assert table.ndcg[row, j] == pytest.approx(expected[q]["ndcg@10"], abs=1e-9)
            assert table.mrr[row, j] == pytest.approx(expected[q]["mrr@10"], abs=1e-9)


def test_ranking_metrics_match_pytrec_eval_by_hand() -> None:
    grades = {"a": 2, "b": 1, "c": 0, "z": 1}  # z is never retrieved
    shown = ["c", "b", "x", "a"]
    ndcg, mrr = ranking_metrics(shown, grades, ideal_dcg(grades, 10))
    dcg = 1 / np.log2(3) + 2 / np.log2(5)
    idcg = 2 + 1 / np.log2(3) + 1 / np.log2(4)
    assert ndcg == pytest.approx(dcg / idcg)
    assert mrr == pytest.approx(1 / 2)
    expected = per_query({"q": grades}, {"q": shown}, ["ndcg@10", "mrr@10"])["q"]
    assert (ndcg, mrr) == pytest.approx((expected["ndcg@10"], expected["mrr@10"]))
    assert ranking_metrics([], grades, ideal_dcg(grades, 10)) == (0.0, 0.0)
    assert ranking_metrics(["a"], {}, 0.0) == (0.0, 0.0)


def test_top_shown_breaks_ties_by_best_rank_then_column() -> None:
    score = np.array([[0.5, 0.5, 0.5, 0.0, 0.9]])
    best = np.array([[3, 1, 1, 2**31 - 1, 1]])
    assert top_shown(score, best, 4).tolist() == [[4, 1, 2, 0]]
    assert top_shown(score, best, 6).tolist() == [[4, 1, 2, 0, -1, -1]]  # column 3 scored 0
    many = np.full((2, 100), 0.25)  # all tied: more than shown * slack columns
    assert top_shown(many, np.ones((2, 100), np.int64), 3).tolist() == [[0, 1, 2]] * 2
    assert top_shown(np.zeros((1, 0)), np.zeros((1, 0), np.int64), 2).tolist() == [[-1, -1]]


def test_oracle_takes_the_cheapest_finding_plan() -> None:
    lists = {
        "alpha": {"q1": ["x", "r1"], "q2": ["x", "y"]},
        "beta": {"q1": ["r1", "y", "z"], "q2": ["z"]},
    }
    plans = [{"alpha": 1}, {"alpha": 2}, {"beta": 1}, {"alpha": 2, "beta": 3}]
    grades = {"q1": {"r1": 1}, "q2": {"r2": 1}}
    table = evaluate_plans([plan_name(p) for p in plans], plans, lists, ["q1", "q2"], grades)
    assert table.found.tolist() == [[False, False], [True, False], [True, False], [True, False]]
    assert table.candidates.tolist() == [[1, 1], [2, 2], [1, 1], [4, 3]]
    # q1: beta@1 finds with 1 candidate; q2: nothing finds, so the cheapest (alpha@1, first).
    assert oracle_rows(table, np.arange(4)).tolist() == [2, 0]
    assert FixedSet(("a",), ({"alpha": 2, "beta": 30},), 1, {"a": 0}).cache_depth == 30

"""What each learned policy did per unseen query (``report.per_query_rows``), on a hand-made
fixed-plan table whose oracle and tail reference are worked out in the comments."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ltrr.select.fixed import plan_name
from ltrr.simulate.fixed import FixedSet, evaluate_plans
from ltrr.simulate.live import LiveRun, TailPoint
from ltrr.simulate.params import SimulateParams
from ltrr.simulate.per_query import (
    PER_QUERY_COLUMNS,
    gap_closed_interval,
    per_query_path,
    per_query_rows,
    per_query_summary,
    write_per_query,
)
from ltrr.simulate.pools import Pools

PLANS: list[dict[str, int]] = [
    {"alpha": 1}, {"alpha": 2}, {"beta": 1}, {"beta": 2}, {"alpha": 2, "beta": 2},
]  # fmt: skip
NAMES = [plan_name(p) for p in PLANS]
LISTS = {
    "alpha": {"t1": ["r0"], "u1": ["r1", "x"], "u2": ["x", "r2"], "u3": ["x", "y"]},
    "beta": {"t1": ["r0"], "u1": ["y", "r1"], "u2": ["r2", "z"], "u3": ["z"]},
}
GRADES = {"t1": {"r0": 1}, "u1": {"r1": 1}, "u2": {"r2": 1}, "u3": {"r3": 1}}
# On u1, u2, u3: alpha@1 costs 1 1 1 and finds u1; alpha@2 2 2 2, u1 u2; beta@1 1 1 1, u2;
# beta@2 2 2 1, u1 u2; alpha@2+beta@2 3 3 3, u1 u2. Oracle: u1 alpha@1, u2 beta@1, u3 nothing
# finds (the cheapest plan, alpha@1, first of the ties). Tail cost and found-rate:
# alpha@1 (1, 1/3), alpha@2 (2, 2/3), beta@1 (1, 1/3), beta@2 (5/3, 2/3), pair (3, 2/3).


def _pools() -> Pools:
    return Pools(
        traffic=("t1",), unseen=("u1", "u2", "u3"), texts={}, classes={"u1": "a", "u2": None},
        qrels=GRADES, corpus_path=Path("corpus.jsonl"), traffic_source="", unseen_source="",
    )  # fmt: skip


def _run(seed: int, plans: list[str], candidates: list[int], found: list[int]) -> LiveRun:
    zeros = np.zeros(3)
    early = TailPoint(50, zeros, zeros, zeros, zeros, ("alpha@1",) * 3)
    last = TailPoint(
        100, np.array(found, float), np.array(candidates, float), np.full(3, 0.5), zeros,
        tuple(plans),
    )  # fmt: skip
    one = np.zeros(1)
    return LiveRun("ltrr", seed, one, one, one, one, tail=[early, last])


@pytest.fixture
def rows() -> list[dict[str, object]]:
    query_ids = ["t1", "u1", "u2", "u3"]
    table = evaluate_plans(NAMES, PLANS, LISTS, query_ids, GRADES)
    fixed = FixedSet(tuple(NAMES), tuple(PLANS), len(NAMES), {n: i for i, n in enumerate(NAMES)})
    runs = {
        "ltrr": [
            # seed 0 spends 5/3 per query: its reference is beta@2 (2/3), which finds u1 too
            _run(0, ["beta@1", "beta@1", "alpha@2+beta@2"], [1, 1, 3], [0, 1, 0]),
            # seed 1 spends 1: its reference is alpha@1 (1/3; beta@1 ties it, later row)
            _run(1, ["alpha@1", "beta@1", "beta@1"], [1, 1, 1], [1, 1, 0]),
        ]
    }
    return per_query_rows(runs, table, fixed, _pools())


def test_a_row_per_seed_and_unseen_query_from_the_last_tail_point(
    rows: list[dict[str, object]],
) -> None:
    assert [(r["seed"], r["query_id"]) for r in rows] == [
        (0, "u1"), (0, "u2"), (0, "u3"), (1, "u1"), (1, "u2"), (1, "u3"),
    ]  # fmt: skip
    assert all(list(r) == list(PER_QUERY_COLUMNS) for r in rows)
    assert {r["at_search"] for r in rows} == {100}  # the last tail point, not the first
    assert [r["query_class"] for r in rows[:3]] == ["a", "", ""]
    assert [(r["plan"], r["candidates"], r["found"]) for r in rows[3:]] == [
        ("alpha@1", 1, 1), ("beta@1", 1, 1), ("beta@1", 1, 0),
    ]  # fmt: skip


def test_oracle_and_reference_cells_come_from_the_fixed_table(
    rows: list[dict[str, object]],
) -> None:
    oracle = [(r["oracle_plan"], r["oracle_candidates"], r["oracle_found"]) for r in rows[:3]]
    assert oracle == [("alpha@1", 1, 1), ("beta@1", 1, 1), ("alpha@1", 1, 0)]
    assert [r["oracle_plan"] for r in rows[3:]] == ["alpha@1", "beta@1", "alpha@1"]
    reference = [
        (r["reference_plan"], r["reference_candidates"], r["reference_found"]) for r in rows
    ]
    assert reference[:3] == [("beta@2", 2, 1), ("beta@2", 2, 1), ("beta@2", 1, 0)]
    assert reference[3:] == [("alpha@1", 1, 1), ("alpha@1", 1, 0), ("alpha@1", 1, 0)]


def test_summary_counts_by_hand(rows: list[dict[str, object]]) -> None:
    summary = per_query_summary(rows)["ltrr"]
    assert summary["n_queries"] == 3
    expected = {
        "found_rate": (1 / 3 + 2 / 3) / 2,
        "oracle_found_rate": 2 / 3,
        "found_where_oracle_found": (1 / 2 + 1) / 2,  # of u1 and u2
        "found_where_oracle_missed": 0.0,
        "candidates_per_search": (5 / 3 + 1) / 2,
        "oracle_candidates_per_search": 1.0,
        "cost_over_oracle": 1.0,  # seed 0: u2 1/1; seed 1: u1, u2 (1 + 1) / (1 + 1)
        "same_plan_as_oracle": (1 / 3 + 2 / 3) / 2,
        "found_reference_missed": (0 + 1) / 2,  # seed 1 finds u2, alpha@1 does not
        "missed_reference_found": (1 + 0) / 2,  # seed 0 misses u1, beta@2 finds it
    }
    assert {k: summary[k]["mean"] for k in expected} == pytest.approx(expected)
    assert summary["found_rate"]["std"] == pytest.approx(np.std([1 / 3, 2 / 3], ddof=1))


def test_the_file_is_a_csv_of_the_rows_beside_the_report(
    rows: list[dict[str, object]], tmp_path: Path
) -> None:
    path = per_query_path(tmp_path / "out" / "sim.json")
    assert path == tmp_path / "out" / "sim-per-query.csv"
    write_per_query(path, rows)
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames or ()) == PER_QUERY_COLUMNS
        read = list(reader)
    assert len(read) == len(rows)
    assert read[2] == {k: str(v) for k, v in rows[2].items()}


def _gap_rows(found: list[int], ref: list[int], oracle: list[int]) -> list[dict[str, Any]]:
    return [
        {"found": f, "reference_found": r, "oracle_found": o}
        for f, r, o in zip(found, ref, oracle, strict=True)
    ]


def test_gap_closed_interval_by_hand() -> None:
    """Per seed (found - reference) / (oracle - reference), averaged over seeds; the interval
    resamples queries, paired over seeds; None without a gap or a reference."""
    params = SimulateParams(n_bootstrap=500)
    a = _gap_rows([1, 1, 0, 1, 0, 1], [1, 0, 0, 1, 0, 1], [1, 1, 1, 1, 1, 1])  # (4/6-3/6)/(3/6)
    b = _gap_rows([1, 1, 1, 1, 0, 1], [1, 0, 0, 1, 0, 1], [1, 1, 1, 1, 1, 1])  # 2/3
    gap = gap_closed_interval([a, b], params)
    assert gap is not None
    assert gap["mean"] == pytest.approx((1 / 3 + 2 / 3) / 2)
    assert gap["low"] < gap["mean"] < gap["high"] <= 1.0
    assert gap_closed_interval([a], params) == gap_closed_interval([a], params)  # seeded
    same = _gap_rows([1, 0], [1, 0], [1, 0])  # the reference finds what the oracle does
    assert gap_closed_interval([same], params) is None
    no_ref = [{**r, "reference_found": ""} for r in a]
    assert gap_closed_interval([no_ref], params) is None

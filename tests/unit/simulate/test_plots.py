"""The fixed-plan frontier (``compare.frontier``) and the plots drawn from a report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ltrr.simulate.compare import frontier
from ltrr.simulate.plots import write_plots

PNG = b"\x89PNG\r\n\x1a\n"


def test_frontier_by_hand() -> None:
    cost = np.array([5.0, 3.0, 3.0, 8.0, 9.0, 1.0, 3.0])
    found = np.array([0.5, 0.4, 0.6, 0.6, 0.9, 0.6, 0.6])
    # row 5 finds 0.6 with 1 candidate: rows 0-3 and 6 are beaten (or equalled, 2 and 6 at a
    # higher cost); row 4 is the only one that finds more.
    assert frontier(cost, found).tolist() == [5, 4]
    assert frontier(np.array([2.0, 2.0]), np.array([0.3, 0.3])).tolist() == [0]  # first of equals
    assert frontier(np.zeros(0), np.zeros(0)).tolist() == []


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_frontier_is_monotone_and_covers_every_point(seed: int) -> None:
    rng = np.random.default_rng(seed)
    cost = rng.integers(1, 40, 300).astype(float)
    found = np.round(rng.random(300), 2)
    rows = frontier(cost, found)
    assert np.all(np.diff(cost[rows]) > 0) and np.all(np.diff(found[rows]) > 0)
    for c, f in zip(cost, found, strict=True):  # no point above or left of the frontier
        assert any(cost[r] <= c and found[r] >= f for r in rows)


def _report(with_points: bool) -> dict[str, Any]:
    curve = {"found_rate": [0.5, 0.6], "candidates_per_search": [20.0, 12.0]}
    report: dict[str, Any] = {
        "directory": "bench",
        "curves": {"window": 10, "at_search": [1, 2], "head": {"ltrr": curve}, "tail": {}},
        "policies": {"hybrid": {"tail": {"candidates_per_search": {"mean": 30.0},
                                         "found_rate": {"mean": 0.7}}}},
        "pareto_frontier": [
            {"policy": "a@1", "candidates_per_search": 1.0, "found_rate": 0.2},
            {"policy": "a@5", "candidates_per_search": 5.0, "found_rate": 0.6},
        ],
    }  # fmt: skip
    if with_points:
        report["cost_vs_found"] = {
            "fixed": {"candidates_per_search": [1.0, 5.0, 30.0], "found_rate": [0.2, 0.6, 0.55]},
            "oracle": {"candidates_per_search": 2.0, "found_rate": 0.8},
            "learned": {
                "ltrr": {
                    "seeds": [0, 1],
                    "candidates_per_search": [4.0, 6.0],
                    "found_rate": [0.65, 0.7],
                },
            },
        }
    return report


def test_the_cost_vs_found_plot_is_written_beside_the_report(tmp_path: Path) -> None:
    written = write_plots(_report(True), tmp_path / "out" / "sim.json")
    names = sorted(p.name for p in written)
    assert names == ["sim-candidates.png", "sim-cost-found.png", "sim-found.png"]
    assert all(p.read_bytes()[:8] == PNG for p in written)


def test_a_report_without_points_gets_its_curves_only(tmp_path: Path) -> None:
    """A report written before the points were kept (or a sweep's) still plots its curves."""
    written = write_plots(_report(False), tmp_path / "old.json")
    assert sorted(p.name for p in written) == ["old-candidates.png", "old-found.png"]

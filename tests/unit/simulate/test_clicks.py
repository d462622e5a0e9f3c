"""Cascade click models: the published tables and a statistical test of the simulated users."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from ltrr.errors import ConfigError
from ltrr.simulate.clicks import ClickModel, click_model


def test_tables_are_the_published_ones() -> None:
    navigational = click_model("navigational")
    assert (navigational.click, navigational.stop) == ((0.05, 0.95), (0.2, 0.9))
    perfect = click_model("perfect")
    assert (perfect.click, perfect.stop) == ((0.0, 1.0), (0.0, 0.0))
    informational = click_model("informational")
    assert (informational.click, informational.stop) == ((0.4, 0.9), (0.1, 0.5))
    graded = click_model("navigational", max_grade=4)
    assert graded.click == (0.05, 0.3, 0.5, 0.7, 0.95)
    assert graded.stop == (0.2, 0.3, 0.5, 0.7, 0.9)


@pytest.mark.parametrize(
    ("max_grade", "grades", "levels"),
    [
        (1, [-1, 0, 1, 3], [0, 0, 1, 1]),
        (2, [0, 1, 2], [0, 1, 4]),
        (3, [1, 2, 3], [1, 3, 4]),
        (4, [0, 1, 2, 3, 4, 9], [0, 1, 2, 3, 4, 4]),
    ],
)
def test_every_relevant_grade_gets_a_relevant_level(
    max_grade: int, grades: list[int], levels: list[int]
) -> None:
    model = click_model("informational", max_grade)
    assert [model.level(g) for g in grades] == levels


def test_unknown_model_names_the_allowed_ones() -> None:
    with pytest.raises(ConfigError, match=r"'dbn'.*perfect, navigational, informational"):
        click_model("dbn")


def test_perfect_users_click_every_relevant_item_and_nothing_else() -> None:
    model = click_model("perfect")
    u = np.random.default_rng(0).random((2, 10))
    assert model.cascade([0, 1, 0, 1, 1, 0], u[0], u[1]) == [1, 3, 4]
    assert model.cascade([0, 0, 0], u[0], u[1]) == []


@pytest.mark.parametrize("name", ["navigational", "informational"])
def test_cascade_click_rates_match_the_model(name: str) -> None:
    """Per position, the simulated click count against Binomial(n, P(click at j))."""
    model: ClickModel = click_model(name)
    levels = [0, 1, 0, 0, 1, 0, 1, 0, 0, 0]
    expected = model.click_probabilities(levels)
    # P(examine j) by hand for the first positions: 1, then 1 - c0 s0, ...
    c0, s0 = model.click[0], model.stop[0]
    assert expected[0] == pytest.approx(c0)
    assert expected[1] == pytest.approx((1 - c0 * s0) * model.click[1])
    n = 20_000
    rng = np.random.default_rng(7)
    u_click, u_stop = rng.random((n, 10)), rng.random((n, 10))
    counts = np.zeros(10)
    for i in range(n):
        for j in model.cascade(levels, u_click[i], u_stop[i]):
            counts[j] += 1
    for j in range(10):
        p = stats.binomtest(int(counts[j]), n, float(expected[j])).pvalue
        assert p > 1e-4, (j, counts[j] / n, expected[j])
    # the test has power: a user who always stops after a click would be rejected
    always_stop = ClickModel(name, model.click, (1.0, 1.0)).click_probabilities(levels)
    pvalues = [stats.binomtest(int(counts[j]), n, float(always_stop[j])).pvalue for j in range(10)]
    assert min(pvalues) < 1e-6

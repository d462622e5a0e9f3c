"""Click models (cascade and position-based): the published tables, hand-computed users and
statistical tests of the simulated users against the models' click probabilities."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from ltrr.errors import ConfigError
from ltrr.simulate.clicks import CLICK_MODELS, ClickModel, click_model


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
    allowed = "perfect, navigational, informational, pbm-navigational, pbm-informational"
    assert ", ".join(CLICK_MODELS) == allowed
    with pytest.raises(ConfigError, match=rf"'dbn'.*allowed: {allowed}$"):
        click_model("dbn")
    with pytest.raises(ConfigError, match=r"'pbm'.*pbm-navigational"):
        click_model("pbm", eta=2.0)


@pytest.mark.parametrize("eta", [0.0, -1.0, float("nan")])
def test_eta_must_be_positive(eta: float) -> None:
    with pytest.raises(ConfigError, match=r"eta must be > 0"):
        click_model("pbm-navigational", eta=eta)


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


def test_position_based_tables_are_the_named_ones_without_stopping() -> None:
    model = click_model("pbm-navigational")
    assert (model.click, model.stop, model.eta) == ((0.05, 0.95), (0.0, 0.0), 1.0)
    graded = click_model("pbm-informational", max_grade=4, eta=2.0)
    assert graded.click == (0.4, 0.6, 0.7, 0.8, 0.9)
    assert graded.stop == (0.0,) * 5 and graded.eta == 2.0
    assert [graded.level(g) for g in (0, 1, 4)] == [0, 1, 4]  # the cascades' grade mapping
    assert click_model("navigational", eta=2.0).eta is None  # cascades ignore eta


def test_position_based_hand_computed_users() -> None:
    """P(examine rank r) = (1/r)^eta: 1, 1/2, 1/3, 1/4 for eta = 1; 1, 1/4, 1/9, 1/16 for 2.

    Every ``u_click`` is below P(click | R) of its item (0.95 relevant, 0.05 not), so exactly
    the examined positions are clicked and the examination draws decide which.
    """
    levels = [1, 1, 0, 1]
    u_click = [0.5, 0.5, 0.04, 0.5]
    u_examine = [0.99, 0.49, 0.34, 0.24]  # rank 3: 0.34 > 1/3; rank 4: 0.24 < 1/4
    eta1 = click_model("pbm-navigational")
    assert eta1.clicks(levels, u_click, u_examine) == [0, 1, 3]
    assert eta1.clicks(levels, u_click, [0.99, 0.51, 0.33, 0.26]) == [0, 2]
    eta2 = click_model("pbm-navigational", eta=2.0)
    assert eta2.clicks(levels, u_click, u_examine) == [0]  # 0.49 > 1/4, 0.24 > 1/16
    assert eta2.clicks(levels, u_click, [0.0, 0.24, 0.11, 0.06]) == [0, 1, 2, 3]
    # examined but not clicked: u_click at or above P(click | R)
    assert eta1.clicks(levels, [0.95, 0.5, 0.05, 0.5], [0.0] * 4) == [1, 3]
    assert eta1.click_probabilities(levels) == pytest.approx([0.95, 0.95 / 2, 0.05 / 3, 0.95 / 4])
    assert eta2.click_probabilities(levels) == pytest.approx([0.95, 0.95 / 4, 0.05 / 9, 0.95 / 16])


def test_clicks_dispatches_on_the_model_with_the_same_draws() -> None:
    """The same user (draws) under a cascade stops after a click; under the position-based
    model nobody stops, and the stop draws decide examination instead."""
    levels, u_click, u_stop = [1, 1, 1], [0.5, 0.5, 0.5], [0.1, 0.1, 0.9]
    cascade = click_model("navigational")
    assert cascade.clicks(levels, u_click, u_stop) == cascade.cascade(levels, u_click, u_stop)
    assert cascade.clicks(levels, u_click, u_stop) == [0]  # 0.1 < P(stop | click, R=1) = 0.9
    assert click_model("pbm-navigational").clicks(levels, u_click, u_stop) == [0, 1]
    with pytest.raises(TypeError, match="cascade"):
        cascade.examination(3)


def _rank_counts(
    model: ClickModel, levels: list[int], u_click: np.ndarray, u_examine: np.ndarray
) -> np.ndarray:
    counts = np.zeros(len(levels))
    for i in range(len(u_click)):
        for j in model.clicks(levels, u_click[i], u_examine[i]):
            counts[j] += 1
    return counts


@pytest.mark.parametrize("name", ["pbm-navigational", "pbm-informational"])
@pytest.mark.parametrize("eta", [1.0, 2.0])
def test_position_based_click_through_rate_is_p_click_times_examination(
    name: str, eta: float
) -> None:
    """An always-relevant list of 10: the click-through rate at rank r against
    Binomial(n, P(click | R=1) (1/r)^eta), per rank."""
    model = click_model(name, eta=eta)
    levels = [1] * 10
    ranks = np.arange(1, 11, dtype=np.float64)
    expected = model.click[1] * (1.0 / ranks) ** eta
    assert model.click_probabilities(levels) == pytest.approx(expected)
    n = 50_000  # enough for the power checks below at eta = 2 (about 6 sd at rank 2)
    rng = np.random.default_rng(11)
    u_click, u_examine = rng.random((n, 10)), rng.random((n, 10))
    counts = _rank_counts(model, levels, u_click, u_examine)
    for j in range(10):
        p = stats.binomtest(int(counts[j]), n, float(expected[j])).pvalue
        assert p > 1e-4, (j, counts[j] / n, expected[j])
    # the test has power: the other eta would be rejected ...
    other = model.click[1] * (1.0 / ranks) ** (3.0 - eta)
    pvalues = [stats.binomtest(int(counts[j]), n, float(other[j])).pvalue for j in range(10)]
    assert min(pvalues) < 1e-6
    # ... and so would a user whose examination and click share one draw (P = min, not product)
    shared = _rank_counts(model, levels, u_click, u_click)
    pvalues = [stats.binomtest(int(shared[j]), n, float(expected[j])).pvalue for j in range(10)]
    assert min(pvalues) < 1e-6

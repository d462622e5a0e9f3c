"""Examination propensities by position: the PBM's EM recovers a known theta, hand-checked small
logs, bad inputs, clipped weights, the JSON round trip and the (1/k)**eta fallback."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from ltrr.errors import ClickLogError, ConfigError, LtrrError
from ltrr.rank.propensity import Propensities, estimate_propensities, fit_pbm

N_POSITIONS = 10


def _simulate_pbm(eta: float, seed: int, n_queries: int = 100, n_impressions: int = 6000):
    """A PBM log under randomised rankings: every impression shows a query's 10 documents in a
    uniformly random order, so each (query, doc) pair is seen at every position (what
    intervention harvesting approximates). Clicks ~ Bernoulli(theta_k * gamma_qd)."""
    rng = np.random.default_rng(seed)
    theta = (1.0 / np.arange(1, N_POSITIONS + 1)) ** eta
    gamma = rng.uniform(0.05, 0.95, size=(n_queries, N_POSITIONS))
    query = np.repeat(rng.integers(0, n_queries, n_impressions), N_POSITIONS)
    order = np.tile(np.arange(N_POSITIONS), (n_impressions, 1))
    doc = rng.permuted(order, axis=1).ravel()
    position = np.tile(np.arange(1, N_POSITIONS + 1), n_impressions)
    click = (rng.random(query.size) < theta[position - 1] * gamma[query, doc]).astype(np.int8)
    return query * N_POSITIONS + doc, position, click, theta


@pytest.mark.parametrize(("eta", "seed"), [(1.0, 1), (0.5, 2)])
def test_em_recovers_the_true_theta_of_a_simulated_pbm(eta: float, seed: int) -> None:
    query_doc, position, click, true_theta = _simulate_pbm(eta, seed)
    fit = fit_pbm(query_doc, position, click, max_position=N_POSITIONS)
    # Measured: largest error 0.010 (eta 1) and 0.022 (eta 0.5) on these 60k rows.
    assert fit.method == "em" and fit.converged and fit.n_rows == 60_000
    assert fit.theta[0] == 1.0
    np.testing.assert_allclose(fit.theta, true_theta, atol=0.05, rtol=0)


def test_one_em_step_by_hand() -> None:
    # From theta = gamma = 1/2, an unclicked row was examined with (1/2)(1/2) / (1 - 1/4) = 1/3,
    # a clicked one with 1: theta_1 = (1 + 1/3) / 2 = 2/3, theta_2 = (1/3 + 1/3) / 2 = 1/3.
    fit = fit_pbm([0, 0, 1, 1], [1, 2, 1, 2], [1, 0, 0, 0], max_position=2, max_iterations=1)
    assert fit.theta.tolist() == pytest.approx([1.0, (1 / 3) / (2 / 3)])
    assert (fit.n_iterations, fit.converged, fit.n_rows) == (1, False, 4)


def _rows(pair: int, position: int, n_rows: int, n_clicks: int) -> list[tuple[int, int, int]]:
    return [(pair, position, int(i < n_clicks)) for i in range(n_rows)]


def test_a_log_that_fits_the_pbm_exactly() -> None:
    # Click rates factorise as theta = (1, 1/2, ., 1/4) times gamma = (1/2, 1/4); rows at rank 7
    # are pooled into max_position 4, and rank 3, never shown, carries rank 2's 1/2 forward.
    rows = [
        *_rows(0, 1, 4, 2), *_rows(0, 2, 4, 1), *_rows(0, 7, 8, 1),
        *_rows(1, 1, 4, 1), *_rows(1, 2, 8, 1), *_rows(1, 7, 16, 1),
    ]  # fmt: skip
    query_doc, position, click = (np.array(column) for column in zip(*rows, strict=True))
    fit = fit_pbm(query_doc * 1_000_003, position, click, max_position=4)  # sparse ids are fine
    assert fit.converged and fit.n_rows == 44
    assert fit.theta.tolist() == pytest.approx([1.0, 0.5, 0.5, 0.25], abs=1e-4)


@pytest.mark.parametrize(
    ("query_doc", "position", "click", "message"),
    [
        ([0, 1], [1], [1, 0], "one length"),
        ([], [], [], "empty"),
        ([[0, 1]], [[1, 2]], [[1, 0]], "1-D"),
        ([0, 1], [1, 0], [1, 0], "positions must be >= 1"),
        ([0, 1], [1, -3], [1, 0], "positions must be >= 1"),
        ([0, 1], [1.0, 2.5], [1, 0], "must be integers"),
        ([0.5, 1.0], [1, 2], [1, 0], "must be integers"),
        ([0, 1], [1, 2], [1, 2], "clicks must be 0 or 1"),
        ([0, 1], [1, 2], [1, 0.5], "clicks must be 0 or 1"),
        ([0, 1], [1, 2], [0, 1], "no click at position 1"),
    ],
)
def test_bad_click_logs_are_refused(
    query_doc: list[object], position: list[object], click: list[object], message: str
) -> None:
    with pytest.raises(ClickLogError, match=message) as raised:
        fit_pbm(query_doc, position, click)  # type: ignore[arg-type]
    assert isinstance(raised.value, LtrrError) and isinstance(raised.value, ValueError)


@pytest.mark.parametrize(
    "settings",
    [{"max_position": 0}, {"max_iterations": 0}, {"tol": 0.0}, {"tol": float("nan")}],
)
def test_bad_settings_are_refused(settings: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        fit_pbm([0], [1], [1], **settings)  # type: ignore[arg-type]


def test_weights_are_inverse_propensities_clipped_at_max_weight() -> None:
    power = Propensities.power(1.0, 20)
    positions = np.array([1, 2, 5, 20, 50])  # 50 is past max_position: rank 20's weight
    assert power.weights(positions, max_weight=10.0).tolist() == pytest.approx([1, 2, 5, 10, 10])
    assert power.weights(positions, max_weight=100.0).tolist() == pytest.approx([1, 2, 5, 20, 20])
    assert power.weights(np.array([[1, 4]])).shape == (1, 2)
    with pytest.raises(ConfigError, match="max_weight"):
        power.weights([1], max_weight=0.5)
    with pytest.raises(ClickLogError, match=">= 1"):
        power.weights([0, 1])


def test_to_dict_from_dict_round_trip_through_json() -> None:
    fit = fit_pbm([0, 0, 1, 1, 1], [1, 2, 1, 2, 3], [1, 1, 1, 0, 0], max_position=3)
    back = Propensities.from_dict(json.loads(json.dumps(fit.to_dict())))
    assert back.theta.tolist() == fit.theta.tolist()
    assert (back.method, back.n_rows, back.n_iterations, back.converged) == (
        fit.method, fit.n_rows, fit.n_iterations, fit.converged,
    )  # fmt: skip
    assert not back.theta.flags.writeable
    with pytest.raises(ConfigError, match="format_version"):
        Propensities.from_dict({**fit.to_dict(), "format_version": 99})
    with pytest.raises(ConfigError, match="method"):
        Propensities.from_dict({**fit.to_dict(), "method": "cascade"})


def test_a_tiny_log_falls_back_to_the_power_law(caplog: pytest.LogCaptureFixture) -> None:
    query_doc, position, click = [0, 0, 1, 1], [1, 2, 1, 2], [1, 0, 1, 1]
    with caplog.at_level(logging.INFO, logger="ltrr.rank.propensity"):
        chosen = estimate_propensities(query_doc, position, click, min_clicks=100, eta=0.5)
    assert chosen.method == "power" and "3 clicks (min_clicks 100)" in caplog.text
    assert chosen.theta.tolist() == pytest.approx((1 / np.arange(1, 11)) ** 0.5)
    fitted = estimate_propensities(query_doc, position, click, min_clicks=3, max_position=2)
    assert fitted.method == "em" and fitted.n_rows == 4
    no_top_click = estimate_propensities([0, 1], [1, 2], [0, 1], min_clicks=1)
    assert no_top_click.method == "power"

"""Per-query counts: buckets taken over, counts capped, shrinkage toward the context model."""

from __future__ import annotations

import numpy as np
import pytest

from ltrr.select.history import QueryHistory


def test_counts_are_capped_and_buckets_taken_over() -> None:
    history = QueryHistory.empty(n_buckets=4, n_arms=2)
    at_risk, hit = np.array([True, False]), np.array([True, False])
    history.add(5, at_risk, hit, 3.0, max_trials=4.0)
    history.add(5, at_risk, ~hit, 3.0, max_trials=4.0)
    success, trials = history.counts(5)
    assert trials.tolist() == [4.0, 0.0]
    assert success[0] == pytest.approx(3.0 * 4.0 / 6.0)  # scaled down with the trials
    assert history.seen(5) and not history.seen(6)
    history.add(9, at_risk, hit, 1.0, max_trials=4.0)  # 9 % 4 == 5 % 4: takes the bucket over
    assert not history.seen(5)
    assert history.counts(9)[1].tolist() == [1.0, 0.0]
    history.add(None, at_risk, hit, 1.0, max_trials=4.0)  # no key: nothing to remember
    assert int((history.key_hash != 0).sum()) == 1


def test_shrinkage_is_the_beta_posterior_mean() -> None:
    history = QueryHistory.empty(n_buckets=8, n_arms=2)
    history.add(3, np.array([True, False]), np.array([True, False]), 2.0, max_trials=50.0)
    p = np.array([0.2, 0.4])
    shrunk = history.shrink(p, 3, 2.0, None)
    assert shrunk.tolist() == pytest.approx([(2 + 2 * 0.2) / (2 + 2), 0.4])
    assert history.shrink(p, 4, 2.0, None) is p  # an unseen query keeps the context's hazards


def test_arrays_round_trip_into_another_table_size() -> None:
    history = QueryHistory.empty(n_buckets=8, n_arms=1)
    for key in (3, 12, 21):
        history.add(key, np.array([True]), np.array([True]), 1.0, max_trials=50.0)
    arrays = history.arrays()
    assert arrays["key_hash"].tolist() == [3, 12, 21]  # buckets 3, 4, 5
    bigger = QueryHistory.empty(n_buckets=32, n_arms=1)
    bigger.restore(arrays)
    assert all(bigger.seen(key) for key in (3, 12, 21))

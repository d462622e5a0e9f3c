"""Training groups, the IPS-DCG validation and the paired comparison, by hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ltrr.errors import ConfigError
from ltrr.rank.training import (
    TrainingError,
    TrainingGroup,
    check_debias,
    compare,
    group_of,
    ips_dcg,
    served_scores,
    split_recent,
)


def _x(n: int) -> np.ndarray:
    return np.arange(n * 2, dtype=np.float32).reshape(n, 2)


def test_group_positions_put_the_page_at_its_ranks_and_the_rest_beyond() -> None:
    acted = np.array([False, False, True, False, True, False])
    group = group_of("r", _x(6), 1, 3, acted, beyond=11)
    # rows 2..4 were on the page (served ranks 2, 3, 4); rows 1, 5, 6 were not
    assert group.position.tolist() == [11, 2, 3, 4, 11, 11]
    assert group.label.tolist() == [0, 0, 1, 0, 1, 0]


def test_shown_ranks_deeper_than_max_position_share_the_last_id() -> None:
    group = group_of("r", _x(14), 0, 14, np.zeros(14, bool), beyond=11)
    assert group.position.tolist() == [*range(1, 11), 10, 10, 10, 10]


def test_ips_dcg_weights_each_acted_row_by_its_inverse_propensity() -> None:
    group = TrainingGroup("r", _x(3), np.array([0, 1, 1], np.int32), np.array([1, 2, 3], np.int32))
    theta = np.array([1.0, 0.5, 0.25])
    # scores put row 2 first, row 0 second, row 1 third
    value = ips_dcg([group], [np.array([0.5, 0.1, 0.9])], theta)[0]
    assert value == pytest.approx(1 / 0.5 / math.log2(4) + 1 / 0.25 / math.log2(2))


def test_ips_dcg_breaks_ties_in_served_order_and_ignores_ranks_past_ten() -> None:
    label = np.zeros(12, np.int32)
    label[11] = 1
    group = TrainingGroup("r", _x(12), label, np.full(12, 11, np.int32))
    theta = np.ones(11)
    assert ips_dcg([group], served_scores([group]), theta)[0] == 0.0
    tied = ips_dcg([group], [np.zeros(12)], theta)[0]
    assert tied == 0.0  # a tie keeps the served order: row 11 stays at rank 12


def test_compare_is_paired_and_its_interval_holds_the_mean() -> None:
    rng = np.random.default_rng(0)
    current = rng.random(500)
    better = compare(current + 0.05, current)
    assert better.difference == pytest.approx(0.05)
    assert better.interval[0] == pytest.approx(0.05) and better.not_worse
    worse = compare(current - 0.01 + rng.normal(0, 0.01, 500), current)
    assert not worse.not_worse and worse.interval[1] < 0
    # Slightly lower but within the noise: not shown to be worse, so it may serve.
    noise = rng.normal(0, 0.05, 500)
    level = compare(current - 0.001 + noise - noise.mean(), current)
    assert level.difference < 0 < level.interval[1] and level.not_worse


def test_split_keeps_the_newest_share_for_validation() -> None:
    groups = [TrainingGroup(str(i), _x(1), np.zeros(1, np.int32), np.ones(1, np.int32))
              for i in range(10)]  # fmt: skip
    train, valid = split_recent(groups, 0.2)
    assert [g.request_id for g in valid] == ["8", "9"] and len(train) == 8


def test_mismatched_group_arrays_and_unknown_debias_are_named() -> None:
    with pytest.raises(TrainingError, match="2 feature rows, 1 labels"):
        TrainingGroup("r", _x(2), np.zeros(1, np.int32), np.ones(2, np.int32))
    with pytest.raises(ConfigError, match="none, position, ipw"):
        check_debias("sometimes")
    with pytest.raises(TrainingError, match="no held-out"):
        compare(np.zeros(0), np.zeros(0))

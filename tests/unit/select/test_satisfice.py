"""Cheap plans within a tolerance (``select.satisfice``): the ladder itself on hand-made
posteriors, and the policy's use of it on the synthetic problem of ``test_bandit``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pytest

from ltrr.errors import ConfigError
from ltrr.select import SelectParams
from ltrr.select.bandit import BanditPolicy
from ltrr.select.bandit_params import BanditParams
from ltrr.select.features import FeatureParams
from ltrr.select.overlap import OverlapState, union_miss
from ltrr.select.release import candidates, one_released, release_anchor
from ltrr.select.satisfice import cheapest_within

from .test_bandit import GRID, STRATEGIES, _request, _simulate

GRID3 = np.array([10, 25, 50], dtype=np.int64)
# lexical finds 0.90 in its top 10, 0.95 in 25, 0.96 in 50; dense 0.10, 0.20, 0.50
MEAN = np.array([[0.90, 0.95, 0.96], [0.10, 0.20, 0.50]])
OVERLAP = OverlapState.empty(2, 3, window=64).view(strength=1.0)  # no data: independent
REFERENCE = np.array([2, 2])  # lexical@50 + dense@50: P(found) = 1 - 0.04 * 0.5 = 0.98


def _plans(*rows: list[int]) -> list[np.ndarray]:
    return [np.array(r, dtype=np.int64) for r in rows]


def _found(levels: list[int], p: np.ndarray = MEAN) -> float:
    return float(1.0 - union_miss(p, np.array([levels]), OVERLAP)[0])


def test_the_highest_price_whose_plan_is_within_the_tolerance_is_taken() -> None:
    ladder = {0.01: _plans([0, -1]), 0.001: _plans([1, 0]), 0.0001: _plans([2, 1])}
    # lexical@10 alone: 0.90 (0.08 short); lexical@25 + dense@10: 1 - 0.05 * 0.9 = 0.955
    chosen = cheapest_within(
        REFERENCE, (MEAN, MEAN), OVERLAP, lambda p: ladder[p], list(ladder), 0.03, GRID3
    )
    assert chosen.tolist() == [1, 0]
    assert _found([1, 0]) == pytest.approx(0.955)


def test_nothing_within_the_tolerance_keeps_the_reference() -> None:
    ladder = {0.01: _plans([0, -1]), 0.001: _plans([1, 0])}
    chosen = cheapest_within(
        REFERENCE, (MEAN, MEAN), OVERLAP, lambda p: ladder[p], list(ladder), 0.01, GRID3
    )
    assert chosen.tolist() == REFERENCE.tolist()


def test_a_thompson_sample_far_from_the_mean_vetoes_the_cut() -> None:
    """The mean says dense@50 adds little beyond lexical@50; a sample that rates dense@50 at
    0.95 (an unsure posterior) says the cut loses too much, so the reference is kept."""
    sample = MEAN.copy()
    sample[0] = [0.50, 0.60, 0.70]
    sample[1] = [0.20, 0.60, 0.95]
    ladder = {0.01: _plans([2, -1])}
    args = (OVERLAP, lambda p: ladder[p], list(ladder), 0.03, GRID3)
    assert cheapest_within(REFERENCE, (MEAN, MEAN), *args).tolist() == [2, -1]
    assert cheapest_within(REFERENCE, (MEAN, sample), *args).tolist() == REFERENCE.tolist()


def test_a_reference_that_rarely_misses_allows_little_loss() -> None:
    """The reference misses 0.02; lexical@50 alone misses 0.04. Within an absolute tolerance
    of 0.03 it is taken, not when the loss may be at most half the reference's miss (0.01)."""
    ladder = {0.01: _plans([2, -1])}
    args = (OVERLAP, lambda p: ladder[p], list(ladder), 0.03, GRID3)
    assert cheapest_within(REFERENCE, (MEAN, MEAN), *args).tolist() == [2, -1]
    assert cheapest_within(REFERENCE, (MEAN, MEAN), *args, 0.5).tolist() == REFERENCE.tolist()
    assert cheapest_within(REFERENCE, (MEAN, MEAN), *args, 1.0).tolist() == [2, -1]


def test_of_the_acceptable_plans_at_one_price_the_fewest_candidates_win() -> None:
    ladder = {0.01: _plans([2, 0], [1, -1], [2, 2])}  # 60, 25 and 100 candidates
    chosen = cheapest_within(
        REFERENCE, (MEAN, MEAN), OVERLAP, lambda p: ladder[p], list(ladder), 0.05, GRID3
    )
    assert chosen.tolist() == [1, -1]
    assert candidates(np.stack(ladder[0.01]), GRID3).tolist() == [60, 25, 100]


@pytest.mark.parametrize("prices", [(0.0001, 0.001), (0.001, -0.1)])
def test_prices_must_be_positive_and_descending(prices: tuple[float, ...]) -> None:
    with pytest.raises(ConfigError, match="cheap_prices must be positive and descending"):
        BanditParams(cheap_prices=prices)


def _anchored(**kwargs: object) -> BanditPolicy:
    return BanditPolicy(
        SelectParams(strategies=STRATEGIES, depths=GRID, budget=200),
        BanditParams(greedy="thompson", anchors=("lexical", "dense"), **kwargs),  # type: ignore[arg-type]
    )


def _cost(plans: Sequence[Mapping[str, int]]) -> float:
    return float(np.mean([sum(p.values()) for p in plans]))


def test_first_plans_keep_the_reference_and_learned_ones_get_cheaper() -> None:
    """Before any feedback the prior rates every cut at a tolerance of 0.01 as too costly, so
    the ladder changes no plan; after 1,500 searches of the synthetic problem, at 0.03, the
    plans cost less than three quarters of those without it."""
    ladder = {"cheap_prices": (0.003, 0.001, 0.0003), "cheap_release": True}
    plain, early = _anchored(), _anchored(**ladder, found_tolerance=0.01)
    fresh = [_request(f"f{i}", f"first {i}", i % 2, budget=200) for i in range(20)]
    assert [early.plan(r).greedy for r in fresh] == [plain.plan(r).greedy for r in fresh]
    cheap = _anchored(**ladder, found_tolerance=0.03)
    for policy in (plain, cheap):
        _simulate(policy, 1500)
    tests = [_request(f"t{i}", f"fresh {i}", i % 2, budget=200) for i in range(40)]
    plain_plans = [plain.plan(r).greedy for r in tests]
    cheap_plans = [cheap.plan(r).greedy for r in tests]
    assert _cost(cheap_plans) < 0.75 * _cost(plain_plans), (cheap_plans, plain_plans)
    assert all(p["lexical"] >= 10 or p["dense"] >= 10 for p in cheap_plans)


@pytest.mark.parametrize(
    "ladder",
    [
        {"cheap_prices": (0.01,), "cheap_release": True, "found_tolerance": 0.5},
        {"release_gain": 0.5},
    ],
)
def test_the_probe_is_never_released(ladder: dict[str, object]) -> None:
    """Released anchors (``cheap_release`` or ``release_gain``) may drop dense where it adds
    nothing (context 0), never lexical when it is the probe, even where it adds nothing
    (context 1): its list was paid for before planning."""
    policy = BanditPolicy(
        SelectParams(strategies=STRATEGIES, depths=GRID, budget=200),
        BanditParams(greedy="mean", anchors=("lexical", "dense"), **ladder),  # type: ignore[arg-type]
        FeatureParams(probe="lexical", probe_depth=10),
    )
    _simulate(policy, 600)
    plans = {
        c: [policy.plan(_request(f"t{i}", f"fresh {i}", c, budget=200)).greedy for i in range(20)]
        for c in (0, 1)
    }
    assert any(p["dense"] == 0 for p in plans[0])
    assert all(p["lexical"] >= 10 for p in plans[0] + plans[1])


def test_a_released_plan_keeps_every_other_anchor_forced() -> None:
    """``release_anchor`` from ``one_released``: releasing dense leaves the probe (lexical)
    forced, even where the posterior says lexical adds nothing."""
    p = np.array([[0.0, 0.0, 0.0], [0.90, 0.95, 0.99]])  # lexical useless, dense finds all
    forced = np.array([0, 0])

    def allocate_from(start: np.ndarray) -> np.ndarray:  # adds dense@50 to what is forced
        out = start.copy()
        out[1] = 2
        return out

    starts = one_released(forced, np.array([False, True]))
    assert [s.tolist() for s in starts] == [[0, -1]]
    chosen = release_anchor(
        np.array([0, 2]), (p, p), OVERLAP, starts, allocate_from,
        lambda rows: 0.001 * candidates(rows, GRID3), 0.5,
    )  # fmt: skip
    assert chosen[0] == 0

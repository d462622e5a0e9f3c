"""The click model that judges relevance for off-policy estimates: cascade examination to the
first acted-on result, and a two-class binomial mixture whose EM fit learns the click noise."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pytest

from ltrr.ope.clicks import (
    Evidence,
    examinations,
    fit_mixture,
    judge,
    posterior,
    relevance,
)
from ltrr.types import EntityId


@dataclass(frozen=True)
class Page:
    shown: Sequence[EntityId]
    acted: Sequence[EntityId]


def page(shown: str, acted: str) -> Page:
    return Page(tuple(EntityId(e) for e in shown), tuple(EntityId(e) for e in acted))


def test_examination_stops_at_the_first_acted_on_result() -> None:
    pages = [
        page("abc", "b"),  # a, b examined; b acted on
        page("abc", "bc"),  # a second click below does not extend examination
        page("abc", ""),  # no action: the whole page
        page("ab", "z"),  # found elsewhere: the page examined, z relevant for sure
    ]
    evidence = examinations(pages, [0, 0, 0, 1])
    counts = {
        pair: (int(a), int(b), int(j))
        for pair, a, b, j in zip(
            evidence.pairs, evidence.n_examined, evidence.n_acted, evidence.best_position,
            strict=True,
        )
    }  # fmt: skip
    assert counts == {
        (0, "a"): (3, 0, 0), (0, "b"): (3, 2, 1), (0, "c"): (1, 0, 2),
        (1, "a"): (1, 0, 0), (1, "b"): (1, 0, 1),
    }  # fmt: skip
    assert evidence.elsewhere == [set(), {"z"}]


def test_the_prior_depends_on_the_best_examined_position() -> None:
    """Where relevant results sit first, a result examined only deep in the page needs more
    clicks to be believed relevant than one shown first."""
    rng = np.random.default_rng(3)
    n_pairs = 4000
    bucket = rng.integers(0, 3, n_pairs)
    relevant = rng.random(n_pairs) < np.array([0.6, 0.1, 0.01])[bucket]
    n = rng.integers(1, 20, n_pairs).astype(float)
    k = rng.binomial(n.astype(int), np.where(relevant, 0.9, 0.4)).astype(float)
    _, fit = fit_mixture(n, k, bucket)
    top, middle, deep = fit.prior_by_position
    assert top > 0.45 and deep < 0.05 and top > middle > deep
    one = np.array([1.0])
    p_top, p_deep = (
        posterior(one, one, q, fit.click_relevant, fit.click_other)[0] for q in (top, deep)
    )
    assert p_top > 0.5 > p_deep


@pytest.mark.parametrize(("c0", "c1"), [(0.05, 0.95), (0.4, 0.9)])
def test_em_recovers_the_click_rates_and_separates_the_classes(c0: float, c1: float) -> None:
    """Navigational-like and informational-like noise: rates within 0.03, and pairs examined
    often enough are classified right."""
    rng = np.random.default_rng(1)
    n_pairs, prior = 4000, 0.2
    relevant = rng.random(n_pairs) < prior
    n = rng.integers(1, 40, n_pairs).astype(float)
    k = rng.binomial(n.astype(int), np.where(relevant, c1, c0)).astype(float)
    posterior, fit = fit_mixture(n, k)
    assert abs(fit.click_other - c0) < 0.03 and abs(fit.click_relevant - c1) < 0.03
    assert abs(fit.prior - prior) < 0.03
    often = n >= 10
    assert ((posterior[often] > 0.5) == relevant[often]).mean() > 0.97


def test_one_click_is_weak_evidence_where_users_click_noise() -> None:
    """The same single click means more when non-relevant results are rarely clicked."""
    rng = np.random.default_rng(2)
    one = np.array([1.0])
    posteriors = []
    for c0 in (0.05, 0.4):
        relevant = rng.random(3000) < 0.2
        n = rng.integers(1, 30, 3000).astype(float)
        k = rng.binomial(n.astype(int), np.where(relevant, 0.9, c0)).astype(float)
        _, fit = fit_mixture(n, k)
        p = posterior(one, one, fit.prior, fit.click_relevant, fit.click_other)
        posteriors.append(float(p[0]))
    assert posteriors[0] > 0.5 > posteriors[1]


def test_relevance_per_group_includes_found_elsewhere() -> None:
    pages = [page("ab", "a")] * 30 + [page("ab", "")] * 3 + [page("cd", "x")]
    by_group, fit = relevance(pages, [0] * 33 + [1], 2)
    assert by_group[0]["a"] > 0.99 and by_group[0]["b"] < 0.01
    assert by_group[1]["x"] == 1.0 and by_group[1]["c"] < 0.5
    assert fit.n_pairs == 4


def test_no_evidence_fits_nothing() -> None:
    posterior, fit = fit_mixture(np.zeros(0), np.zeros(0))
    assert len(posterior) == 0 and fit.n_pairs == 0


def _evidence(n_pairs: int, seed: int) -> Evidence:
    """Pairs examined 1-5 times, a quarter relevant, clicked at 0.9 if relevant and 0.1 if not;
    pair 0 examined once and clicked."""
    rng = np.random.default_rng(seed)
    n = rng.integers(1, 6, n_pairs).astype(float)
    k = rng.binomial(n.astype(int), np.where(rng.random(n_pairs) < 0.25, 0.9, 0.1)).astype(float)
    n[0], k[0] = 1.0, 1.0
    pairs = [(0, EntityId(f"e{i}")) for i in range(n_pairs)]
    return Evidence(pairs, n, k, np.zeros(n_pairs, dtype=np.int64), [set()])


def test_replicates_carry_the_click_models_own_uncertainty() -> None:
    """Refitted to resampled pairs, the posterior of a pair examined once and clicked varies
    with how well the log pins the click rates down: far more with 100 pairs than with
    10,000, and centred on the fit either way."""
    rng = np.random.default_rng(0)
    spread = {}
    for n_pairs in (100, 10_000):
        judged = judge(_evidence(n_pairs, 1))
        replicates = np.array([judged.replicate(rng)[0] for _ in range(200)])
        spread[n_pairs] = replicates.std()
        assert abs(np.median(replicates) - judged.relevant[0]) < max(spread[n_pairs], 0.01)
    assert spread[100] > 4 * spread[10_000]


def test_a_pair_found_elsewhere_stays_relevant_in_every_replicate() -> None:
    evidence = replace(_evidence(50, 2), elsewhere=[{EntityId("z"), EntityId("e3")}])
    judged = judge(evidence)
    found = [judged.pairs.index((0, EntityId(e))) for e in ("z", "e3")]
    assert len(judged.pairs) == 51 and (judged.relevant[found] == 1.0).all()
    assert (judged.replicate(np.random.default_rng(0))[found] == 1.0).all()

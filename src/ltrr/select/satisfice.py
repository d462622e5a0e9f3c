"""Cheap plans within a tolerance: the price of a candidate rises as the posterior allows.

Why. One global price per candidate (``min_gain_per_candidate``) is either safe or cheap: low,
and a policy that has learned lexical@25 finds as much as lexical@100+dense@100 still pays for
both (Cranfield: 4.5x the cheapest fixed plan that finds as much); high, and the first plans,
drawn from a prior that knows nothing, cut deep lists the fusion baseline would have found
with (its worst 500-search window fell 0.025 below hybrid). What should set the price is the
evidence: a plan may be cheap where the model is sure the cut loses little.

How: a constrained knapsack solved by its Lagrangian on a ladder of prices. The *reference*
plan is the allocation at the configured ``min_gain_per_candidate`` (the plan as it is without
this module). For each price of ``cheap_prices``, highest (cheapest plan) first, the budget is
allocated again at that price; the first plan whose P(the union finds the item) is within
``found_tolerance`` of the reference's, under both the posterior mean and the request's
Thompson sample, is planned. A context the model knows little of has a Thompson sample far
from its mean, and a prior that rates every band at its cold-start hazard, so the cut looks
costly and the reference is kept: the first searches buy safety, later ones get cheap. This is
the conservative-bandit idea (Wu et al. 2016, "Conservative Bandits"; Kazerouni et al. 2017):
leave the baseline only as far as the model's own estimate of the loss allows.

A tolerance in P(found) means different things where the reference misses 0.3% (a music
catalog's titles) and where it misses 10% (prose queries with many relevant documents):
``miss_ratio`` bounds the loss also by that share of the reference's own P(miss), so a context
whose reference plan almost never misses is allowed almost no loss.

With ``release`` the ladder also tries, at each price, the plans with one anchor not forced
(never the probe, whose list every plan already paid for), so a confident context can drop an
anchor the other strategies make redundant; of the acceptable plans at a price, the one with
the fewest candidates is taken.

Probabilities stay exact: the plan is a deterministic function of the state, the request and
the request's generator, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from ltrr.select.overlap import Array, Overlap, union_miss
from ltrr.select.release import Levels, candidates


def cheapest_within(
    reference: Levels,
    posteriors: tuple[Array, Array],
    overlap: Overlap,
    options_at: Callable[[float], Sequence[Levels]],
    prices: Sequence[float],
    tolerance: float,
    size: NDArray[np.float64] | NDArray[np.int64],
    miss_ratio: float = np.inf,
) -> Levels:
    """The plan to run: the first acceptable option down the ladder ``prices``, else
    ``reference``.

    ``posteriors``: (mean, sample) P(found in s's top grid[g]), each (S, G);
    ``options_at(price)``: the plans allocated at ``price`` (levels (S,), -1 = off);
    an option is acceptable when, under every posterior, its P(found) is at least the
    reference's less ``tolerance`` and less ``miss_ratio`` times the reference's P(miss); of
    the acceptable options at one price, the fewest candidates (``size``: the grid (G,) or
    the candidates charged per arm (S, G), as ``release.candidates`` reads it).
    """
    miss = np.array([union_miss(p, reference[None, :], overlap)[0] for p in posteriors])
    base = 1.0 - miss - np.minimum(tolerance, miss_ratio * miss)
    for price in prices:
        options = [o for o in options_at(price) if (o >= 0).any()]
        if not options:
            continue
        rows = np.stack(options)
        found = 1.0 - np.stack([union_miss(p, rows, overlap) for p in posteriors])  # (2, n)
        ok = np.flatnonzero((found >= base[:, None] - 1e-12).all(axis=0))
        if len(ok):
            cost = candidates(rows[ok], size)
            chosen: Levels = rows[ok[int(np.argmin(cost))]]
            return chosen
    return reference

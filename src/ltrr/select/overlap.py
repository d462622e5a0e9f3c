"""What one more strategy adds to the union, and the greedy plan under a candidate budget.

Strategies find the same easy items, so a union is worth less than independent strategies
would be, and what a deep arm misses is harder than what a shallow one misses. The chance that
arm b finds the item after the arms C already chosen all missed is written as ``p_b(x)``
times a lift ``L(C, b) = P(b finds | C missed) / P(b finds)``, estimated as observed over
expected finds (O/E) in two layers:

- *Recent joint outcomes*: a ring buffer of the last ``window`` searches, one bit per arm for
  "observed" (the strategy ran at least that deep) and "found" (cumulative). Among the rows
  where every arm of C missed and b was observed, O = rows where b found, E = rows times b's
  find rate in the window. This sees three-way effects pairwise statistics cannot: on SciFact
  fuzzy@50 finds 0 of 15 items that lexical@50 and dense@100 both missed, though it finds
  28% of those lexical@100 alone missed.
- *Pair prior*: all-time co-occurrence counts give pairwise lifts, shrunk from arm pairs to
  strategy pairs (pooled over depths) to independence; their product over C is the prior of
  ``L(C, b)``, worth ``strength`` pseudo expected finds.

Lifts are capped at 1: complementarity is left to the per-arm probabilities, which already
depend on the query, rather than counted twice. ``union_miss`` takes the strategies of a plan
from the likeliest finder down, each finding with ``p * L(earlier ones, it)``.

The loops themselves (lift, union, greedy walk) are compiled in ``select.plan_kernel``; this
module holds the learned state, the view and the Python-facing functions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ltrr.select import plan_kernel

Array = NDArray[np.float64]
Bits = NDArray[np.uint64]
_ONE = np.uint64(1)


@dataclass(frozen=True, slots=True)
class Overlap:
    """A read-only view for planning: pair lifts (A, A) and the window's bitsets (A, W)."""

    pair: Array
    seen: Bits
    found: Bits
    missed: Bits
    p_found: Array
    strength: float

    @classmethod
    def independent(cls, n_arms: int, pair: Array | None = None) -> Overlap:
        """No window; lifts from ``pair`` (default all 1: independent strategies)."""
        empty = np.zeros((n_arms, 0), dtype=np.uint64)
        lifts = np.ones((n_arms, n_arms)) if pair is None else pair
        return cls(lifts, empty, empty, empty, np.full(n_arms, 0.5), 1.0)

    def lift(self, prefix: NDArray[np.int64], arm: NDArray[np.int64]) -> Array:
        """``L(prefix row, arm)`` for each row: prefix (n, k) arms, arm (n,). Returns (n,)."""
        arrays = (self.pair, self.seen, self.found, self.missed, self.p_found, self.strength)
        rows = zip(prefix.astype(np.int64), arm.tolist(), strict=True)
        return np.array([plan_kernel.lift(row, b, *arrays) for row, b in rows])


@dataclass(slots=True)
class OverlapState:
    """The learned part: pair counts (A, A) and the ring buffer (A, W) of recent searches."""

    n_strategies: int
    n_depths: int
    window: int
    co_seen: Array  # searches that observed both arms
    co_found: Array  # of those, searches where the column's arm found the item
    co_missed: Array  # of those, searches where the row's arm missed
    co_missed_found: Array  # of those, the row's arm missed and the column's found
    win_seen: Bits
    win_found: Bits

    @classmethod
    def empty(cls, n_strategies: int, n_depths: int, window: int) -> OverlapState:
        n = n_strategies * n_depths
        words = -(-window // 64)
        return cls(
            n_strategies,
            n_depths,
            window,
            co_seen=np.zeros((n, n)),
            co_found=np.zeros((n, n)),
            co_missed=np.zeros((n, n)),
            co_missed_found=np.zeros((n, n)),
            win_seen=np.zeros((n, words), dtype=np.uint64),
            win_found=np.zeros((n, words), dtype=np.uint64),
        )

    def add(self, index: int, seen: np.ndarray, found: np.ndarray, weight: float = 1.0) -> None:
        """Record search number ``index``: ``seen`` and ``found`` are (A,) booleans."""
        o = seen * weight
        f = o * found
        m = o - f
        self.co_seen += np.outer(o, seen)
        self.co_found += np.outer(o, seen & found)
        self.co_missed += np.outer(m, seen)
        self.co_missed_found += np.outer(m, seen & found)
        row = index % self.window
        word, bit = row // 64, _ONE << np.uint64(row % 64)
        for bits, values in ((self.win_seen, seen), (self.win_found, seen & found)):
            bits[:, word] = np.where(values, bits[:, word] | bit, bits[:, word] & ~bit)

    def pair_lift(self, strength: float) -> Array:
        """All-time ``P(b finds | a missed) / P(b finds)`` per arm pair (a row, b column),
        O/E shrunk toward the strategy pair's pooled O/E, that toward 1."""
        n_s, n_g = self.n_strategies, self.n_depths
        p_found = (self.co_found + 1.0) / (self.co_seen + 2.0)
        observed, expected = self.co_missed_found, self.co_missed * p_found
        pool_o = observed.reshape(n_s, n_g, n_s, n_g).sum(axis=(1, 3))
        pool_e = expected.reshape(n_s, n_g, n_s, n_g).sum(axis=(1, 3))
        pooled = (pool_o + strength) / (pool_e + strength)
        prior = np.repeat(np.repeat(pooled, n_g, axis=0), n_g, axis=1)
        lift = (observed + strength * prior) / (expected + strength)
        return np.clip(lift, 0.0, 1.0)

    def view(self, strength: float) -> Overlap:
        n_seen = np.bitwise_count(self.win_seen).sum(axis=1)
        n_found = np.bitwise_count(self.win_found).sum(axis=1)
        return Overlap(
            pair=self.pair_lift(strength),
            seen=self.win_seen,
            found=self.win_found,
            missed=self.win_seen & ~self.win_found,
            p_found=(n_found + 1.0) / (n_seen + 2.0),
            strength=strength,
        )

    def arrays(self) -> dict[str, np.ndarray]:
        names = ("co_seen", "co_found", "co_missed", "co_missed_found", "win_seen", "win_found")
        return {name: getattr(self, name) for name in names}

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        for name in self.arrays():
            getattr(self, name)[:] = arrays[name]


# -- the union and the greedy plan ---------------------------------------------------------


def union_miss(p: Array, levels: NDArray[np.int64], overlap: Overlap) -> Array:
    """P(no strategy of the plan finds the item), per plan.

    ``p``: (S, G) P(found in s's top grid[g]); ``levels``: (n_plans, S) grid indices, -1 =
    off. Returns (n_plans,). With lifts of 1 this is the product of the strategies' misses.
    """
    o = overlap
    p = np.ascontiguousarray(p, dtype=np.float64)
    return np.array(
        [
            plan_kernel.union_miss_one(
                p, row, o.pair, o.seen, o.found, o.missed, o.p_found, o.strength
            )
            for row in np.asarray(levels, dtype=np.int64)
        ]
    )


def allocate(
    p: Array,
    overlap: Overlap,
    grid: NDArray[np.int64],
    budget: int,
    min_gain: float,
    latency: Array,
    start: NDArray[np.int64] | None = None,
    *,
    ms: Array | None = None,
    budget_ms: float = np.inf,
    size: Array | None = None,
) -> NDArray[np.int64]:
    """Greedy depth per strategy, as grid indices (-1 = off), from ``start`` (default all off).

    ``p``: (S, G) P(found in s's top grid[g]), non-decreasing in g. ``latency``: the price of
    each arm in P(found), (S, G), or (S,) for a price of switching the strategy on whatever its
    depth. Each step takes the move (raise one strategy to a deeper grid depth) with the best
    (gain in P(union finds) - the move's price) per added candidate, while it fits ``budget``
    candidates and ``budget_ms`` of estimated time (``ms``, (S, G)), and is worth ``min_gain``
    per candidate. The first step always happens (at the shallowest depth if the budgets are
    smaller), and the best single arm replaces the result if it scores higher on ``found -
    price - min_gain * candidates`` (ratio greedy misses a deep arm whose gain comes late).
    ``start`` levels are kept (a floor: anchors); then no single-arm replacement. ``size``
    (S, G): the candidates each arm is charged, in the budget and per candidate (default its
    depth; the policy may pass the measured list lengths of ``select.lengths``); a move is
    charged at least ``plan_kernel.MIN_STEP``.
    """
    n_s, n_g = p.shape
    price = np.broadcast_to(latency[:, None] if latency.ndim == 1 else latency, (n_s, n_g))
    o = overlap
    levels: NDArray[np.int64] = plan_kernel.allocate_levels(
        np.ascontiguousarray(p, dtype=np.float64), o.pair, o.seen, o.found, o.missed,
        o.p_found, float(o.strength), arm_sizes(grid, n_s, size), float(budget),
        float(min_gain), np.ascontiguousarray(price, dtype=np.float64),
        np.zeros((n_s, n_g)) if ms is None else np.ascontiguousarray(ms, dtype=np.float64),
        float(budget_ms),
        np.full(n_s, -1, dtype=np.int64) if start is None else start.astype(np.int64),
    )  # fmt: skip
    return levels


def arm_sizes(grid: NDArray[np.int64], n_strategies: int, size: Array | None = None) -> Array:
    """(S, G) candidates per arm: ``size`` if given, else each arm's depth."""
    if size is None:
        return np.repeat(np.asarray(grid, dtype=np.float64)[None, :], n_strategies, axis=0)
    return np.ascontiguousarray(size, dtype=np.float64)

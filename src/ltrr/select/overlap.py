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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

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
        prior = self.pair[prefix, arm[:, None]].prod(axis=1)
        all_missed = np.bitwise_and.reduce(self.missed[prefix], axis=1)
        n_rows = np.bitwise_count(all_missed & self.seen[arm]).sum(axis=1)
        n_found = np.bitwise_count(all_missed & self.found[arm]).sum(axis=1)
        expected = n_rows * self.p_found[arm]
        lift: Array = (n_found + self.strength * prior) / (expected + self.strength)
        return np.clip(lift, 0.0, 1.0)

    def lifts(self, ranked: NDArray[np.int64]) -> Array:
        """``L(ranked[:, :k], ranked[:, k])`` for every k >= 1: ranked (n, S) arms, in the
        order the union takes them; returns (n, S - 1)."""
        n, n_s = ranked.shape
        arm = ranked[:, 1:]
        pair = self.pair[ranked[:, :, None], ranked[:, None, :]]  # (n, S, S): j -> k
        earlier = np.tri(n_s, k=-1, dtype=bool).T  # [j, k]: j < k
        prior = np.where(earlier, pair, 1.0).prod(axis=1)[:, 1:]
        if self.missed.shape[1] == 0:  # no window
            n_rows = n_found = np.zeros((n, n_s - 1))
        else:
            all_missed = np.bitwise_and.accumulate(self.missed[ranked[:, :-1]], axis=1)
            n_rows = np.bitwise_count(all_missed & self.seen[arm]).sum(axis=2)
            n_found = np.bitwise_count(all_missed & self.found[arm]).sum(axis=2)
        expected = n_rows * self.p_found[arm]
        lift: Array = (n_found + self.strength * prior) / (expected + self.strength)
        return np.clip(lift, 0.0, 1.0)


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
    n_s, n_g = p.shape
    s = np.arange(n_s)[None, :]
    level = np.maximum(levels, 0)
    q = np.where(levels >= 0, 1.0 - p[s, level], 1.0)
    order = np.argsort(q, axis=1, kind="stable")
    n_on = int((levels >= 0).sum(axis=1).max(initial=0))  # off strategies sort last, add 1
    order = order[:, : max(n_on, 1)]
    rows = np.arange(len(q))[:, None]
    qs = q[rows, order]
    miss = qs[:, 0].copy()
    if n_on > 1:
        # Every position's lift at once: the prefix "all earlier arms missed" is a running
        # AND of the window's miss bits, the pair prior a running product (one pass of numpy
        # over the plans, instead of one per position; plan() is on every request's path).
        ranked = order * n_g + level[rows, order]
        miss *= np.prod(1.0 - np.minimum(1.0, (1.0 - qs[:, 1:]) * overlap.lifts(ranked)), axis=1)
    return miss


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
    ``start`` levels are kept (a floor: anchors); then no single-arm replacement.
    """
    n_s, n_g = p.shape
    price = np.broadcast_to(latency[:, None] if latency.ndim == 1 else latency, (n_s, n_g))
    ms = np.zeros((n_s, n_g)) if ms is None else ms
    arm_s, arm_g = np.divmod(np.arange(n_s * n_g), n_g)
    level = np.full(n_s, -1, dtype=np.int64) if start is None else start.astype(np.int64)
    spent = int(grid[level[level >= 0]].sum())
    miss = float(union_miss(p, level[None, :], overlap)[0]) if spent else 1.0
    rows = np.arange(n_s)
    while True:
        on = level >= 0
        current = np.where(on, grid[np.maximum(level, 0)], 0)
        now_price = np.where(on, price[rows, np.maximum(level, 0)], 0.0)
        now_ms = np.where(on, ms[rows, np.maximum(level, 0)], 0.0)
        cost = grid[arm_g] - current[arm_s]
        move_ms = ms[arm_s, arm_g] - now_ms[arm_s]
        ok = (arm_g > level[arm_s]) & (spent + cost <= budget)
        ok &= now_ms.sum() + move_ms <= budget_ms
        if not ok.any():
            if spent:
                break
            ok = arm_g == 0
        trial = np.tile(level, (int(ok.sum()), 1))
        trial[np.arange(len(trial)), arm_s[ok]] = arm_g[ok]
        new_miss = union_miss(p, trial, overlap)
        gain = miss - new_miss - (price[arm_s[ok], arm_g[ok]] - now_price[arm_s[ok]])
        ratio = gain / cost[ok]
        best = int(np.argmax(ratio))
        if spent and (ratio[best] <= 0.0 or ratio[best] < min_gain):
            break
        level = trial[best]
        spent += int(cost[ok][best])
        miss = float(new_miss[best])
    if start is not None and (start >= 0).any():
        return level
    on = level >= 0
    value = 1.0 - miss - price[rows[on], level[on]].sum() - min_gain * spent
    single = np.full((n_s * n_g, n_s), -1, dtype=np.int64)
    single[np.arange(n_s * n_g), arm_s] = arm_g
    fits = (grid[arm_g] <= max(budget, int(grid[0]))) & (ms[arm_s, arm_g] <= budget_ms)
    fits |= arm_g == 0
    values = p[arm_s, arm_g] - price[arm_s, arm_g] - min_gain * grid[arm_g]
    values = np.where(fits, values, -np.inf)
    best = int(np.argmax(values))
    return single[best] if values[best] > value + 1e-12 else level

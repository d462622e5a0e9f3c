"""The planner's inner loops, compiled (numba): the union's miss probability of one plan and the
greedy allocation that calls it a few hundred times per search.

Why compiled: a plan is (strategies x depths) = 5 x 6 arms, so the greedy walk is tiny loops
over tiny arrays. As numpy it was about thirty array operations per trial plan, 1.7 ms per
search at 100k entities (a quarter of the whole request); as scalar loops in machine code it is
a few microseconds. ``nogil`` lets a service thread plan while another holds the interpreter.

The semantics are those documented in ``select.overlap``; this module holds only the loops.
Array layouts: ``p`` (S, G) P(found in s's top grid[g]); arms are ``s * G + g``; ``pair``
(A, A) pair lifts, row = the arm that missed; ``seen``/``found``/``missed`` (A, W) uint64
bitsets of the recent window; ``p_found`` (A,) window find rates.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numpy.typing import NDArray

_M1 = np.uint64(0x5555555555555555)
_M2 = np.uint64(0x3333333333333333)
_M4 = np.uint64(0x0F0F0F0F0F0F0F0F)
_H01 = np.uint64(0x0101010101010101)
_S1, _S2, _S4, _S56 = np.uint64(1), np.uint64(2), np.uint64(4), np.uint64(56)

_jit = numba.njit(cache=True, nogil=True)
#: The least a move of the greedy walk is charged, in candidates: an arm whose measured list is
#: no longer than the one below it is not free (``select.lengths``).
MIN_STEP = 1.0


@_jit
def _popcount(x: Any) -> int:
    x = x - ((x >> _S1) & _M1)
    x = (x & _M2) + ((x >> _S2) & _M2)
    x = (x + (x >> _S4)) & _M4
    return int((x * _H01) >> _S56)


@_jit
def _lift(
    all_missed: Any, prior: float, arm: int, seen: Any, found: Any, p_found: Any, strength: float
) -> float:
    """``L(C, arm)`` given the AND of C's window miss bits and C's pair-prior product."""
    n_rows = 0
    n_found = 0
    for w in range(all_missed.shape[0]):
        a = all_missed[w]
        n_rows += _popcount(a & seen[arm, w])
        n_found += _popcount(a & found[arm, w])
    lift = (n_found + strength * prior) / (n_rows * p_found[arm] + strength)
    return float(min(max(lift, 0.0), 1.0))


@_jit
def lift(
    prefix: Any, arm: int, pair: Any, seen: Any, found: Any, missed: Any, p_found: Any,
    strength: float,
) -> float:  # fmt: skip
    """``L(prefix, arm)``: the lift of ``arm`` after every arm of ``prefix`` (k,) missed."""
    acc = np.full(missed.shape[1], np.uint64(0xFFFFFFFFFFFFFFFF), dtype=np.uint64)
    prior = 1.0
    for a in prefix:
        prior *= pair[a, arm]
        for w in range(missed.shape[1]):
            acc[w] &= missed[a, w]
    return _lift(acc, prior, arm, seen, found, p_found, strength)


@_jit
def union_miss_one(
    p: Any, level: Any, pair: Any, seen: Any, found: Any, missed: Any, p_found: Any,
    strength: float,
) -> float:  # fmt: skip
    """P(no strategy of the plan ``level`` (S,), grid indices or -1, finds the item).

    The strategies are taken from the likeliest finder down (stable on ties), each finding
    with ``p * L(earlier ones, it)``.
    """
    n_s, n_g = p.shape
    order = np.empty(n_s, dtype=np.int64)
    q = np.empty(n_s)
    n_on = 0
    for s in range(n_s):
        if level[s] >= 0:
            j = n_on - 1
            qs = 1.0 - p[s, level[s]]
            while j >= 0 and q[j] > qs:  # insertion sort: stable, and S is 5 or so
                q[j + 1] = q[j]
                order[j + 1] = order[j]
                j -= 1
            q[j + 1] = qs
            order[j + 1] = s
            n_on += 1
    if n_on == 0:
        return 1.0
    acc = missed[order[0] * n_g + level[order[0]]].copy()
    miss = q[0]
    for k in range(1, n_on):
        arm = order[k] * n_g + level[order[k]]
        prior = 1.0
        for j in range(k):
            prior *= pair[order[j] * n_g + level[order[j]], arm]
        found_k = (1.0 - q[k]) * _lift(acc, prior, arm, seen, found, p_found, strength)
        miss *= 1.0 - min(1.0, found_k)
        for w in range(acc.shape[0]):
            acc[w] &= missed[arm, w]
    return float(miss)


@_jit
def allocate_levels(
    p: Any, pair: Any, seen: Any, found: Any, missed: Any, p_found: Any, strength: float,
    size: Any, budget: float, min_gain: float, price: Any, ms: Any, budget_ms: float, start: Any,
) -> Any:  # fmt: skip
    """``overlap.allocate``'s greedy walk (see there); ``start`` (S,) levels, -1 = off;
    ``size`` (S, G) the candidates each arm is charged (its depth, or its measured length);
    a move is charged at least ``MIN_STEP`` candidates."""
    n_s, n_g = p.shape
    level = start.copy()
    chosen = False
    spent = 0.0
    for s in range(n_s):
        if level[s] >= 0:
            chosen = True
            spent += size[s, level[s]]
    miss = 1.0
    if chosen:
        miss = union_miss_one(p, level, pair, seen, found, missed, p_found, strength)
    trial = level.copy()
    while True:
        now_ms = 0.0
        for s in range(n_s):
            if level[s] >= 0:
                now_ms += ms[s, level[s]]
        any_ok = False
        for s in range(n_s):
            current = size[s, level[s]] if level[s] >= 0 else 0.0
            for g in range(level[s] + 1, n_g):
                move_ms = ms[s, g] - (ms[s, level[s]] if level[s] >= 0 else 0.0)
                if spent + size[s, g] - current <= budget and now_ms + move_ms <= budget_ms:
                    any_ok = True
        if not any_ok and chosen:
            break
        best_ratio, best_s, best_g, best_miss = -np.inf, -1, -1, 1.0
        for s in range(n_s):
            current = size[s, level[s]] if level[s] >= 0 else 0.0
            now_price = price[s, level[s]] if level[s] >= 0 else 0.0
            for g in range(level[s] + 1, n_g):
                if any_ok:
                    move_ms = ms[s, g] - (ms[s, level[s]] if level[s] >= 0 else 0.0)
                    if spent + size[s, g] - current > budget or now_ms + move_ms > budget_ms:
                        continue
                elif g != 0:  # nothing fits and nothing chosen yet: the shallowest arms
                    continue
                trial[s] = g
                new_miss = union_miss_one(p, trial, pair, seen, found, missed, p_found, strength)
                trial[s] = level[s]
                step = max(size[s, g] - current, MIN_STEP)
                ratio = (miss - new_miss - (price[s, g] - now_price)) / step
                if ratio > best_ratio:
                    best_ratio, best_s, best_g, best_miss = ratio, s, g, new_miss
        if chosen and (best_ratio <= 0.0 or best_ratio < min_gain):
            break
        spent += size[best_s, best_g] - (size[best_s, level[best_s]] if level[best_s] >= 0 else 0.0)
        level[best_s] = best_g
        trial[best_s] = best_g
        miss = best_miss
        chosen = True
    if start.max() >= 0:
        return level
    value = 1.0 - miss - min_gain * spent
    for s in range(n_s):
        if level[s] >= 0:
            value -= price[s, level[s]]
    best_value, best_s, best_g = -np.inf, -1, -1
    for s in range(n_s):
        for g in range(n_g):
            fits = size[s, g] <= max(budget, size[s, 0]) and ms[s, g] <= budget_ms
            v = p[s, g] - price[s, g] - min_gain * size[s, g] if fits or g == 0 else -np.inf
            if v > best_value:
                best_value, best_s, best_g = v, s, g
    if best_value > value + 1e-12:
        level[:] = -1
        level[best_s] = best_g
    return level


def warm_up() -> NDArray[np.int64]:
    """Compile (or load from the cache) every kernel once, so the first search does not pay."""
    p = np.full((2, 2), 0.5)
    bits = np.zeros((4, 1), dtype=np.uint64)
    start = np.full(2, -1, dtype=np.int64)
    size = np.array([[10.0, 20.0], [10.0, 20.0]])
    lift(np.zeros(1, dtype=np.int64), 1, np.ones((4, 4)), bits, bits, bits, np.full(4, 0.5), 1.0)
    out: NDArray[np.int64] = allocate_levels(
        p, np.ones((4, 4)), bits, bits, bits, np.full(4, 0.5), 1.0, size, 20.0, 0.0,
        np.zeros((2, 2)), np.zeros((2, 2)), np.inf, start,
    )  # fmt: skip
    return out

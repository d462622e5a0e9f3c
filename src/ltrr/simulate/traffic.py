"""Simulated traffic: who searches for what, when, and the random draws of their clicks.

Queries. A seeded permutation of the traffic pool gives each query a popularity rank ``r``
(1-based); a search draws rank ``r`` with probability proportional to ``r^-s`` (Zipf, ``s`` =
``zipf_exponent``, about 1 for web and music search logs), so a few queries repeat often and
most are rare, as in live traffic.

Users and context. ``n_users`` users, drawn per search with a Zipf law of exponent
``user_zipf_exponent``, each with a home segment, locale and device (the configured values,
the first most likely: weight ``1 / (i + 1)``) and a taste profile: ``taste_per_user`` values of
the catalog's most common attribute values (generic ``taste-<i>`` names when it has none)
with Dirichlet(1) affinities. A search switches to another device with ``device_switch``; its
hour follows a day-shaped distribution (most searches in the evening). A user's session ends
after ``session_gap_s`` seconds without a search. Searches are ``seconds_per_search`` apart.

Every array comes from ``numpy.random.default_rng([seed, stream])`` with one stream per use,
so the traffic of a seed is the same whichever policies run, and request ids
(``sim-<seed>-<i>``) are the same for every policy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ltrr.simulate.params import SHOWN, SimulateParams
from ltrr.types import Context, Entity

#: Stream ids of ``default_rng([seed, stream])``.
TRAFFIC_STREAM, CLICK_STREAM, UNSEEN_STREAM = 1, 2, 3

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]


def zipf_probabilities(n: int, exponent: float) -> FloatArray:
    """``P(rank r) ~ r^-exponent`` for r = 1..n, shape (n,)."""
    weights = np.arange(1, n + 1, dtype=np.float64) ** -exponent
    out: FloatArray = weights / weights.sum()
    return out


def _hour_probabilities() -> FloatArray:
    """A day-shaped distribution over 24 hours: low at 4h, high at 20h."""
    hours = np.arange(24, dtype=np.float64)
    weights = 1.0 + 0.8 * np.cos(2.0 * math.pi * (hours - 20.0) / 24.0)
    out: FloatArray = weights / weights.sum()
    return out


def _by_order(n: int) -> FloatArray:
    weights = 1.0 / np.arange(1, n + 1, dtype=np.float64)
    out: FloatArray = weights / weights.sum()
    return out


def taste_pool(entities: Iterable[Entity], n_values: int) -> list[str]:
    """The ``n_values`` most common attribute values of ``entities`` (taste profiles draw on
    them), most common first."""
    if n_values <= 0:
        return []
    counts: dict[str, int] = {}
    for entity in entities:
        for values in entity.attributes.values():
            for value in values:
                counts[value] = counts.get(value, 0) + 1
    return sorted(counts, key=lambda v: (-counts[v], v))[:n_values]


@dataclass(frozen=True, slots=True)
class Users:
    """Per-user home context: codes into the configured value lists, and taste profiles."""

    segment: IntArray
    locale: IntArray
    device: IntArray
    taste: tuple[dict[str, float], ...]

    @classmethod
    def draw(
        cls, params: SimulateParams, taste_pool: Sequence[str], rng: np.random.Generator
    ) -> Users:
        n = params.n_users
        pool = list(taste_pool) or [f"taste-{i}" for i in range(max(params.taste_values, 1))]
        per_user = min(params.taste_per_user, len(pool))
        tastes = []
        for _ in range(n):
            values = rng.choice(len(pool), size=per_user, replace=False)
            weights = rng.dirichlet(np.ones(per_user))
            tastes.append(
                {pool[int(v)]: round(float(w), 6) for v, w in zip(values, weights, strict=True)}
            )
        return cls(
            segment=rng.choice(len(params.segments), n, p=_by_order(len(params.segments))),
            locale=rng.choice(len(params.locales), n, p=_by_order(len(params.locales))),
            device=rng.choice(len(params.devices), n, p=_by_order(len(params.devices))),
            taste=tuple(tastes),
        )


@dataclass(frozen=True, slots=True)
class Traffic:
    """One seed's searches: shape (N,) arrays, plus (N, SHOWN) uniforms for the clicks."""

    seed: int
    params: SimulateParams
    users: Users
    query: IntArray
    user: IntArray
    session: IntArray
    device: IntArray
    hour: IntArray
    time_s: FloatArray
    u_click: FloatArray
    u_stop: FloatArray
    u_found: FloatArray

    def __len__(self) -> int:
        return len(self.query)

    def request_id(self, i: int) -> str:
        return f"sim-{self.seed}-{i}"

    def context(self, i: int) -> Context:
        p, u = self.params, int(self.user[i])
        return Context(
            user_id=f"u{u}",
            session_id=f"u{u}-s{int(self.session[i])}",
            segment=p.segments[int(self.users.segment[u])],
            locale=p.locales[int(self.users.locale[u])],
            device=p.devices[int(self.device[i])],
            hour=int(self.hour[i]),
            taste=self.users.taste[u],
        )


def draw_traffic(
    n_queries: int,
    n_searches: int,
    params: SimulateParams,
    seed: int,
    taste_pool: Sequence[str] = (),
    stream: int = TRAFFIC_STREAM,
) -> Traffic:
    """``n_searches`` searches over a pool of ``n_queries`` queries (indices into the pool)."""
    rng = np.random.default_rng([seed, stream])
    users = Users.draw(params, taste_pool, rng)
    ranks = rng.permutation(n_queries)
    query = ranks[
        rng.choice(n_queries, n_searches, p=zipf_probabilities(n_queries, params.zipf_exponent))
    ]
    user_rank = rng.permutation(params.n_users)
    user = user_rank[
        rng.choice(
            params.n_users,
            n_searches,
            p=zipf_probabilities(params.n_users, params.user_zipf_exponent),
        )
    ]
    switch = rng.random(n_searches) < params.device_switch
    other = rng.integers(0, len(params.devices), n_searches)
    device = np.where(switch, other, users.device[user])
    hour = rng.choice(24, n_searches, p=_hour_probabilities())
    time_s = np.arange(n_searches, dtype=np.float64) * params.seconds_per_search
    clicks = np.random.default_rng([seed, stream, CLICK_STREAM])
    return Traffic(
        seed=seed,
        params=params,
        users=users,
        query=query.astype(np.int64),
        user=user.astype(np.int64),
        session=_sessions(user, time_s, params.session_gap_s),
        device=device.astype(np.int64),
        hour=hour.astype(np.int64),
        time_s=time_s,
        u_click=clicks.random((n_searches, SHOWN)),
        u_stop=clicks.random((n_searches, SHOWN)),
        u_found=clicks.random(n_searches),
    )


def _sessions(user: IntArray, time_s: FloatArray, gap_s: float) -> IntArray:
    """Per search, the number of the user's session (a new one after ``gap_s`` idle seconds)."""
    last: dict[int, float] = {}
    count: dict[int, int] = {}
    out = np.zeros(len(user), dtype=np.int64)
    for i, (u, t) in enumerate(zip(user.tolist(), time_s.tolist(), strict=True)):
        if u not in last or t - last[u] > gap_s:
            count[u] = count.get(u, -1) + 1
        last[u] = t
        out[i] = count[u]
    return out

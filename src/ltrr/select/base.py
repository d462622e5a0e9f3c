"""The Policy contract and the Plan it returns (DESIGN.md: Policy, "Propensities, practically").

A plan is drawn from an explicit mixture so that every probability is exact: with probability
``1 - epsilon`` the policy's deterministic ``greedy`` plan, with probability ``epsilon`` an
exploration plan whose depth per strategy is drawn independently from ``explore[strategy]``
(a distribution over ``{0 (off), d1, ..., dn}``). Hence, for the drawn depths ``d``:

- ``P(plan) = (1 - eps) * 1[d == greedy] + eps * prod_s explore_s(d_s)``;
- per strategy, ``P(d_s) = (1 - eps) * 1[greedy_s == d_s] + eps * explore_s(d_s)``, which sums
  to 1 over ``{0} + grid``;
- a target plan ``T`` is *covered* (every strategy of ``T`` ran at least as deep) with
  ``P = (1 - eps) * 1[greedy covers T] + eps * prod_s P_explore_s(d_s >= T_s)``,
  the weight that makes off-policy estimates of a plan's found-rate unbiased.

Fixed plans are the special case ``epsilon = 0``.

A policy whose learner gives a probability to each of a finite set of whole plans (the
Vowpal Wabbit peer, ``select.vw``) draws from that set instead: ``distribution`` lists every
plan it could have drawn with its probability, and probabilities, marginals and coverage are
sums over it; ``greedy`` is its most probable plan and ``epsilon = 1 - P(greedy)``.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ltrr.errors import PlanError
from ltrr.types import Context, EntityId
from ltrr.understand.base import UnderstoodQuery

#: strategy -> depth; strategies absent or at 0 do not run.
Depths = Mapping[str, int]


@dataclass(frozen=True, slots=True)
class Plan:
    """The strategies to run and how deep, with the distribution they were drawn from."""

    depths: Depths
    greedy: Depths
    epsilon: float = 0.0
    explore: Mapping[str, Mapping[int, float]] = field(default_factory=dict)
    policy: str = ""
    #: (depths, probability) of every plan the policy could have drawn, when it drew from an
    #: explicit distribution over whole plans; empty for the greedy/explore mixture.
    distribution: tuple[tuple[Depths, float], ...] = ()
    #: ``PlanRequest.seen`` as the policy planned with it (None: it was not given).
    seen: bool | None = None

    @property
    def strategies(self) -> tuple[str, ...]:
        return tuple(s for s, d in self.depths.items() if d > 0)

    def _explore_p(self, strategy: str, depth: int) -> float:
        return float(self.explore.get(strategy, {0: 1.0}).get(depth, 0.0))

    def _all_strategies(self) -> list[str]:
        """Sorted, so products over strategies are the same float in every process (a set's
        order follows the string hash seed)."""
        return sorted(set(self.depths) | set(self.greedy) | set(self.explore))

    @property
    def probability(self) -> float:
        """P(these exact depths | features) under the policy that drew them."""
        if self.distribution:
            mine = _running(self.depths)
            return math.fsum(p for d, p in self.distribution if _running(d) == mine)
        names = self._all_strategies()
        same = all(self.depths.get(s, 0) == self.greedy.get(s, 0) for s in names)
        explored = math.prod(self._explore_p(s, self.depths.get(s, 0)) for s in names)
        return (1.0 - self.epsilon) * float(same) + self.epsilon * explored

    def marginal(self, strategy: str) -> dict[int, float]:
        """P(depth of ``strategy`` = d) for every d with non-zero probability; sums to 1."""
        out: dict[int, float] = {}
        if self.distribution:
            for depths, p in self.distribution:
                d = int(depths.get(strategy, 0))
                out[d] = out.get(d, 0.0) + p
            return {d: p for d, p in out.items() if p > 0.0}
        if self.epsilon < 1.0:
            d = self.greedy.get(strategy, 0)
            out[d] = out.get(d, 0.0) + (1.0 - self.epsilon)
        if self.epsilon > 0.0:
            for d, p in self.explore.get(strategy, {0: 1.0}).items():
                out[d] = out.get(d, 0.0) + self.epsilon * p
        return out

    def covers(self, target: Depths) -> bool:
        """Whether these depths ran every strategy of ``target`` at least as deep."""
        return all(self.depths.get(s, 0) >= d for s, d in target.items() if d > 0)

    def coverage_probability(self, target: Depths) -> float:
        """P(a plan drawn like this one covers ``target``): the off-policy weight's denominator."""
        wanted = {s: d for s, d in target.items() if d > 0}
        if self.distribution:
            return math.fsum(
                p for d, p in self.distribution if all(d.get(s, 0) >= w for s, w in wanted.items())
            )
        greedy_covers = all(self.greedy.get(s, 0) >= d for s, d in wanted.items())
        explored = math.prod(
            sum(p for dd, p in self.explore.get(s, {0: 1.0}).items() if dd >= d)
            for s, d in wanted.items()
        )
        return (1.0 - self.epsilon) * float(greedy_covers) + self.epsilon * explored

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "policy": self.policy,
            "depths": dict(self.depths),
            "greedy": dict(self.greedy),
            "epsilon": self.epsilon,
            "explore": {
                s: {str(d): p for d, p in dist.items()} for s, dist in self.explore.items()
            },
            "probability": self.probability,
        }
        if self.distribution:
            out["distribution"] = [
                {"depths": dict(d), "probability": p} for d, p in self.distribution
            ]
        if self.seen is not None:
            out["seen"] = self.seen
        return out


def _running(depths: Depths) -> dict[str, int]:
    """The strategies that run and their depths (a depth of 0 is the same as absent)."""
    return {s: int(d) for s, d in depths.items() if d > 0}


def non_negative_int(value: object, where: str) -> int:
    """``value`` as an integer >= 0, or a ``PlanError`` naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise PlanError(f"{where} must be an integer, got {value!r}")
    try:
        number = int(value)
    except ValueError:
        raise PlanError(f"{where} must be an integer, got {value!r}") from None
    if number < 0:
        raise PlanError(f"{where} must be >= 0, got {number}")
    return number


def _depths(value: object, where: str) -> dict[str, int]:
    if not isinstance(value, Mapping):
        raise PlanError(f"{where} must be an object of strategy -> depth, got {value!r}")
    return {str(s): non_negative_int(d, f"{where}.{s}") for s, d in value.items()}


def plan_from_dict(data: Mapping[str, Any]) -> Plan:
    """The ``Plan`` that ``Plan.to_dict()`` wrote, checked against its logged probability.

    Plans come back from the event log and from users' record files, so every value is
    checked and a plan whose stored probability disagrees with its distributions is refused.
    """
    explore_in = data.get("explore", {})
    epsilon = data.get("epsilon", 0.0)
    if not isinstance(explore_in, Mapping) or not isinstance(epsilon, int | float):
        raise PlanError(f"plan: explore must be an object and epsilon a number, got {dict(data)}")
    if not 0.0 <= epsilon <= 1.0:
        raise PlanError(f"plan.epsilon must be in [0, 1], got {epsilon}")
    explore: dict[str, dict[int, float]] = {}
    for strategy, dist in explore_in.items():
        where = f"plan.explore.{strategy}"
        if not isinstance(dist, Mapping):
            raise PlanError(f"{where} must be an object of depth -> probability, got {dist!r}")
        explore[str(strategy)] = {
            non_negative_int(d, f"{where} key"): float(p) for d, p in dist.items()
        }
        if not math.isclose(sum(explore[str(strategy)].values()), 1.0, abs_tol=1e-6):
            raise PlanError(f"{where} must sum to 1, got {dist}")
    plan = Plan(
        depths=_depths(data.get("depths"), "plan.depths"),
        greedy=_depths(data.get("greedy", {}), "plan.greedy"),
        epsilon=float(epsilon),
        explore=explore,
        policy=str(data.get("policy", "")),
        distribution=_distribution(data.get("distribution", ())),
        seen=_seen(data.get("seen")),
    )
    logged = data.get("probability")
    if logged is not None and not math.isclose(
        plan.probability, float(logged), rel_tol=1e-9, abs_tol=1e-12
    ):
        raise PlanError(
            f"plan.probability is {logged} but its depths and distributions give "
            f"{plan.probability}: the logged plan is inconsistent"
        )
    return plan


def _seen(value: object) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise PlanError(f"plan.seen must be true, false or absent, got {value!r}")


def _distribution(value: object) -> tuple[tuple[dict[str, int], float], ...]:
    """A logged ``distribution``: a list of {depths, probability} summing to 1."""
    if not isinstance(value, list | tuple):
        raise PlanError(f"plan.distribution must be a list, got {value!r}")
    out = []
    for i, entry in enumerate(value):
        where = f"plan.distribution[{i}]"
        p = entry.get("probability") if isinstance(entry, Mapping) else None
        if not isinstance(p, int | float) or isinstance(p, bool) or not 0.0 <= p <= 1.0:
            raise PlanError(f"{where} must hold depths and a probability in [0, 1], got {entry!r}")
        out.append((_depths(entry.get("depths"), f"{where}.depths"), float(p)))
    if out and not math.isclose(math.fsum(p for _, p in out), 1.0, abs_tol=1e-6):
        raise PlanError(f"plan.distribution must sum to 1, got {math.fsum(p for _, p in out)}")
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Probe:
    """A cheap first retrieval that a policy decides the rest of its plan after.

    Probe-then-decide: ``strategy`` runs to ``depth`` before planning, and the policy reads
    query-performance features from its scores (``select.features``). The probe strategy is an
    anchor and ``depth`` is at most the grid's first depth, so every plan runs it at least as
    deep: its list is reused, it counts in the plan's cost, and the probe's scores are the top
    ``depth`` of the strategy's logged list, from which learning and off-policy evaluation
    rebuild exactly the features the plan was drawn with (``probe_scores``).
    """

    strategy: str
    depth: int


@dataclass(frozen=True, slots=True)
class PlanRequest:
    """What a policy sees when it plans: the understood query, the context, the budget, the
    scores of the policy's probe (``Probe``; ``None`` when it has none or it did not run), and
    ``seen``: whether the memory index had learned from this query when the plan was drawn.

    ``seen`` comes from the caller because memory learns from an action at once while the
    policy learns only when the request settles (``learn.Lessons``): a policy that judged
    "seen" by its own history would call a query unseen that memory already finds, and learn
    that memory finds unseen queries. The plan logs it (``Plan.seen``) so that learning and
    replay read the bit the plan was drawn with. ``None``: the policy's own history decides.
    """

    request_id: str
    query: UnderstoodQuery
    context: Context
    budget: int
    probe: tuple[float, ...] | None = None
    seen: bool | None = None


def probe_scores(
    probe: Probe | None, scores: Mapping[str, Sequence[float]]
) -> tuple[float, ...] | None:
    """The probe's scores cut from a search's per-strategy scores (logged or cached lists):
    the top ``probe.depth`` of its strategy's list; ``None`` without a probe or its list."""
    if probe is None or probe.strategy not in scores:
        return None
    return tuple(float(x) for x in scores[probe.strategy][: probe.depth])


def policy_probe(policy: object) -> Probe | None:
    """The probe ``policy`` decides after, if it has one (fixed plans have none)."""
    probe = getattr(policy, "probe", None)
    return probe if isinstance(probe, Probe) else None


@dataclass(frozen=True, slots=True)
class PlanFeedback:
    """Semi-bandit feedback for one request whose wanted item is known.

    ``found_rank[s]`` is the 1-based rank of the wanted item in strategy ``s``'s list, or
    ``None`` if it was not within the depth ``s`` ran to; so for every ``j <= depth`` it is
    known whether ``s`` would have found the item in its top ``j``. An item no strategy
    retrieved is a miss for all of them.
    """

    request: PlanRequest
    plan: Plan
    found_rank: Mapping[str, int | None]
    reward: float = 1.0
    event_time_s: float = 0.0
    #: Whether the wanted item was on the shown page (False: the user found it elsewhere).
    shown: bool = True
    #: What each strategy of the plan took to retrieve, ms, as measured (``select.costs``).
    cost_ms: Mapping[str, float] = field(default_factory=dict)
    #: How many ids each strategy of the plan returned: its logged list's length
    #: (``select.lengths``; empty: not known).
    n_returned: Mapping[str, int] = field(default_factory=dict)
    #: Each strategy's ids best first, down to the depth it ran (``learn.click_evidence``
    #: ranks other wanted entities in them; empty: not known).
    lists: Mapping[str, Sequence[EntityId]] = field(default_factory=dict)


def request_rng(seed: int, request_id: str) -> np.random.Generator:
    """The random generator of one request: the same (seed, request id), the same draws.

    The id is hashed to 128 bits first: seeding with one word per byte of the id cost a
    quarter of a millisecond per request in numpy's seed mixing."""
    digest = hashlib.blake2b(request_id.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    words = int.from_bytes(digest[:8], "little"), int.from_bytes(digest[8:], "little")
    return np.random.default_rng([seed, *words])


@runtime_checkable
class Policy(Protocol):
    """Chooses a Plan per request and learns from semi-bandit feedback.

    ``plan`` never mutates state (replaying the same requests gives the same plans);
    ``update`` returns ``None``. A policy that plans after a probe has a ``probe: Probe``
    attribute (``policy_probe``); callers run it and pass its scores in ``PlanRequest.probe``.
    """

    name: str

    def plan(self, request: PlanRequest) -> Plan: ...

    def update(self, feedback: PlanFeedback) -> None: ...

    def save(self, directory: Path) -> None: ...

"""The peer ``vw``: Vowpal Wabbit's contextual bandit over whole plans, as industry runs it.

A peer for ltrr's policy to beat (issue 16): ``--cb_explore_adf``, the reduction behind Azure
Personalizer, configured as a VW user would, on the same requests, features and objective.

Actions (ADF, action-dependent features). Each candidate plan of ``select.plan_set`` (the
``[select]`` grid, the candidate budget, ltrr's anchors in every plan) is one action, offered
when it fits the request's ``budget``. Its features: namespace ``a``, one feature per arm
``strategy@depth`` and one per strategy that runs; namespace ``c``, the plan's candidates / 100
and its estimated ms (``select.costs``, measured from feedback as ltrr measures it).

Shared features. Namespace ``x``: ltrr's context vector (``select.features.FeatureMap``,
without its constant) and ``query_seen_before`` (a query this policy has learned from before),
the inputs ltrr's policy plans from; namespace ``k``: the query's key (``query_key``, the hash
ltrr's per-query history is keyed by), so that ``-q ka`` gives a repeated query its own
weights per arm. Interactions ``-q xa -q ka -q aa`` (``[select.vw] interactions``): context by
arm, query by arm, and arm by arm, since the union's chance to find is not the sum of its
strategies'.

Objective. The reward of a search is ltrr's: found (the wanted item is in the candidates of
some strategy of the plan, ``PlanFeedback.found_rank``) less ``min_gain_per_candidate`` per
candidate and ``latency_weight`` per measured ms (both from ``[select.ltrr]``); VW minimises
cost, so the label is ``0:-reward:p`` with ``p`` the logged probability of the plan. Like
ltrr's update, a feedback counts ``reward`` times, and ``elsewhere_weight`` times more when the
item was found elsewhere (VW's text labels carry no importance weight, so the example is
learned that many times, rounded).

Exploration (``[select.vw] exploration``): ``"epsilon"``-greedy with ltrr's epsilon (the
default: the better of the two on SciFact, see ``defaults.toml``), or ``"squarecb"``,
inverse-gap weighting over the regression's costs (Foster & Rakhlin 2020, VW's
recommendation; ``gamma_scale`` its ``--gamma_scale``). Regression by ``--cb_type mtr``
(importance-weighted regression on the chosen action's cost: Bietti, Agarwal & Langford 2021,
"A Contextual Bandit Bake-off").

Plans. VW returns a probability per offered plan; the plan is drawn from it with
``request_rng(seed, request id)`` and returned with the whole ``distribution``
(``select.base.Plan``), so its logged probability is VW's, exactly. ``greedy`` is the most
probable plan (what the simulator's frozen tail runs).

State. VW's weights live in a native workspace whose model file also counts predictions, so
``save`` writes instead every lesson learned (the features as the request saw them, the plan,
its probability, the outcome and the measured ms) and ``load`` replays them into a fresh
workspace with the same ``--random_seed``: VW learns deterministically, so the weights are the
same, nothing is pickled and no file is left behind.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ltrr._optional import require
from ltrr.config import Config, section_params
from ltrr.errors import ConfigError, StorageError
from ltrr.select import SelectParams, read_policy, write_policy
from ltrr.select.bandit_params import BanditParams
from ltrr.select.base import Depths, Plan, PlanFeedback, PlanRequest, request_rng
from ltrr.select.costs import CostTable
from ltrr.select.features import FeatureMap, FeatureParams
from ltrr.select.plan_set import PlanKey, candidate_plans, plan_key
from ltrr.understand.base import query_key

Array = NDArray[np.float64]
EXPLORATIONS: tuple[str, ...] = ("squarecb", "epsilon")
HINT = "pip install 'ltrr[peers]' (vowpalwabbit==9.11.9)"


@dataclass(frozen=True, slots=True)
class VWParams:
    """``[select.vw]``: how Vowpal Wabbit explores and learns (its objective is ltrr's)."""

    seed: int = 0
    exploration: str = "epsilon"
    gamma_scale: float = 10.0
    learning_rate: float = 0.5
    bits: int = 20
    interactions: tuple[str, ...] = ("xa", "ka", "aa")

    def __post_init__(self) -> None:
        if self.exploration not in EXPLORATIONS:
            raise ConfigError(
                f"select.vw.exploration must be one of {', '.join(EXPLORATIONS)}, "
                f"got {self.exploration!r}"
            )
        if self.gamma_scale <= 0 or self.learning_rate <= 0:
            raise ConfigError("select.vw.gamma_scale and learning_rate must be > 0")
        if not 1 <= self.bits <= 30:
            raise ConfigError(f"select.vw.bits must be in [1, 30], got {self.bits}")
        spaces = set("xkac")
        for pair in self.interactions:
            if len(pair) != 2 or not set(pair) <= spaces:
                raise ConfigError(
                    f"select.vw.interactions: {pair!r} must pair two namespaces of x, k, a, c"
                )

    def arguments(self, epsilon: float) -> list[str]:
        """VW's command line (``epsilon`` is used by ``"epsilon"`` exploration)."""
        explore = ["--squarecb", "--gamma_scale", f"{self.gamma_scale:g}"]
        if self.exploration == "epsilon":
            explore = ["--epsilon", f"{epsilon:g}"]
        args = ["--cb_explore_adf", "--cb_type", "mtr", *explore, "--quiet"]
        args += ["--random_seed", str(self.seed), "-b", str(self.bits)]
        args += ["-l", f"{self.learning_rate:g}"]
        for pair in self.interactions:
            args += ["-q", pair]
        return args


@dataclass(slots=True)
class _Lessons:
    """What every ``update`` learned from, in order: replayed by ``load``."""

    x: list[Array] = field(default_factory=list)  # (F,) shared features as the request saw them
    key: list[int] = field(default_factory=list)  # query key, 0 = none
    budget: list[int] = field(default_factory=list)
    depths: list[NDArray[np.int64]] = field(default_factory=list)  # (S,)
    cost_ms: list[Array] = field(default_factory=list)  # (S,), NaN = not measured
    outcome: list[Array] = field(default_factory=list)  # probability, reward, shown, found

    def arrays(self, n_features: int, n_strategies: int) -> dict[str, NDArray[Any]]:
        def stack(rows: list[Any], width: int, dtype: Any) -> NDArray[Any]:
            return np.array(rows, dtype=dtype).reshape(len(rows), width)

        return {
            "lesson_x": stack(self.x, n_features, np.float64),
            "lesson_key": np.array(self.key, dtype=np.uint64),
            "lesson_budget": np.array(self.budget, dtype=np.int64),
            "lesson_depths": stack(self.depths, n_strategies, np.int64),
            "lesson_cost_ms": stack(self.cost_ms, n_strategies, np.float64),
            "lesson_outcome": stack(self.outcome, 4, np.float64),
        }


class VWPolicy:
    """Vowpal Wabbit's ``--cb_explore_adf`` over candidate plans (see the module docstring).

    Parameters
    ----------
    select, params, features, objective
        ``[select]``, ``[select.vw]``, ``[select.features]`` and ``[select.ltrr]`` (the
        anchors, the prices of a candidate and of a ms, epsilon and the feedback weights that
        make the objective ltrr's).
    seed
        Seed of VW and of every request's generator; defaults to ``params.seed``.
    """

    name = "vw"

    def __init__(
        self,
        select: SelectParams | None = None,
        params: VWParams | None = None,
        features: FeatureParams | None = None,
        objective: BanditParams | None = None,
        *,
        seed: int | None = None,
    ) -> None:
        self.select = select or SelectParams()
        self.params = params or VWParams()
        self.objective = objective or BanditParams()
        self.features = FeatureMap(features)
        #: The probe this policy plans after (``[select.features] probe``), or None.
        self.probe = self.features.usable_probe(self.select, self.objective.anchors)
        self.seed = self.params.seed if seed is None else int(seed)
        strategies, grid = self.select.strategies, self.select.depths
        latency = self.objective.latency_ms or (0.0,) * len(strategies)
        if len(latency) != len(strategies):
            raise ConfigError(
                f"select.ltrr.latency_ms lists {len(latency)} values for {len(strategies)} "
                f"strategies ({', '.join(strategies)})"
            )
        self.plans = candidate_plans(strategies, grid, self.select.budget, self.objective.anchors)
        self._index: dict[PlanKey, int] = {plan_key(p): i for i, p in enumerate(self.plans)}
        self._total = np.array([sum(p.values()) for p in self.plans], dtype=np.int64)
        self._grid = np.array(grid, dtype=np.int64)
        # (P, S) grid level of each strategy in each plan, -1 = off: the plan's estimated ms.
        self._levels = np.array(
            [[_level(self._grid, p.get(s, 0)) for s in strategies] for p in self.plans]
        ).reshape(len(self.plans), len(strategies))
        self._x_names = [n.replace(":", "_") for n in self.features.names[1:]]
        self._x_names.append("query_seen_before")
        self._costs = CostTable(
            strategies, self._grid, np.array(latency, float), self.objective.cost_window
        )
        self._offered: dict[int, NDArray[np.intp]] = {}
        self._lines: tuple[bytes, list[str]] = (b"", [])
        self._seen: set[int] = set()
        self._lessons = _Lessons()
        vowpalwabbit = require("vowpalwabbit", "the 'vw' peer policy", HINT)
        args = replace(self.params, seed=self.seed).arguments(self.objective.epsilon)
        self._vw = vowpalwabbit.Workspace(arg_list=args)

    @classmethod
    def from_config(cls, config: Config | None = None, *, seed: int | None = None) -> VWPolicy:
        return cls(
            section_params(config, "select", SelectParams),
            section_params(config, "select.vw", VWParams),
            section_params(config, "select.features", FeatureParams),
            section_params(config, "select.ltrr", BanditParams),
            seed=seed,
        )

    @property
    def n_updates(self) -> int:
        return len(self._lessons.key)

    # -- planning (reads state, never writes it) --------------------------------------------

    def plan(self, request: PlanRequest) -> Plan:
        """A plan drawn from VW's probabilities over the plans that fit the budget."""
        offered = self.offered(request.budget)
        pmf = self.probabilities(request)
        u = request_rng(self.seed, request.request_id).random()
        pick = min(int(np.searchsorted(np.cumsum(pmf), u, side="right")), len(pmf) - 1)
        best = int(np.argmax(pmf))
        plans = [self.plans[i] for i in offered.tolist()]
        distribution = tuple((p, q) for p, q in zip(plans, pmf.tolist(), strict=True) if q > 0)
        return Plan(
            dict(plans[pick]),
            dict(plans[best]),
            max(0.0, 1.0 - float(pmf[best])),
            {},
            self.name,
            distribution,
            request.seen,
        )

    def probabilities(self, request: PlanRequest) -> Array:
        """VW's probability of each plan ``offered(request.budget)``, in that order; sums to 1."""
        key = query_key(request.query) or 0
        offered = self.offered(request.budget)
        lines = self._action_lines()
        example = [self._shared(self._x(request, key), key), *(lines[i] for i in offered.tolist())]
        pmf = np.asarray(self._vw.predict(example), dtype=np.float64)
        total = pmf.sum()
        if len(pmf) != len(offered) or not total > 0:
            return np.full(len(offered), 1.0 / len(offered))
        out: Array = pmf / total
        return out

    def offered(self, budget: int) -> NDArray[np.intp]:
        """Indices of the plans of at most ``budget`` candidates (else the cheapest ones)."""
        if budget not in self._offered:
            within = np.flatnonzero(self._total <= budget)
            if not len(within):
                within = np.flatnonzero(self._total == self._total.min())
            self._offered[budget] = within
        return self._offered[budget]

    def _x(self, request: PlanRequest, key: int) -> Array:
        """The shared features of ``request``: context vector without its constant, seen bit."""
        seen = float(key in self._seen if request.seen is None else request.seen)
        x = self.features.vector(request.query, request.context, request.probe)
        return np.append(x[1:], seen)

    def _shared(self, x: Array, key: int) -> str:
        values = " ".join(
            f"{n}:{v:.7g}" for n, v in zip(self._x_names, x.tolist(), strict=True) if v != 0.0
        )
        query = f" |k q{key:016x}" if key else ""
        return f"shared |x {values}{query}"

    def _action_lines(self) -> list[str]:
        """Every plan's action line, rebuilt only when the estimated ms change."""
        ms = self._plan_ms(self._levels)
        if self._lines[0] != ms.tobytes():
            lines = [_action(p, ms[i]) for i, p in enumerate(self.plans)]
            self._lines = (ms.tobytes(), lines)
        return self._lines[1]

    def _plan_ms(self, levels: NDArray[np.int64]) -> Array:
        """(P,) estimated ms of plans given as (P, S) grid levels."""
        table = self._costs.estimate()
        rows = np.arange(table.shape[0])[None, :]
        ms: Array = np.where(levels >= 0, table[rows, np.maximum(levels, 0)], 0.0).sum(axis=1)
        return ms

    # -- learning ------------------------------------------------------------------------

    def update(self, feedback: PlanFeedback) -> None:
        """Learn the played plan's cost with its logged probability (VW's ``a:cost:p``)."""
        strategies = self.select.strategies
        depths = feedback.plan.depths
        key = query_key(feedback.request.query) or 0
        found = any(r is not None and r >= 1 for r in feedback.found_rank.values())
        outcome = [feedback.plan.probability, feedback.reward, float(feedback.shown), found]
        measured = [feedback.cost_ms.get(s, np.nan) for s in strategies]
        lessons = self._lessons
        lessons.x.append(self._x(feedback.request, key))
        lessons.key.append(key)
        lessons.budget.append(int(feedback.request.budget))
        lessons.depths.append(np.array([int(depths.get(s, 0)) for s in strategies]))
        lessons.cost_ms.append(np.array(measured, dtype=np.float64))
        lessons.outcome.append(np.array(outcome, dtype=np.float64))
        self._learn(len(lessons.key) - 1)
        return None

    def _learn(self, i: int) -> None:
        """Learn lesson ``i``: the one path of ``update`` and of a replay."""
        les = self._lessons
        strategies = self.select.strategies
        depths = {s: int(d) for s, d in zip(strategies, les.depths[i].tolist(), strict=True)}
        cost_ms = {
            s: float(ms)
            for s, ms in zip(strategies, les.cost_ms[i].tolist(), strict=True)
            if np.isfinite(ms) and ms >= 0
        }
        probability, reward, shown, found = les.outcome[i].tolist()
        key = int(les.key[i])
        if reward > 0 and probability > 0:
            price = self.objective.min_gain_per_candidate * sum(depths.values())
            price += self.objective.latency_weight * sum(cost_ms.get(s, 0.0) for s in depths)
            label = f"0:{price - found:.9g}:{probability:.9g} "
            example = [self._shared(les.x[i], key), *self._labelled(depths, les.budget[i], label)]
            weight = reward * (1.0 if shown else self.objective.elsewhere_weight)
            for _ in range(max(1, round(weight))):
                self._vw.learn(example)
            if key:
                self._seen.add(key)
        self._costs.observe(depths, cost_ms)

    def _labelled(self, depths: Depths, budget: int, label: str) -> list[str]:
        """The action lines offered at ``budget``, ``label`` on the played plan (appended as
        one more action if it was not among them: a plan this policy did not draw)."""
        lines = self._action_lines()
        offered = self.offered(budget).tolist()
        played = self._index.get(plan_key(depths))
        out = [lines[i] for i in offered]
        if played is not None and played in offered:
            out[offered.index(played)] = label + out[offered.index(played)]
            return out
        levels = np.array([[_level(self._grid, depths.get(s, 0)) for s in self.select.strategies]])
        out.append(label + _action(depths, float(self._plan_ms(levels)[0])))
        return out

    # -- persistence ---------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        arrays = self._lessons.arrays(len(self._x_names), len(self.select.strategies))
        state = {"n_updates": self.n_updates, "feature_names": self._x_names}
        params = {
            "select": asdict(self.select),
            "vw": asdict(self.params),
            "features": asdict(self.features.params),
            "ltrr": asdict(self.objective),
            "seed": self.seed,
        }
        write_policy(directory, self.name, params, arrays, {"state": state})

    @classmethod
    def load(
        cls, directory: Path, config: Config | None = None, *, seed: int | None = None
    ) -> VWPolicy:
        """What ``save`` wrote, by replaying its lessons; with ``config``, its parameters."""
        manifest, arrays, documents = read_policy(directory)
        if manifest.get("policy") != cls.name:
            raise StorageError(f"{directory} holds policy {manifest.get('policy')!r}, not 'vw'")
        saved = manifest["params"]
        seed = int(saved["seed"]) if seed is None else seed
        if config is None:
            policy = cls(
                SelectParams(**_tuples(saved["select"])),
                VWParams(**_tuples(saved["vw"])),
                FeatureParams(**saved["features"]),
                BanditParams(**_tuples(saved["ltrr"])),
                seed=seed,
            )
        else:
            policy = cls.from_config(config, seed=seed)
        names = documents["state"]["feature_names"]
        if names != policy._x_names or list(saved["select"]["strategies"]) != list(
            policy.select.strategies
        ):
            raise StorageError(
                f"{directory}: saved with other strategies or features; replay the event log"
            )
        policy._replay(arrays)
        return policy

    def _replay(self, arrays: dict[str, NDArray[Any]]) -> None:
        les = self._lessons
        les.x = list(arrays["lesson_x"])
        les.key = [int(k) for k in arrays["lesson_key"].tolist()]
        les.budget = [int(b) for b in arrays["lesson_budget"].tolist()]
        les.depths = list(arrays["lesson_depths"])
        les.cost_ms = list(arrays["lesson_cost_ms"])
        les.outcome = list(arrays["lesson_outcome"])
        for i in range(len(les.key)):
            self._learn(i)

    def __repr__(self) -> str:
        return (
            f"VWPolicy(plans={len(self.plans)}, exploration={self.params.exploration!r}, "
            f"seed={self.seed}, n_updates={self.n_updates})"
        )


def _level(grid: NDArray[np.int64], depth: int) -> int:
    """The grid level a depth is priced at (the grid depth at or above it), -1 if off."""
    if depth <= 0:
        return -1
    return min(int(np.searchsorted(grid, depth, side="left")), len(grid) - 1)


def _action(depths: Depths, ms: float) -> str:
    """The action line of a plan: its arms and strategies, its candidates and ms."""
    arms = " ".join(f"{s}@{d} {s}" for s, d in sorted(depths.items()) if d > 0)
    total = sum(d for d in depths.values() if d > 0)
    return f"|a {arms} |c candidates:{total / 100:.7g} ms:{ms:.7g}"


def _tuples(values: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}

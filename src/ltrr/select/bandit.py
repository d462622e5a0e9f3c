"""The learned policy ``ltrr``: a contextual semi-bandit over (strategy, depth) arms.

Arms. An arm a = (s, j) is strategy s run to depth j of the grid (``[select] depths``); it
succeeds when the wanted item is in s's top j. Feedback is semi-bandit: a strategy run to
depth d reveals every arm (s, j <= d); an item found at rank r <= d is in every deeper top too.

Bands, not cumulative labels. Labelling every (s, j > d) a success after a find, while a
miss leaves them unobserved, would be censored data: deep arms would see their successes and
never their failures, and be overrated. So the model learns, per strategy and grid band
``(j_{g-1}, j_g]``, the discrete hazard ``h_g = P(r <= j_g | r > j_{g-1}, x)`` (as in
Kaplan-Meier). A run to d observes every band inside it while the item is still unfound
(success in the band holding r), nothing beyond d and nothing after the find. Then
``P(found in top j_g) = 1 - prod_{k <= g} (1 - h_k)``: unbiased under censoring, and
non-decreasing in depth by construction.

Model. Each band's hazard given x (from ``select.features``) combines two sources.

1. *Context model* (``select.laplace``): a Bayesian logistic regression per band with a diagonal
   Gaussian posterior, updated online by the Laplace approximation of Chapelle & Li (2011).
2. *The query's own history* (``select.history``): per hashed corrected query text, success and
   at-risk counts per band; the context model's hazard is their Beta prior, so a repeated
   query is planned from its own outcomes and an unseen one from the context model.

Feedback weights. Learning sees only searches with a positive action, and an action on an
item that was shown (a click) is far likelier than one on an item found elsewhere -- the
user acts on what the list missed only when they go looking (the simulator's found-elsewhere
rate is 0.3). Unweighted, deep finds and misses, the informative events, are underrated
and the plan is too shallow; so an update counts ``reward`` times, and ``elsewhere_weight``
times more when the wanted item was not shown (``PlanFeedback.shown``, True if absent).

Overlap (``select.overlap``). Strategies find the same easy items, so the union is worth less
than independent strategies would be: the chance that one more arm finds the item after the
arms already chosen missed is estimated from recent searches that observed them all.

Plan. ``allocate`` spends the budget greedily by marginal gain in P(the union finds the item)
per candidate, less the arm's time priced at ``latency_weight`` per ms, while the gain per
candidate is at least ``min_gain_per_candidate`` (and the plan's estimated time within
``budget_ms``, if set). The time of each (strategy, depth) is measured, not configured: every
impression logs what its strategies took, feedback carries it, and ``select.costs`` keeps a
moving mean per arm, rebuilt by a replay like the rest of the state. Its input is a Thompson
sample of the posterior drawn from
``request_rng(seed, request id)`` (``greedy = "thompson"``) or the posterior mean (``"mean"``):
either way a deterministic function of the state and the request, so with the epsilon
mixture of ``select.base`` every logged probability is exact, and each arm keeps at least
``BanditPolicy.floor = epsilon * (1 - explore_off) / n_depths``. Anchor strategies
(``anchors``: those the unsupervised fusion ranks) are never off: the greedy allocation starts
from them at the shallowest depth and their exploration depth is uniform over the grid, so the
shown top is always ranked with them, whatever else the plan adds. Anchors protect the
first searches; with ``release_gain`` > 0 they need not cost forever (``select.release``):
the plan is allocated again without forcing one anchor, and taken when the posterior mean and
the request's Thompson sample both say forcing it was worth less than ``release_gain`` in
P(the union finds the item). Exploration still runs every anchor. With ``cheap_prices``
(``select.satisfice``) the price of a candidate grows with the evidence: the plan is allocated
again down a ladder of prices and the cheapest one within ``found_tolerance`` (and
``miss_ratio``) of this plan's P(found), under the posterior mean and the Thompson sample, is
taken. Neither ``release_gain`` nor ``cheap_release`` ever drops the probe. With
``price_lengths`` an arm is charged, in the budget and per candidate, the measured mean length
of the lists it returns (``select.lengths``), not its depth.

Probe-then-decide (``[select.features] probe``, ``select.base.Probe``). The caller runs the
probe (an anchor, to at most the shallowest depth) before planning and passes its scores in
``PlanRequest.probe``; they enter x as query-performance columns (``select.features``), so the
context model learns, for example, that a probe whose best score stands far above the rest
needs no deep dense search. The plan is still a deterministic function of (state, request,
request id) and the probe's scores are the top of the anchor's logged list, so the logged
probabilities stay exact and replay rebuilds the same x; the coverage rule is unchanged
(a plan of depths, every one at least the probe's).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ltrr.config import Config, section_params
from ltrr.errors import ConfigError, StorageError
from ltrr.select import SelectParams, plan_kernel, read_policy, write_policy
from ltrr.select.bandit_params import BanditParams
from ltrr.select.bandit_state import BanditState
from ltrr.select.base import Depths, Plan, PlanFeedback, PlanRequest, request_rng
from ltrr.select.features import FeatureMap, FeatureParams
from ltrr.select.laplace import laplace_update, success_probability
from ltrr.select.overlap import Array, Overlap, allocate, union_miss
from ltrr.select.release import one_released, plan_price, release_anchor
from ltrr.select.satisfice import cheapest_within
from ltrr.understand.base import query_key


class BanditPolicy:
    """The contextual semi-bandit ``ltrr`` (see the module docstring).

    Parameters
    ----------
    select, params, features
        ``[select]``, ``[select.ltrr]`` and ``[select.features]``.
    seed
        Seed of every request's generator (``request_rng(seed, request id)``); defaults to
        ``params.seed``.
    """

    name = "ltrr"

    def __init__(
        self,
        select: SelectParams | None = None,
        params: BanditParams | None = None,
        features: FeatureParams | None = None,
        *,
        seed: int | None = None,
    ) -> None:
        self.select = select or SelectParams()
        self.params = params or BanditParams()
        self.features = FeatureMap(features)
        #: The probe this policy plans after (``[select.features] probe``), or None.
        self.probe = self.features.usable_probe(self.select, self.params.anchors)
        self.seed = self.params.seed if seed is None else int(seed)
        n_s, n_g = len(self.select.strategies), len(self.select.depths)
        latency = self.params.latency_ms or (0.0,) * n_s
        if len(latency) != n_s:
            raise ConfigError(
                f"select.ltrr.latency_ms lists {len(latency)} values for {n_s} strategies "
                f"({', '.join(self.select.strategies)})"
            )
        self._grid = np.array(self.select.depths, dtype=np.int64)
        plan_kernel.warm_up()  # compiled once per process (or loaded from numba's cache)
        prior_ms = np.array(latency, dtype=np.float64)
        self._budget_ms = self.params.budget_ms or np.inf
        off = self.params.explore_off
        dist = {0: off} if off > 0 else {}
        dist.update(dict.fromkeys(self.select.depths, (1.0 - off) / n_g))
        # Anchors (the strategies the unsupervised fusion ranks) always run, at least at the
        # shallowest grid depth: the shown top is then never ranked without them. They are
        # never "off", so their exploration depth is uniform over the grid.
        self._anchor = np.array([s in self.params.anchors for s in self.select.strategies])
        self._forced = np.where(self._anchor, 0, -1)  # the allocation's start: anchors at depth 1
        anchored = dict.fromkeys(self.select.depths, 1.0 / n_g)
        self._explore_dists = [anchored if a else dist for a in self._anchor.tolist()]
        self._explore_values = [np.array(list(d), dtype=np.int64) for d in self._explore_dists]
        self._explore_cdfs = [np.cumsum(list(d.values())) for d in self._explore_dists]
        # The context features, plus whether this query was searched (with feedback) before:
        # memory finds what it has seen, so without this bit the model would learn "memory
        # finds everything" from repeated traffic and plan it for unseen queries too.
        self._feature_names = [*self.features.names, "query_seen_before"]
        # History strategies (memory) find what the query's own past taught them: their context
        # model learns only from first-seen queries, so it predicts them for unseen queries,
        # while a repeated query's per-query counts predict them there.
        self._history_rows = np.array(
            [s in self.params.history_strategies for s in self.select.strategies], dtype=bool
        )
        self._state = BanditState.prior(
            self.select, len(self._feature_names), self.params, prior_ms
        )
        self._view: Overlap | None = None
        # Cold start: each arm's intercept starts at the logit of a prior hazard, higher for
        # anchors (the strategies the configured fusion trusts), so the first plans spend the
        # budget deep on them, close to the fusion baseline, until feedback says otherwise.
        hazard = np.where(self._anchor, self.params.anchor_prior_hazard, self.params.prior_hazard)
        self._state.mean[:, 0] = np.repeat(np.log(hazard / (1.0 - hazard)), n_g)

    @classmethod
    def from_config(cls, config: Config | None = None, *, seed: int | None = None) -> BanditPolicy:
        return cls(
            section_params(config, "select", SelectParams),
            section_params(config, "select.ltrr", BanditParams),
            section_params(config, "select.features", FeatureParams),
            seed=seed,
        )

    @property
    def floor(self) -> float:
        """The least probability any arm (strategy, grid depth) gets in any plan."""
        return self.params.epsilon * (1.0 - self.params.explore_off) / len(self._grid)

    @property
    def n_updates(self) -> int:
        return self._state.n_updates

    # -- planning (reads state, never writes it) --------------------------------------------

    def plan(self, request: PlanRequest) -> Plan:
        """The greedy plan, or with probability epsilon an exploration plan, with its odds."""
        rng = request_rng(self.seed, request.request_id)
        key = query_key(request.query)
        x = self._x(request, key)
        thompson = rng if self.params.greedy == "thompson" else None
        p = self._probabilities(x, key, thompson)
        levels = self._allocate(p, request.budget, self._forced, self._sizes(x))
        if self.params.release_gain > 0:
            levels = self._release(levels, p, x, key, request.budget)
        if self.params.cheap_prices:
            levels = self._cheapen(levels, p, x, key, request.budget)
        greedy = {
            s: int(self._grid[g]) if g >= 0 else 0
            for s, g in zip(self.select.strategies, levels.tolist(), strict=True)
        }
        explores = rng.random() < self.params.epsilon
        draws = rng.random(len(self.select.strategies))
        depths = dict(greedy)
        if explores:
            depths = {
                s: self._explore_depth(i, float(u))
                for i, (s, u) in enumerate(zip(self.select.strategies, draws, strict=True))
            }
        explore = {
            s: dict(d) for s, d in zip(self.select.strategies, self._explore_dists, strict=True)
        }
        return Plan(depths, greedy, self.params.epsilon, explore, self.name, seen=request.seen)

    def _allocate(
        self, p: Array, budget: int, start: NDArray[np.int64], size: Array, price: float = -1.0
    ) -> NDArray[np.int64]:
        """The greedy allocation of ``budget`` for hit probabilities ``p`` from ``start``,
        charging ``size`` (S, G) candidates per arm at ``price`` each (default, -1:
        ``min_gain_per_candidate``)."""
        ms = self._state.costs.estimate()
        return allocate(
            p,
            self._overlap(),
            self._grid,
            budget,
            self.params.min_gain_per_candidate if price < 0 else price,
            ms * self.params.latency_weight,
            start=start,
            ms=ms,
            budget_ms=self._budget_ms,
            size=size,
        )

    def _sizes(self, x: Array) -> Array:
        """The candidates each arm is charged for the request of features ``x`` (its last
        column: the query was learned from before), ``BanditState.sizes``."""
        return self._state.sizes(self.params.price_lengths, bool(x[-1] > 0))

    def _release(
        self, levels: NDArray[np.int64], sample: Array, x: Array, key: int | None, budget: int
    ) -> NDArray[np.int64]:
        """``levels`` or a plan with an anchor released (``select.release``)."""
        ms, params, size = self._state.costs.estimate(), self.params, self._sizes(x)
        return release_anchor(
            levels,
            (self._probabilities(x, key, None), sample),
            self._overlap(),
            one_released(self._forced, self._releasable()),
            lambda start: self._allocate(sample, budget, start, size),
            lambda rows: plan_price(
                rows, size, ms, params.min_gain_per_candidate, params.latency_weight
            ),
            params.release_gain,
        )

    def _releasable(self) -> NDArray[np.bool_]:
        """The anchors a plan may leave unforced: every one but the probe, whose list the
        request already paid for (and whose top the plan's features were computed from)."""
        probe = self.probe.strategy if self.probe is not None else None
        other: NDArray[np.bool_] = np.array([s != probe for s in self.select.strategies])
        return self._anchor & other

    def _cheapen(
        self, levels: NDArray[np.int64], sample: Array, x: Array, key: int | None, budget: int
    ) -> NDArray[np.int64]:
        """``levels`` or a cheaper plan within ``found_tolerance`` of it (``select.satisfice``)."""
        starts, size = [self._forced], self._sizes(x)
        if self.params.cheap_release:
            starts += one_released(self._forced, self._releasable())
        return cheapest_within(
            levels,
            (self._probabilities(x, key, None), sample),
            self._overlap(),
            lambda price: [self._allocate(sample, budget, s, size, price) for s in starts],
            self.params.cheap_prices,
            self.params.found_tolerance,
            size,
            self.params.miss_ratio or np.inf,
        )

    def _explore_depth(self, i: int, u: float) -> int:
        """Strategy ``i``'s exploration depth for the uniform draw ``u`` (inverse CDF)."""
        cdf, values = self._explore_cdfs[i], self._explore_values[i]
        pick = int(np.searchsorted(cdf, u * cdf[-1], "right"))
        return int(values[min(pick, len(values) - 1)])

    def predict(self, request: PlanRequest) -> Array:
        """Posterior-mean P(found in s's top grid[g]), shape (S, G), non-decreasing in g.

        (Each band's mean hazard, compounded: close to, not exactly, the compound's mean.)
        """
        key = query_key(request.query)
        return self._probabilities(self._x(request, key), key, None)

    def _x(self, request: PlanRequest, key: int | None) -> Array:
        """The feature vector of ``request``: context features and the query-seen bit."""
        x = self.features.vector(request.query, request.context, request.probe)
        return np.append(x, self._seen(request, key))

    def _seen(self, request: PlanRequest, key: int | None) -> float:
        """1.0 if the query was learned from before (``PlanRequest.seen``, else the history)."""
        known = request.seen
        return float(self._state.history.seen(key) if known is None else known)

    def found_probability(self, request: PlanRequest, depths: Depths) -> float:
        """Posterior-mean P(the union of ``depths`` finds the item), a reward model for OPE (a
        depth between grid depths counts as the one below; other strategies are ignored)."""
        wanted = np.array([depths.get(s, 0) for s in self.select.strategies])
        levels = np.searchsorted(self._grid, wanted, side="right").astype(np.int64) - 1
        miss = union_miss(self.predict(request), levels[None, :], self._overlap())
        return float(1.0 - miss[0])

    def _probabilities(self, x: Array, key: int | None, rng: np.random.Generator | None) -> Array:
        """P(found in s's top grid[g]), (S, G): each band's hazard, compounded over the bands."""
        st = self._state
        p = success_probability(st.mean, st.precision, x, rng)
        p = st.history.shrink(p, key, self.params.key_prior_strength, rng)
        hazard = p.reshape(len(self.select.strategies), len(self._grid))
        found = 1.0 - np.cumprod(1.0 - hazard, axis=1)
        return found.astype(np.float64, copy=False)

    def cost_ms(self) -> dict[str, dict[str, float]]:
        """The estimated ms of each (strategy, depth) the plans are priced by."""
        return self._state.costs.to_dict()

    def lengths(self, seen: bool = False) -> dict[str, dict[str, float]]:
        """Mean ids each (strategy, depth) returns for new (``seen``: repeated) queries."""
        return self._state.lengths.to_dict(seen)

    def _overlap(self) -> Overlap:
        """The overlap view planning reads, computed once per state change, not per plan."""
        if self._view is None:
            self._view = self._state.overlap.view(self.params.overlap_prior_strength)
        return self._view

    # -- learning ------------------------------------------------------------------------

    def update(self, feedback: PlanFeedback) -> None:
        """Learn from one request whose wanted item is known (semi-bandit, see module doc)."""
        self._state.costs.observe(feedback.plan.depths, feedback.cost_ms)
        key = query_key(feedback.request.query)
        repeated = self._seen(feedback.request, key) > 0  # as the request saw it
        self._state.lengths.observe(feedback.plan.depths, feedback.n_returned, repeated)
        if feedback.reward <= 0:
            return None
        strategies = self.select.strategies
        ran = np.array([max(int(feedback.plan.depths.get(s, 0)), 0) for s in strategies])
        ranks = [feedback.found_rank.get(s) for s in strategies]
        rank = np.array([r if r is not None and r >= 1 else 0 for r in ranks])
        found = rank > 0
        upper = self._grid[None, :]
        lower = np.concatenate([[0], self._grid[:-1]])[None, :]
        at_risk = (upper <= ran[:, None]) & (~found[:, None] | (rank[:, None] > lower))
        if not at_risk.any():
            return None
        hit = at_risk & found[:, None] & (rank[:, None] <= upper)
        x = self._x(feedback.request, key)  # as the request saw it: before this feedback
        context_risk = at_risk
        if x[-1] > 0:  # a repeated query: its own counts speak for history strategies
            context_risk = at_risk & ~self._history_rows[:, None]
        arms = np.flatnonzero(context_risk.ravel())
        w = self._weight(feedback)
        st = self._state
        if len(arms):
            y = hit.ravel()[arms].astype(np.float64)
            laplace_update(st.mean, st.precision, arms, y, x, w)
        st.history.add(key, at_risk.ravel(), hit.ravel(), w, self.params.key_max_trials)
        seen = upper <= ran[:, None]
        inside = seen & found[:, None] & (rank[:, None] <= upper)
        st.overlap.add(st.n_updates, seen.ravel(), inside.ravel(), w)
        self._view = None
        st.n_updates += 1
        return None

    def _weight(self, feedback: PlanFeedback) -> float:
        """How many searches this feedback stands for (see "Feedback weights" above)."""
        shown = bool(getattr(feedback, "shown", True))
        return float(feedback.reward) * (1.0 if shown else self.params.elsewhere_weight)

    # -- persistence ---------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        st = self._state
        arrays = st.arrays()
        state = {"n_updates": st.n_updates, "feature_names": list(self._feature_names)}
        params = {
            "select": asdict(self.select),
            "ltrr": asdict(self.params),
            "features": asdict(self.features.params),
            "seed": self.seed,
        }
        write_policy(directory, self.name, params, arrays, {"state": state})

    @classmethod
    def load(
        cls, directory: Path, config: Config | None = None, *, seed: int | None = None
    ) -> BanditPolicy:
        """What ``save`` wrote; with ``config``, its parameters (the arms must be the same)."""
        manifest, arrays, documents = read_policy(directory)
        saved = manifest["params"]
        if manifest.get("policy") != cls.name:
            raise StorageError(f"{directory} holds policy {manifest.get('policy')!r}, not 'ltrr'")
        seed = int(saved["seed"]) if seed is None else seed
        if config is None:
            policy = cls(
                SelectParams(**_tuples(saved["select"])),
                BanditParams(**_tuples(saved["ltrr"])),
                FeatureParams(**saved["features"]),
                seed=seed,
            )
        else:
            policy = cls.from_config(config, seed=seed)
        policy._restore(directory, saved, arrays, documents["state"])
        return policy

    def _restore(
        self,
        directory: Path,
        saved: dict[str, Any],
        arrays: dict[str, NDArray[Any]],
        state: dict[str, Any],
    ) -> None:
        checks = {
            "select.strategies": (saved["select"]["strategies"], list(self.select.strategies)),
            "select.depths": (saved["select"]["depths"], list(self.select.depths)),
            "select.ltrr.overlap_window": (
                saved["ltrr"]["overlap_window"],
                self.params.overlap_window,
            ),
            "feature names": (state["feature_names"], list(self._feature_names)),
        }
        for what, (was, now) in checks.items():
            if was != now:
                raise StorageError(
                    f"{directory}: saved with {what} = {was}, now {now}; "
                    "replay the event log to rebuild the policy"
                )
        self._state.restore(arrays)
        self._state.n_updates, self._view = int(state["n_updates"]), None

    def __repr__(self) -> str:
        return (
            f"BanditPolicy(strategies={list(self.select.strategies)}, "
            f"depths={list(self.select.depths)}, seed={self.seed}, n_updates={self.n_updates})"
        )


def _tuples(values: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}

"""One benchmark opened for simulation: what every click model, seed and policy share.

The setup of ``simulate.run`` (its module docstring gives the protocol), kept apart from the
driver so that a sweep (``simulate.sweep``) runs the very same cells: the driver prepares the
benchmark once, and each worker process opens it once more, by path, and keeps it for the
cells it is given.

``plan_bench`` reads and checks what was asked (policies, pools, fixed plans) before anything
heavy is opened. ``open_bench`` opens the evaluation workspace, understands every pool query
and reads each strategy's list once, and yields a ``Bench``. A ``Bench`` makes a click model's
``World``, a seed's traffic and the fixed-plan table, runs one learned policy on one seed's
traffic (``run_learned``: a sweep's cell) and builds the report of one click model.

A worker opens the workspace as a reader (``writer=False``): it builds nothing, and the
strategy costs the policies price plans by are the ones the driver kept in the workspace
(``strategy_costs``), so every process simulates the same world.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ltrr.config import Config, load_config, section_params, strategy_names
from ltrr.errors import ConfigError
from ltrr.evaluate.runner import run_strategy
from ltrr.evaluate.workspace import Workspace
from ltrr.log.rewards import RewardMap
from ltrr.merge.rrf import fusion_params
from ltrr.rank.base import Ranker
from ltrr.rank.features import Featurizer, Similarities
from ltrr.rank.lambdamart import lambdamart_params
from ltrr.retrieve.base import Candidate, Retriever
from ltrr.retrieve.indexes import TEXT, UNDERSTAND
from ltrr.select import SelectParams, make_policy
from ltrr.select.fixed import fixed_plan_names, parse_plan, plan_name
from ltrr.simulate.clicks import ClickModel
from ltrr.simulate.clicks import click_model as make_click_model
from ltrr.simulate.decompose import Explored, decompose
from ltrr.simulate.fixed import FixedSet, PlanTable, evaluate_plans
from ltrr.simulate.live import LiveRun, World, judge, learners_for, run_live
from ltrr.simulate.params import SHOWN, SimulateParams, simulate_params
from ltrr.simulate.policies import HYBRID, UNION, PolicySpec, resolve_policies
from ltrr.simulate.pools import Pools, read_pools
from ltrr.simulate.ranker import RankerTrainer
from ltrr.simulate.report import build_report
from ltrr.simulate.traffic import UNSEEN_STREAM, Traffic, draw_traffic, taste_pool
from ltrr.storage.folder import replace_file
from ltrr.types import EntityId
from ltrr.understand.base import UnderstoodQuery

#: Strategies whose lists change as the run learns: retrieved live, never from the cache.
LEARNING_STRATEGIES = frozenset({"memory", "explore"})
#: Strategies whose lists depend on the context: live for learned policies; cached with an
#: empty context for fixed plans.
CONTEXT_STRATEGIES = frozenset({"popular"})
#: Retrieved live in learned runs (never from the cache).
LIVE_STRATEGIES = LEARNING_STRATEGIES | CONTEXT_STRATEGIES
#: Each strategy's measured ms per search, kept in the workspace (``strategy_costs``).
COSTS_FILE = "strategy_ms.json"
#: (stage, done, total or None) -> None.
Progress = Callable[[str, int, int | None], None]


@dataclass(frozen=True, slots=True)
class BenchPlan:
    """What a simulation of one benchmark was asked, read and checked: nothing opened yet."""

    directory: Path
    config: Config
    params: SimulateParams
    select: SelectParams
    specs: tuple[PolicySpec, ...]
    fixed: FixedSet
    pools: Pools

    @property
    def learned(self) -> tuple[PolicySpec, ...]:
        """The policies run live, in the order asked."""
        return tuple(s for s in self.specs if s.kind == "learned")

    def click_model(self, name: str) -> ClickModel:
        """Click model ``name`` for this benchmark's grades (``ConfigError`` if unknown)."""
        grades = (g for judged in self.pools.qrels.values() for g in judged.values())
        return make_click_model(name, max(grades, default=1), self.params.eta)


def plan_bench(
    directory: Path,
    policies: Sequence[str] | None = None,
    params: SimulateParams | None = None,
    config: Config | None = None,
) -> BenchPlan:
    """The policies, pools and fixed plans of simulating ``policies`` on ``directory``."""
    config = config if config is not None else load_config()
    params = params if params is not None else simulate_params(config)
    select = section_params(config, "select", SelectParams)
    specs = resolve_policies(policies, select, config, params.max_plan_strategies)
    pools = read_pools(
        directory, params.traffic_split, params.unseen_split, params.traffic_share,
        params.split_seed,
    )  # fmt: skip
    fixed = _fixed_set(specs, select, params, strategy_names(config))
    return BenchPlan(directory, config, params, select, tuple(specs), fixed, pools)


@dataclass(frozen=True, slots=True)
class Bench:
    """A planned benchmark with its workspace open and every pool query's lists read."""

    plan: BenchPlan
    workspace: Workspace
    understood: Mapping[str, UnderstoodQuery]
    cached: Mapping[str, Mapping[str, Sequence[Candidate]]]
    cost_ms: Mapping[str, float]
    taste: Sequence[str]
    featurizer: Featurizer | None

    def fixed_table(self) -> PlanTable:
        """Every fixed plan on every pool query, by set operations (``fixed``)."""
        plan = self.plan
        ids = {
            s: {q: [c.entity_id for c in ranked] for q, ranked in by_q.items()}
            for s, by_q in self.cached.items()
        }
        return evaluate_plans(
            plan.fixed.names, plan.fixed.depths, ids, plan.pools.query_ids, plan.pools.qrels,
            shown=SHOWN, rrf_k=plan.params.rrf_k,
        )  # fmt: skip

    def world(self, model: ClickModel) -> World:
        """Everything a search under ``model`` needs that does not learn."""
        plan = self.plan
        qrels = plan.pools.qrels
        judged = judge({q: qrels.get(q, {}) for q in plan.pools.query_ids}, model)
        return World(
            self.understood, self.cached, judged, model, _rewards(plan.config), plan.params,
            plan.select.budget, self.featurizer, lambdamart_params(plan.config).rerank_depth,
            self.cost_ms,
        )  # fmt: skip

    def traffic(self, seed: int) -> Traffic:
        """Seed ``seed``'s searches over the traffic pool."""
        n_queries, params = len(self.plan.pools.traffic), self.plan.params
        return draw_traffic(n_queries, params.n_searches, params, seed, self.taste)

    def live_retrievers(self) -> dict[str, Retriever]:
        """Fresh instances of the strategies retrieved live, learned state cleared."""
        live: dict[str, Retriever] = {}
        for name in (s for s in self.plan.select.strategies if s in LIVE_STRATEGIES):
            retriever: Retriever = self.workspace.fresh(name)
            for reset in ("clear_observed", "clear_exposure"):
                if hasattr(retriever, reset):
                    getattr(retriever, reset)()
            live[name] = retriever
        return live

    def run_learned(
        self, spec: PolicySpec, world: World, traffic: Traffic, tick: Progress | None = None
    ) -> LiveRun:
        """Learned policy ``spec`` with fresh state over ``traffic`` (its seed's): one cell."""
        pools, params, config = self.plan.pools, self.plan.params, self.plan.config
        unseen = draw_traffic(
            len(pools.unseen), len(pools.unseen), params, traffic.seed, self.taste,
            stream=UNSEEN_STREAM,
        )  # fmt: skip
        contexts = [unseen.context(j) for j in range(len(pools.unseen))]
        policy = make_policy(spec.policy_name, config, seed=traffic.seed)
        trainer = ranker_trainer(spec, world, config)
        learners = learners_for(policy, config, self.live_retrievers(), trainer)
        explored = Explored()
        run = run_live(
            learners, world, traffic, pools.traffic, pools.unseen, contexts, tick, explored
        )
        run.policy = spec.name
        grid = (self.plan.select.strategies, self.plan.select.depths)
        run.decomposition = decompose(learners, world, pools.unseen, contexts, explored, grid)
        return run

    def report(
        self,
        model: ClickModel,
        table: PlanTable,
        runs: Mapping[str, list[LiveRun]],
        traffic: Mapping[int, Traffic],
    ) -> dict[str, Any]:
        """The JSON report of one click model (``report``) with what was simulated."""
        plan = self.plan
        report = build_report(
            specs=plan.specs, fixed=plan.fixed, table=table, pools=plan.pools, runs=runs,
            params=plan.params, traffic={seed: t.query for seed, t in traffic.items()},
        )  # fmt: skip
        report.update(
            {
                "directory": str(plan.directory),
                "click_model": {
                    "name": model.name,
                    "click": model.click,
                    "stop": model.stop,
                    "eta": model.eta,
                },
                "strategies": list(plan.select.strategies),
                "depths": list(plan.select.depths),
                "budget": plan.select.budget,
                "cache_depth": plan.fixed.cache_depth,
                "work_dir": str(self.workspace.path),
            }
        )
        return report


@contextmanager
def open_bench(
    plan: BenchPlan,
    work_dir: Path | None = None,
    on_progress: Progress | None = None,
    *,
    writer: bool = True,
) -> Iterator[Bench]:
    """``plan``'s benchmark in its workspace (``evaluate.workspace``): built and costed by a
    writer, only read by a reader (``writer=False``, which needs a prepared workspace)."""
    tick: Progress = on_progress if on_progress is not None else (lambda *_: None)
    pools = plan.pools
    with Workspace.open(pools.corpus_path, plan.config, work_dir, tick, writer=writer) as space:
        understood, cached, cost_ms = _cache(space, pools, plan.fixed, plan.select, tick)
        taste = taste_pool(space.data.catalog.iter_entities(), plan.params.taste_values)
        featurizer = _featurizer(space, plan.config, plan.specs)
        yield Bench(plan, space, understood, cached, cost_ms, taste, featurizer)


def _fixed_set(
    specs: Sequence[PolicySpec], select: SelectParams, params: SimulateParams, known: Sequence[str]
) -> FixedSet:
    """Every fixed plan evaluated: the grid's plans, union, hybrid and the requested ones."""
    names = fixed_plan_names(select.strategies, select.depths, params.max_plan_strategies)
    n_grid = len(names)
    extra = [HYBRID, UNION] + [s.name for s in specs if s.kind == "fixed"]
    depths = [parse_plan(n, select, known) for n in names]
    row_of = {n: i for i, n in enumerate(names)}
    alias: dict[str, int] = {}
    for name in extra:
        plan = parse_plan(name, select, known)
        canonical = plan_name(plan)
        if canonical not in row_of:
            row_of[canonical] = len(names)
            names.append(canonical)
            depths.append(plan)
        alias[name] = row_of[canonical]
    alias.update({n: row_of[n] for n in names})
    return FixedSet(tuple(names), tuple(depths), n_grid, alias)


def _cache(
    workspace: Workspace,
    pools: Pools,
    fixed: FixedSet,
    select: SelectParams,
    tick: Progress,
) -> tuple[dict[str, UnderstoodQuery], dict[str, dict[str, list[Candidate]]], dict[str, float]]:
    """Understand every pool query once; cache each strategy's list at the deepest depth;
    and each strategy's cost per search (``strategy_costs``)."""
    understander = workspace.index(UNDERSTAND).component
    understood = {q: understander.understand(pools.texts[q]) for q in pools.query_ids}
    strategies = sorted({s for d in fixed.depths for s in d} | set(select.strategies))
    cached, measured = {}, {}
    for name in strategies:
        retriever = workspace.index(name).component
        run, ms = run_strategy(name, retriever, understood, fixed.cache_depth, tick)
        cached[name] = {q: _unique(ranked) for q, ranked in run.items()}
        measured[name] = round(float(np.median(ms)), 4) if ms else 0.0
    costs = strategy_costs(workspace.path / COSTS_FILE, measured, keep=workspace.writer)
    return understood, cached, costs


def strategy_costs(
    path: Path, measured: Mapping[str, float], *, keep: bool = True
) -> dict[str, float]:
    """Each strategy's median ms per search (at the cache depth, first call of each query:
    the dense encoder included), kept in the workspace the first time: the policy prices
    plans by them, so a run must not depend on how busy the machine was that day. A strategy
    measured for the first time is added (unless ``keep`` is false: a reader's workspace,
    which must already hold them all)."""
    kept: dict[str, float] = orjson.loads(path.read_bytes()) if path.exists() else {}
    missing = {s: ms for s, ms in measured.items() if s not in kept}
    if missing and not keep:
        raise ConfigError(
            f"the workspace {path.parent} keeps no cost for {', '.join(sorted(missing))}: "
            "prepare it with a writer first (ltrr simulate or the sweep's driver)"
        )
    if missing:
        kept.update(missing)
        replace_file(path, orjson.dumps(kept, option=orjson.OPT_SORT_KEYS))
    return {s: kept[s] for s in measured}


def _unique(ranked: Sequence[Candidate]) -> list[Candidate]:
    """Each id once, at its best rank (as ``merge.rrf`` counts it)."""
    seen: set[EntityId] = set()
    out = []
    for candidate in ranked:
        if candidate.entity_id not in seen:
            seen.add(candidate.entity_id)
            out.append(candidate)
    return out


def _rewards(config: Config) -> RewardMap:
    """The engine's reward mapping; simulated users act with ``click`` and ``found``."""
    rewards = RewardMap.from_config(config)
    missing = [k for k in ("click", "found") if k not in rewards.kinds]
    if missing:
        raise ConfigError(
            f"simulated users act with {', '.join(missing)}, absent from [log.rewards]: "
            f"{', '.join(sorted(rewards.kinds))}"
        )
    return rewards


def ranker_trainer(
    spec: PolicySpec, world: World, config: Config
) -> Callable[[Ranker], RankerTrainer] | None:
    """For a ``+lambdamart`` policy, what builds its trainer over the run's fresh ranker."""
    featurizer = world.featurizer
    if not spec.lambdamart or featurizer is None:
        return None
    params = lambdamart_params(config)
    return lambda fallback: RankerTrainer(
        featurizer, params, world.rewards, fallback, debias=spec.debias or None
    )


def _featurizer(
    workspace: Workspace, config: Config, specs: Sequence[PolicySpec]
) -> Featurizer | None:
    """The ranker's features over the workspace's indexes, when a policy trains LambdaMART."""
    if not any(s.lambdamart for s in specs):
        return None
    dense = workspace.index("dense").component
    return Featurizer(
        strategy_names(config), workspace.index(TEXT).component,
        dense if isinstance(dense, Similarities) else None, k=fusion_params(config).k,
    )  # fmt: skip

"""``ltrr simulate``: the learning loop on a BEIR-layout benchmark (EVALUATION.md section 3).

Setup, once per benchmark. The corpus goes into the evaluation workspace of
``evaluate.workspace`` (``WORKDIR/<fingerprint>``: the same catalog and saved indexes that
``ltrr evaluate`` builds and reuses). Both pools (``pools``) are understood once by the
catalog's understander. Every strategy any plan may run is retrieved once per query at the
deepest depth needed, with an empty context; a plan at depth ``d`` cuts that list at ``d``.
``memory`` and ``explore`` are cached too, in their cold-start state (no observations): those
are the lists fixed plans use, since a fixed plan's learning memory would be a learned policy.

Fixed plans (``fixed``): every single strategy, pair and triple of ``[select]
strategies`` at every grid depth, ``union``, ``hybrid`` and any fixed plan named in
``--policies``, evaluated on every pool query by set operations; ``oracle`` picks per query
the cheapest of the single/pair/triple plans that finds.

Learned policies (``live``), per seed: ``make_policy(name, config, seed=seed)`` with fresh
state, fresh ``memory``/``explore`` (reloaded from the workspace), run over that seed's
traffic (``traffic``), with a frozen tail evaluation at the end of every window. The
event log is not written: the simulation needs no durability.

The report (``report``) is EVALUATION.md's JSON; ``plots`` draws its learning curves.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ltrr.config import Config, load_config, section_params, strategy_names
from ltrr.errors import ConfigError
from ltrr.evaluate.runner import run_strategy
from ltrr.evaluate.runs import check_directory, write_runs
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
from ltrr.simulate.clicks import click_model as make_click_model
from ltrr.simulate.fixed import FixedSet, evaluate_plans
from ltrr.simulate.live import LiveRun, World, judge, learners_for, run_live
from ltrr.simulate.ope import ope_replications
from ltrr.simulate.params import SHOWN, SimulateParams, simulate_params
from ltrr.simulate.policies import HYBRID, UNION, PolicySpec, resolve_policies
from ltrr.simulate.pools import Pools, read_pools
from ltrr.simulate.ranker import RankerTrainer
from ltrr.simulate.report import build_report
from ltrr.simulate.traffic import UNSEEN_STREAM, Traffic, draw_traffic, taste_pool
from ltrr.storage.folder import replace_file
from ltrr.types import EntityId
from ltrr.understand.base import UnderstoodQuery

logger = logging.getLogger(__name__)

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


def simulate(
    directory: Path,
    policies: Sequence[str] | None = None,
    click_model: str = "navigational",
    params: SimulateParams | None = None,
    work_dir: Path | None = None,
    config: Config | None = None,
    on_progress: Progress | None = None,
    runs_dir: Path | None = None,
) -> dict[str, Any]:
    """Simulate ``policies`` on ``directory`` and return the JSON-ready report; ``runs_dir``
    also gets a TREC run file per learned policy and seed (``run_files``)."""
    if runs_dir is not None:
        check_directory(runs_dir)  # before hours of simulation, not after
    started = time.perf_counter()
    config = config if config is not None else load_config()
    params = params if params is not None else simulate_params(config)
    tick: Progress = on_progress if on_progress is not None else (lambda *_: None)
    select = section_params(config, "select", SelectParams)
    specs = resolve_policies(policies, select, config, params.max_plan_strategies)
    pools = read_pools(
        directory, params.traffic_split, params.unseen_split, params.traffic_share,
        params.split_seed,
    )  # fmt: skip
    max_grade = max((g for judged in pools.qrels.values() for g in judged.values()), default=1)
    model = make_click_model(click_model, max_grade, params.eta)
    fixed = _fixed_set(specs, select, params, strategy_names(config))
    timing: dict[str, float] = {}
    with Workspace.open(pools.corpus_path, config, work_dir, tick) as workspace:
        understood, cached, cost_ms = _cache(workspace, pools, fixed, select, tick)
        taste = taste_pool(workspace.data.catalog.iter_entities(), params.taste_values)
        timing["setup_s"] = time.perf_counter() - started
        mark = time.perf_counter()
        table = evaluate_plans(
            fixed.names, fixed.depths,
            {s: {q: [c.entity_id for c in ranked] for q, ranked in by_q.items()}
             for s, by_q in cached.items()},
            pools.query_ids, pools.qrels, shown=SHOWN, rrf_k=params.rrf_k,
        )  # fmt: skip
        timing["fixed_plans_s"] = time.perf_counter() - mark
        judged = judge({q: pools.qrels.get(q, {}) for q in pools.query_ids}, model)
        world = World(
            understood, cached, judged, model, _rewards(config), params, select.budget,
            _featurizer(workspace, config, specs), lambdamart_params(config).rerank_depth,
            cost_ms,
        )  # fmt: skip
        traffic = {
            seed: draw_traffic(len(pools.traffic), params.n_searches, params, seed, taste)
            for seed in params.seeds
        }
        mark = time.perf_counter()
        runs = _run_learned(specs, world, pools, traffic, config, workspace, taste, select, tick)
        timing["learned_s"] = time.perf_counter() - mark
        off_policy = None
        if params.ope_replications:
            mark = time.perf_counter()
            live_names = [s for s in select.strategies if s in LIVE_STRATEGIES]
            off_policy = ope_replications(
                world, pools.traffic, taste, config,
                lambda: _live_retrievers(workspace, live_names), tick,
            )  # fmt: skip
            timing["ope_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    report = build_report(
        specs=specs, fixed=fixed, table=table, pools=pools, runs=runs, params=params,
        traffic={seed: t.query for seed, t in traffic.items()},
    )  # fmt: skip
    timing["report_s"] = time.perf_counter() - mark
    timing["total_s"] = time.perf_counter() - started
    report.update(
        {
            "directory": str(directory),
            "click_model": {
                "name": model.name,
                "click": model.click,
                "stop": model.stop,
                "eta": model.eta,
            },
            "strategies": list(select.strategies),
            "depths": list(select.depths),
            "budget": select.budget,
            "cache_depth": fixed.cache_depth,
            "work_dir": str(workspace.path),
            "timing_s": timing,
        }
    )
    if off_policy is not None:
        report["ope"] = off_policy
    if runs_dir is not None:
        written = write_runs(runs_dir, run_files(runs, pools.unseen))
        report["runs"] = {name: str(path) for name, path in written.items()}
    return report


def run_files(
    runs: Mapping[str, Sequence[LiveRun]], unseen: Sequence[str]
) -> dict[str, dict[str, list[tuple[str, float]]]]:
    """Run name -> unseen query -> the ranking its frozen learned state shows at the end of
    the run (the last tail point): ``<policy>.seed<k>``, ``+`` and ``:`` spelled ``_`` and ``-``
    so the name is a file name. These are the rankings of the report's tail nDCG@10."""
    out = {}
    for policy, per_seed in runs.items():
        stem = policy.replace("+", "_").replace(":", "-")
        for run in per_seed:
            last = run.tail[-1]
            out[f"{stem}.seed{run.seed}"] = {
                q: list(ranked) for q, ranked in zip(unseen, last.ranked, strict=True) if ranked
            }
    return out


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
    return understood, cached, strategy_costs(workspace.path / COSTS_FILE, measured)


def strategy_costs(path: Path, measured: Mapping[str, float]) -> dict[str, float]:
    """Each strategy's median ms per search (at the cache depth, first call of each query:
    the dense encoder included), kept in the workspace the first time: the policy prices
    plans by them, so a run must not depend on how busy the machine was that day. A strategy
    measured for the first time is added."""
    kept: dict[str, float] = orjson.loads(path.read_bytes()) if path.exists() else {}
    missing = {s: ms for s, ms in measured.items() if s not in kept}
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


def _live_retrievers(workspace: Workspace, names: Sequence[str]) -> dict[str, Retriever]:
    """Fresh instances of the strategies retrieved live, learned state cleared."""
    live: dict[str, Retriever] = {}
    for name in names:
        retriever: Retriever = workspace.fresh(name)
        for reset in ("clear_observed", "clear_exposure"):
            if hasattr(retriever, reset):
                getattr(retriever, reset)()
        live[name] = retriever
    return live


def _run_learned(
    specs: Sequence[PolicySpec],
    world: World,
    pools: Pools,
    traffic: Mapping[int, Traffic],
    config: Config,
    workspace: Workspace,
    taste: Sequence[str],
    select: SelectParams,
    tick: Progress,
) -> dict[str, list[LiveRun]]:
    learned = [s for s in specs if s.kind == "learned"]
    live_names = [s for s in select.strategies if s in LIVE_STRATEGIES]
    runs: dict[str, list[LiveRun]] = {spec.name: [] for spec in learned}
    if not learned:
        return runs
    params = world.params
    for seed, searches in traffic.items():
        unseen = draw_traffic(
            len(pools.unseen), len(pools.unseen), params, seed, taste, stream=UNSEEN_STREAM
        )
        contexts = [unseen.context(j) for j in range(len(pools.unseen))]
        for spec in learned:
            policy = make_policy(spec.policy_name, config, seed=seed)
            live = _live_retrievers(workspace, live_names)
            learner = learners_for(policy, config, live, ranker_trainer(spec, world, config))
            run = run_live(learner, world, searches, pools.traffic, pools.unseen, contexts, tick)
            run.policy = spec.name
            runs[spec.name].append(run)
    return runs

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

The setup and the per-policy, per-seed run live in ``bench``, which a sweep
(``simulate.sweep``) shares. The report (``report``) is EVALUATION.md's JSON; ``plots`` draws
its learning curves and the unseen pool's cost against found-rate; ``per_query`` gets the CSV
of what each learned policy did per unseen query beside the oracle (``per_query.per_query_rows``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ltrr.config import Config
from ltrr.evaluate.runs import check_directory, write_runs
from ltrr.simulate.bench import Bench, Progress, open_bench, plan_bench
from ltrr.simulate.bench import strategy_costs as strategy_costs
from ltrr.simulate.live import LiveRun, World
from ltrr.simulate.ope import ope_replications
from ltrr.simulate.params import SimulateParams
from ltrr.simulate.per_query import per_query_rows, write_per_query
from ltrr.simulate.traffic import Traffic


def simulate(
    directory: Path,
    policies: Sequence[str] | None = None,
    click_model: str = "navigational",
    params: SimulateParams | None = None,
    work_dir: Path | None = None,
    config: Config | None = None,
    on_progress: Progress | None = None,
    runs_dir: Path | None = None,
    per_query: Path | None = None,
) -> dict[str, Any]:
    """Simulate ``policies`` on ``directory`` and return the JSON-ready report; ``runs_dir``
    also gets a TREC run file per learned policy and seed (``run_files``), and ``per_query``
    the CSV of what each learned policy did per unseen query (``per_query.per_query_rows``)."""
    if runs_dir is not None:
        check_directory(runs_dir)  # before hours of simulation, not after
    started = time.perf_counter()
    plan = plan_bench(directory, policies, params, config)
    params, config = plan.params, plan.config
    model = plan.click_model(click_model)
    timing: dict[str, float] = {}
    with open_bench(plan, work_dir, on_progress) as bench:
        timing["setup_s"] = time.perf_counter() - started
        mark = time.perf_counter()
        table = bench.fixed_table()
        timing["fixed_plans_s"] = time.perf_counter() - mark
        world = bench.world(model)
        traffic = {seed: bench.traffic(seed) for seed in params.seeds}
        mark = time.perf_counter()
        runs = _run_learned(bench, world, traffic, on_progress)
        timing["learned_s"] = time.perf_counter() - mark
        off_policy = None
        if params.ope_replications:
            mark = time.perf_counter()
            off_policy = ope_replications(
                world, plan.pools.traffic, bench.taste, config, bench.live_retrievers,
                on_progress or (lambda *_: None),
            )  # fmt: skip
            timing["ope_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    report = bench.report(model, table, runs, traffic)
    timing["report_s"] = time.perf_counter() - mark
    timing["total_s"] = time.perf_counter() - started
    report["timing_s"] = timing
    if off_policy is not None:
        report["ope"] = off_policy
    if runs_dir is not None:
        written = write_runs(runs_dir, run_files(runs, plan.pools.unseen))
        report["runs"] = {name: str(path) for name, path in written.items()}
    if per_query is not None:
        rows = per_query_rows(runs, table, plan.fixed, plan.pools)
        report["per_query"]["file"] = str(write_per_query(per_query, rows))
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


def _run_learned(
    bench: Bench, world: World, traffic: Mapping[int, Traffic], tick: Progress | None
) -> dict[str, list[LiveRun]]:
    """Every learned policy on every seed's traffic, seed by seed (``Bench.run_learned``)."""
    learned = bench.plan.learned
    runs: dict[str, list[LiveRun]] = {spec.name: [] for spec in learned}
    for searches in traffic.values():
        for spec in learned:
            runs[spec.name].append(bench.run_learned(spec, world, searches, tick))
    return runs

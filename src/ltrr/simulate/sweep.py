"""A sweep: one benchmark under several click models, seeds and policies, in one summary.

The unit of work is a *cell*: one learned policy on one seed's traffic under one click model
(``Bench.run_learned``). The learned policies of a seed share its traffic but no state, so
each runs alone. Fixed plans, ``hybrid``, ``union`` and the oracle need no cell: their metrics
come from the fixed-plan table (set operations on the cached lists), which no click model
changes, so the driver computes it once for all of them.

The driver plans and prepares the benchmark (``open_bench`` as the writer: corpus loaded,
every index built and saved, strategy costs kept in the workspace), then runs the cells:

- ``runner="local"``: in this process, one after the other, on the driver's ``Bench``;
- ``runner="ray"``: as Ray tasks of one CPU each. Each worker process opens the same workspace
  by path as a reader, once, and keeps it for the next cells it is given (``_worker_bench``);
  the driver computes the fixed-plan table while they run.

Either way the results are collected in the cells' order (click model, seed, policy) and each
click model's report is the one ``ltrr simulate`` writes for the same policies and seeds, so
the two summaries are the same JSON number for number; only ``timing_s`` and ``runner`` tell
how and where it ran. ``runner``: ``kind``, ``n_workers`` (Ray: the cluster's CPUs),
Ray's ``address``, ``start_s`` and ``n_nodes``, and per cell its ``seconds``, ``host``,
``pid`` and ``open_s`` (the seconds its process took to open the benchmark, on the first cell
it ran). ``timing_s``: ``setup_s`` (the driver's), ``fixed_plans_s``,
``fixed_plans_and_cells_s`` (from the cells' start, Ray's start-up included, to the last
result), ``report_s`` and ``total_s``.

Ray is imported only when a sweep asks for it. Without ``address`` a local Ray is started with
one worker per core and no dashboard, and stopped after; with one (``"auto"`` or
``"host:6379"`` on a node of a running cluster; ``"ray://host:10001"`` needs Ray Client,
``ray[client]``) the same tasks run on that cluster. A Ray already initialised by the caller is
used as it is and left running. On a cluster, every node needs the same ltrr installed and
the benchmark and the prepared workspace at the driver's paths. Workers only read the
workspace, so a copy of its folder on each node's local disk will do, and is the safe choice:
its catalog is SQLite in WAL mode, which SQLite does not support over a network filesystem.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ltrr import __version__
from ltrr._ray import ray_session, require_ray
from ltrr.config import Config
from ltrr.errors import ConfigError
from ltrr.simulate.bench import Bench, BenchPlan, Progress, open_bench, plan_bench
from ltrr.simulate.clicks import ClickModel
from ltrr.simulate.fixed import PlanTable
from ltrr.simulate.live import LiveRun
from ltrr.simulate.params import SimulateParams

Runner = Literal["local", "ray"]
#: Gathers the cells' results, in the cells' order.
Gather = Callable[[], list["CellResult"]]
RUNNERS: tuple[Runner, ...] = ("local", "ray")


@dataclass(frozen=True, slots=True)
class SweepSpec:
    """What a process needs to open the benchmark as the driver did: sent to every worker."""

    directory: Path
    policies: tuple[str, ...] | None
    params: SimulateParams
    config: Config
    work_dir: Path | None = None

    def plan(self) -> BenchPlan:
        return plan_bench(self.directory, self.policies, self.params, self.config)


@dataclass(frozen=True, slots=True)
class Cell:
    """One learned policy on one seed's traffic under one click model."""

    click_model: str
    seed: int
    policy: str


@dataclass(frozen=True, slots=True)
class CellResult:
    """A cell's run, its seconds, and the host and process that ran it (``open_s``: the
    seconds that process took to open the benchmark first, when this cell made it)."""

    cell: Cell
    run: LiveRun
    seconds: float
    host: str
    pid: int
    open_s: float = 0.0


def cells_of(plan: BenchPlan, click_models: Sequence[str]) -> list[Cell]:
    """Every cell of the sweep, in the order results are collected and reported."""
    return [
        Cell(model, seed, spec.name)
        for model in click_models
        for seed in plan.params.seeds
        for spec in plan.learned
    ]


def run_cell(bench: Bench, cell: Cell) -> CellResult:
    """Run ``cell`` on ``bench``: the same function in the driver and in a Ray worker."""
    started = time.perf_counter()
    spec = next(s for s in bench.plan.learned if s.name == cell.policy)
    world = bench.world(bench.plan.click_model(cell.click_model))
    run = bench.run_learned(spec, world, bench.traffic(cell.seed))
    seconds = time.perf_counter() - started
    return CellResult(cell, run, seconds, socket.gethostname(), os.getpid())


def sweep(
    spec: SweepSpec,
    click_models: Sequence[str],
    runner: Runner = "local",
    address: str | None = None,
    on_progress: Progress | None = None,
) -> dict[str, Any]:
    """Every learned policy x seed x click model of ``spec``; the JSON-ready summary."""
    started = time.perf_counter()
    if runner not in RUNNERS:
        raise ConfigError(f"unknown sweep runner {runner!r}; allowed: {', '.join(RUNNERS)}")
    if not click_models:
        raise ConfigError("a sweep needs at least one click model")
    plan = spec.plan()
    models = {name: plan.click_model(name) for name in dict.fromkeys(click_models)}
    cells = cells_of(plan, list(models))
    tick: Progress = on_progress if on_progress is not None else (lambda *_: None)
    if runner == "ray":
        require_ray("a sweep on Ray")  # before the setup, not after
    timing: dict[str, float] = {}
    with open_bench(plan, spec.work_dir, tick) as bench:
        timing["setup_s"] = time.perf_counter() - started
        with ExitStack() as stack:
            mark = time.perf_counter()
            if runner == "ray":
                gather, where = stack.enter_context(_on_ray(spec, cells, address, tick))
            else:
                gather, where = _in_process(bench, cells, tick), {"n_workers": 1}
            fixed_started = time.perf_counter()
            table = bench.fixed_table()  # while Ray's workers run the cells
            timing["fixed_plans_s"] = time.perf_counter() - fixed_started
            results = gather()
            timing["fixed_plans_and_cells_s"] = time.perf_counter() - mark
        mark = time.perf_counter()
        reports = _reports(bench, models, table, results)
        timing["report_s"] = time.perf_counter() - mark
    timing["total_s"] = time.perf_counter() - started
    return {
        "ltrr_version": __version__,
        "directory": str(spec.directory),
        "policies": [s.name for s in plan.specs],
        "click_models": list(models),
        "seeds": plan.params.seeds,
        "n_searches": plan.params.n_searches,
        "n_cells": len(cells),
        "reports": reports,
        "runner": {"kind": runner, **where, "cells": [_where(r) for r in results]},
        "timing_s": timing,
    }


def _reports(
    bench: Bench, models: Mapping[str, ClickModel], table: PlanTable, results: Sequence[CellResult]
) -> dict[str, dict[str, Any]]:
    """Each click model's report, as ``simulate`` writes it, from its cells' runs."""
    traffic = {seed: bench.traffic(seed) for seed in bench.plan.params.seeds}
    reports = {}
    for name, model in models.items():
        runs = {
            spec.name: [
                r.run for r in results if (r.cell.click_model, r.cell.policy) == (name, spec.name)
            ]
            for spec in bench.plan.learned
        }
        reports[name] = bench.report(model, table, runs, traffic)
    return reports


def _where(result: CellResult) -> dict[str, Any]:
    cell = result.cell
    return {
        "click_model": cell.click_model,
        "seed": cell.seed,
        "policy": cell.policy,
        "seconds": round(result.seconds, 3),
        "open_s": round(result.open_s, 3),
        "host": result.host,
        "pid": result.pid,
    }


def _in_process(bench: Bench, cells: Sequence[Cell], tick: Progress) -> Gather:
    """The cells one after the other, on the driver's bench, when gathered."""

    def gather() -> list[CellResult]:
        results = []
        for n, cell in enumerate(cells):
            results.append(run_cell(bench, cell))
            tick("cells", n + 1, len(cells))
        return results

    return gather


@contextmanager
def _on_ray(
    spec: SweepSpec, cells: Sequence[Cell], address: str | None, tick: Progress
) -> Iterator[tuple[Gather, dict[str, Any]]]:
    """Submit every cell as a Ray task; yield what gathers their results in order, and where
    they run (``_ray.ray_session``: a Ray started here is shut down on the way out)."""
    with ray_session(address, "a sweep on Ray") as (ray, where):
        task = ray.remote(num_cpus=1)(run_worker_cell)
        spec_ref = ray.put(spec)
        refs = [task.remote(spec_ref, cell) for cell in cells]

        def gather() -> list[CellResult]:
            pending = list(refs)
            while pending:
                _, pending = ray.wait(pending, num_returns=1)
                tick("cells", len(refs) - len(pending), len(refs))
            results: list[CellResult] = ray.get(refs)
            return results

        yield gather, where


#: This process's open benchmark, kept for the next cell: (spec, bench, what closes it).
_HELD: list[tuple[SweepSpec, Bench, ExitStack]] = []


def run_worker_cell(spec: SweepSpec, cell: Cell) -> CellResult:
    """A Ray task: ``cell`` on this worker's bench (``_worker_bench``)."""
    started = time.perf_counter()
    opened = bool(_HELD) and _HELD[0][0] == spec
    bench = _worker_bench(spec)
    open_s = 0.0 if opened else time.perf_counter() - started
    return dataclasses.replace(run_cell(bench, cell), open_s=open_s)


def _worker_bench(spec: SweepSpec) -> Bench:
    """``spec``'s benchmark opened as a reader, once per process and spec: a worker reuses it
    for every cell it is given (opening it reads every pool query's lists)."""
    if _HELD and _HELD[0][0] == spec:
        return _HELD[0][1]
    release_worker_bench()
    stack = ExitStack()
    bench = stack.enter_context(open_bench(spec.plan(), spec.work_dir, writer=False))
    _HELD.append((spec, bench, stack))
    return bench


def release_worker_bench() -> None:
    """Close this process's kept benchmark, if any."""
    while _HELD:
        _HELD.pop()[2].close()

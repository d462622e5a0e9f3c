"""``ltrr sweep``: ``ltrr simulate`` over several click models at once, locally or on Ray."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.table import Table

from ltrr.cli.common import ConfigOption, JsonOption, config_for, print_json, stdout
from ltrr.cli.evaluate import _stages
from ltrr.cli.simulate import (
    BenchmarkArg,
    EtaOption,
    FoundElsewhereOption,
    PoliciesOption,
    SearchesOption,
    SeedsOption,
    TrafficSplitOption,
    UnseenSplitOption,
    WindowOption,
    WorkOption,
    params_for,
    policy_names,
)
from ltrr.simulate.clicks import CLICK_MODELS
from ltrr.simulate.sweep import Runner, SweepSpec, sweep

_COLUMNS = (
    ("head", "found_rate", "head found"),
    ("head", "ndcg@10", "head nDCG"),
    ("tail", "found_rate", "tail found"),
    ("tail", "candidates_per_search", "tail cand"),
    ("tail", "ndcg@10", "tail nDCG"),
)


def _cell(block: dict[str, Any]) -> str:
    mean, std = block.get("mean"), block.get("std")
    if mean is None:
        return "-"
    digits = 3 if abs(mean) < 10 else 1
    return f"{mean:,.{digits}f} ± {std:,.{digits}f}"


def _table(summary: dict[str, Any]) -> Table:
    """Per click model and policy: the means ± std over seeds of the report's main metrics."""
    runner, timing = summary["runner"], summary["timing_s"]
    table = Table(
        title=f"{summary['directory']}: {summary['n_searches']:,} searches x "
        f"{len(summary['seeds'])} seeds, {summary['n_cells']} cells on {runner['kind']} "
        f"({runner['n_workers']} workers) in {timing['total_s']:.1f} s"
    )
    table.add_column("click model")
    table.add_column("policy")
    for _, _, label in _COLUMNS:
        table.add_column(label, justify="right")
    for model, report in summary["reports"].items():
        for name in summary["policies"]:
            policy = report["policies"][name]
            table.add_row(model, name, *(_cell(policy[b][m]) for b, m, _ in _COLUMNS))
    return table


def sweep_command(
    directory: BenchmarkArg,
    click_models: Annotated[
        str,
        typer.Option(
            "--click-models", help=f"Comma-separated, each one of {', '.join(CLICK_MODELS)}."
        ),
    ],
    searches: SearchesOption,
    seeds: SeedsOption,
    out: Annotated[Path, typer.Option("--out", help="The summary JSON.")],
    policies: PoliciesOption = None,
    use_ray: Annotated[
        bool,
        typer.Option(
            "--ray",
            help="Run each (click model, seed, learned policy) as a Ray task; default: one after "
            "the other in this process, with the same numbers.",
        ),
    ] = False,
    address: Annotated[
        str | None,
        typer.Option(
            "--address",
            help="Ray cluster to run on (implies --ray): auto or host:port of a running "
            "cluster, from one of its nodes; ray://host:port through Ray Client needs "
            "ray[client] (default: a local Ray, one worker per core). Every node must see the "
            "benchmark and the prepared --work folder at the same paths.",
            show_default=False,
        ),
    ] = None,
    found_elsewhere: FoundElsewhereOption = None,
    eta: EtaOption = None,
    window: WindowOption = None,
    work: WorkOption = None,
    traffic_split: TrafficSplitOption = None,
    unseen_split: UnseenSplitOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Policies x seeds x click models of one benchmark: one summary, each click model's report
    as ltrr simulate writes it; the workspace is prepared once."""
    settings = config_for(config)
    params = params_for(
        settings, n_searches=searches, n_seeds=seeds, found_elsewhere=found_elsewhere, eta=eta,
        window=window, traffic_split=traffic_split, unseen_split=unseen_split,
    )  # fmt: skip
    names = policy_names(policies)
    spec = SweepSpec(directory, tuple(names) if names else None, params, settings, work)
    models = [m.strip() for m in click_models.split(",") if m.strip()]
    runner: Runner = "ray" if use_ray or address is not None else "local"
    with _stages() as tick:
        summary = sweep(spec, models, runner, address, tick)
    summary["command"] = shlex.join(["ltrr", *sys.argv[1:]])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2) + b"\n")
    if as_json:
        print_json(summary)
        return
    stdout.print(_table(summary))
    stdout.print(f"wrote {out}")


def register(app: typer.Typer) -> None:
    app.command("sweep")(sweep_command)

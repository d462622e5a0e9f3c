"""``ltrr simulate``: the learning loop on a BEIR-layout benchmark, against every fixed plan."""

from __future__ import annotations

import dataclasses
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.markup import escape
from rich.table import Table

from ltrr.cli.common import ConfigOption, JsonOption, config_for, print_json, stdout
from ltrr.cli.evaluate import _stages
from ltrr.config import Config
from ltrr.evaluate.workspace import CACHE_ENV
from ltrr.simulate.clicks import CLICK_MODELS
from ltrr.simulate.params import SimulateParams, simulate_params
from ltrr.simulate.per_query import per_query_path
from ltrr.simulate.plots import write_plots
from ltrr.simulate.policies import HYBRID, ORACLE, UNION
from ltrr.simulate.run import simulate

_COLUMNS = (
    ("head", "found_rate", "head found"),
    ("head", "candidates_per_search", "head cand"),
    ("head", "ndcg@10", "head nDCG"),
    ("tail", "found_rate", "tail found"),
    ("tail", "candidates_per_search", "tail cand"),
    ("tail", "ndcg@10", "tail nDCG"),
)


def _cell(block: dict[str, Any] | None) -> str:
    if not block or block.get("mean") is None:
        return "-"
    mean = float(block["mean"])
    return f"{mean:.3f}" if abs(mean) < 100 else f"{mean:,.0f}"


def _table(report: dict[str, Any]) -> Table:
    """The learned policies, the named baselines and the fixed plans they are compared with."""
    policies = report["policies"]
    names = [n for n, p in policies.items() if p["kind"] == "learned"]
    names += [n for n in (HYBRID, UNION, ORACLE) if n in policies]
    for name in list(names):
        for reference in policies[name].get("tail_reference", []) or []:
            if reference in policies and reference not in names:
                names.append(reference)
    if len(policies) <= 12:
        names += [n for n in policies if n not in names]
    table = Table(
        title=f"{report['directory']}: {report['n_searches']:,} searches x "
        f"{len(report['seeds'])} seeds, {report['click_model']['name']} clicks "
        "(head: last window; tail: unseen pool)"
    )
    table.add_column("policy")
    for _, _, label in _COLUMNS:
        table.add_column(label, justify="right")
    for label in ("regret", "gap closed", "worst window"):
        table.add_column(label, justify="right")
    for name in names:
        p = policies[name]
        table.add_row(
            name,
            *(_cell(p[block][metric]) for block, metric, _ in _COLUMNS),
            _cell(p["cumulative_regret"]),
            _cell(p["gap_closed"]),
            _cell(p["worst_window_vs_hybrid"]),
        )
    return table


def _checks(report: dict[str, Any]) -> list[str]:
    checks = report.get("checks")
    if not checks:
        return []
    lines = [f"acceptance checks for {checks['policy']} (issue 5 targets):"]
    for name, value in checks.items():
        if isinstance(value, dict) and "pass" in value:
            shown = {k: v for k, v in value.items() if k not in ("pass", "single")}
            mark = "[green]pass[/]" if value["pass"] else "[red]FAIL[/]"
            lines.append(f"  {mark} {name}: {orjson.dumps(shown).decode()}")
    return lines


#: The options ``ltrr simulate`` and ``ltrr sweep`` share (``cli.sweep``).
BenchmarkArg = Annotated[
    Path, typer.Argument(help="Benchmark in BEIR layout: corpus, queries.jsonl, qrels/.")
]
SearchesOption = Annotated[int, typer.Option("--searches", help="Searches per seed.")]
SeedsOption = Annotated[
    int,
    typer.Option("--seeds", help="Seeds: each its own traffic (EVALUATION.md asks for 3 or more)."),
]
PoliciesOption = Annotated[
    str | None,
    typer.Option(
        "--policies",
        help="Comma-separated: ltrr, hybrid, hybrid@D, union, oracle, lexical@50, "
        "lexical@50+dense@25 (default: all of them and every fixed plan).",
        show_default=False,
    ),
]
FoundElsewhereOption = Annotated[
    float | None,
    typer.Option(
        "--found-elsewhere", help="P(user finds a relevant item another way).", show_default=False
    ),
]
EtaOption = Annotated[
    float | None,
    typer.Option(
        "--eta",
        help="Position-based models (pbm-*): rank r is examined with P = (1/r)^eta; > 0, "
        f"default {escape('[simulate]')} eta = 1. Cascades ignore it.",
        show_default=False,
    ),
]
WindowOption = Annotated[
    int | None,
    typer.Option("--window", help="Searches per window (head, tail points).", show_default=False),
]
WorkOption = Annotated[
    Path | None,
    typer.Option(
        "--work",
        help=f"Folder for the benchmark's catalog and indexes (default: ${CACHE_ENV}/eval, "
        "else ~/.cache/ltrr/eval); shared with ltrr evaluate.",
        show_default=False,
    ),
]
TrafficSplitOption = Annotated[
    str | None,
    typer.Option("--traffic-split", help="Qrels split of the traffic pool.", show_default=False),
]
UnseenSplitOption = Annotated[
    str | None,
    typer.Option("--unseen-split", help="Qrels split of the unseen pool.", show_default=False),
]


def params_for(settings: Config, **overrides: Any) -> SimulateParams:
    """``[simulate]`` of ``settings`` with the options given (``None``: not given)."""
    given = {key: value for key, value in overrides.items() if value is not None}
    return dataclasses.replace(simulate_params(settings), **given)


def policy_names(policies: str | None) -> list[str] | None:
    """``--policies`` as names; None (every policy) when not given."""
    return [p.strip() for p in policies.split(",") if p.strip()] if policies else None


def simulate_command(
    directory: BenchmarkArg,
    click_model: Annotated[
        str, typer.Option("--click-model", help=f"One of {', '.join(CLICK_MODELS)}.")
    ],
    searches: SearchesOption,
    seeds: SeedsOption,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="JSON report. Beside it, named after it: the learning curves (-found.png, "
            "-candidates.png), unseen-pool cost against found-rate over the fixed-plan "
            "frontier (-cost-found.png), and -per-query.csv: per learned policy, seed and "
            "unseen query, its last greedy plan, candidates and found, beside the oracle "
            "plan's and the fixed plan of its cost's.",
        ),
    ],
    policies: PoliciesOption = None,
    found_elsewhere: FoundElsewhereOption = None,
    eta: EtaOption = None,
    window: WindowOption = None,
    work: WorkOption = None,
    traffic_split: TrafficSplitOption = None,
    unseen_split: UnseenSplitOption = None,
    ope_replications: Annotated[
        int | None,
        typer.Option(
            "--ope-replications",
            help="Also check off-policy estimates: this many logged ltrr runs of "
            f"{escape('[simulate]')} ope_searches searches, each target plan estimated from "
            "each log.",
            show_default=False,
        ),
    ] = None,
    runs: Annotated[
        Path | None,
        typer.Option(
            "--runs",
            help="Also write a TREC run file per learned policy and seed: its ranking of every "
            "unseen query at the end of the run (<policy>.seed<k>.run).",
            show_default=False,
        ),
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Simulated users search, click and learn; ltrr against every fixed plan (EVALUATION.md 3)."""
    settings = config_for(config)
    params = params_for(
        settings, n_searches=searches, n_seeds=seeds, found_elsewhere=found_elsewhere, eta=eta,
        window=window, traffic_split=traffic_split, unseen_split=unseen_split,
        ope_replications=ope_replications,
    )  # fmt: skip
    names = policy_names(policies)
    with _stages() as tick:
        report = simulate(
            directory, names, click_model, params, work, settings, tick, runs,
            per_query_path(out),
        )  # fmt: skip
    report["command"] = shlex.join(["ltrr", *sys.argv[1:]])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    plots = write_plots(report, out)
    if as_json:
        print_json(report)
        return
    stdout.print(_table(report))
    for line in _checks(report):
        stdout.print(line)
    written = [str(p) for p in plots] + [report["per_query"]["file"]]
    stdout.print(f"wrote {out} and {', '.join(written)}")


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate_command)

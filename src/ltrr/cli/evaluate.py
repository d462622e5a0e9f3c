"""``ltrr evaluate``: retrieval quality of each strategy and their fusion on a BEIR directory."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from ltrr.cli.common import ConfigOption, JsonOption, config_for, print_json, stderr, stdout
from ltrr.errors import StorageError
from ltrr.evaluate.metrics import CLASS_METRICS, METRICS
from ltrr.evaluate.runner import evaluate
from ltrr.evaluate.runs import check_directory
from ltrr.evaluate.workspace import CACHE_ENV


@contextmanager
def _stages() -> Iterator[Callable[[str, int, int | None], None]]:
    """One progress bar per stage (ingest, build, query) on stderr."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=stderr, transient=True) as bar:
        tasks: dict[str, TaskID] = {}

        def tick(stage: str, done: int, total: int | None) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)

        yield tick


def _runs_dir(value: Path | None) -> Path | None:
    """``--runs`` checked before the evaluation starts, as a usage error rather than a traceback."""
    if value is not None:
        try:
            check_directory(value)
        except StorageError as exc:
            raise typer.BadParameter(str(exc)) from exc
    return value


def _strategies_table(report: dict[str, Any]) -> Table:
    table = Table(title=f"{report['directory']} ({report['split']}, {report['n_queries']} queries)")
    table.add_column("strategy")
    for metric in METRICS:
        table.add_column(metric, justify="right")
    table.add_column("build s", justify="right")
    table.add_column("p50 ms", justify="right")
    table.add_column("p99 ms", justify="right")
    for name, scores in report["strategies"].items():
        build = report["build_s"].get(name)
        latency = report["latency_ms"].get(name, {})
        fused = "+".join(report["fusion_of"]["strategies"])
        table.add_row(
            f"{name} ({fused})" if name == "fusion" else name,
            *(f"{scores[m]:.4f}" for m in METRICS),
            ""
            if build is None
            else f"{build:.1f}" + (" (cached)" if report["reused"][name] else ""),
            f"{latency.get('p50', 0):.3f}",
            f"{latency.get('p99', 0):.3f}",
        )
    return table


def _class_tables(report: dict[str, Any]) -> list[Table]:
    """One table per class metric: a row per class, a column per strategy, the best in bold."""
    names = list(report["strategies"])
    tables = []
    for metric in CLASS_METRICS:
        table = Table(title=f"per query class: {metric}")
        table.add_column("class")
        table.add_column("n", justify="right")
        for name in names:
            table.add_column(name, justify="right")
        for cls, by_strategy in report["by_class"].items():
            best = max(by_strategy[n][metric] for n in names)
            cells = [
                f"[bold]{v:.3f}[/]" if v == best else f"{v:.3f}"
                for v in (by_strategy[n][metric] for n in names)
            ]
            table.add_row(cls, str(report["n_queries_by_class"][cls]), *cells)
        tables.append(table)
    return tables


def evaluate_command(
    directory: Annotated[
        Path, typer.Argument(help="Benchmark in BEIR layout: corpus, queries.jsonl, qrels/.")
    ],
    strategies: Annotated[
        str | None,
        typer.Option(
            "--strategies",
            help="Comma-separated strategies (default: setting evaluate.strategies, else all).",
            show_default=False,
        ),
    ] = None,
    split: Annotated[str, typer.Option("--split", help="Qrels split to evaluate.")] = "test",
    work: Annotated[
        Path | None,
        typer.Option(
            "--work",
            help=f"Folder for the benchmark's catalog and indexes (default: ${CACHE_ENV}/eval, "
            "else ~/.cache/ltrr/eval); reused while corpus and config are unchanged.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Also write the JSON report to this file.")
    ] = None,
    runs: Annotated[
        Path | None,
        typer.Option(
            "--runs",
            help="Also write each strategy's and the fusion's ranking as a TREC run file "
            "(<name>.run) in this folder, for trec_eval, ir-measures or ranx.",
            callback=_runs_dir,
            show_default=False,
        ),
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """nDCG@10, Recall@100 and MRR@10 of each strategy and of their RRF fusion.

    Never touches the --data catalog: the corpus is ingested into its own folder under --work.
    """
    names = [s.strip() for s in strategies.split(",") if s.strip()] if strategies else None
    with _stages() as tick:
        report = evaluate(directory, names, split, work, config_for(config), tick, runs)
    report["command"] = shlex.join(["ltrr", *sys.argv[1:]])
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    if as_json:
        print_json(report)
        return
    stdout.print(_strategies_table(report))
    if "by_class" in report:
        for table in _class_tables(report):
            stdout.print(table)
    for path in report.get("runs", {}).values():
        stdout.print(f"wrote {path}")
    if out is not None:
        stdout.print(f"wrote {out}")


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate_command)

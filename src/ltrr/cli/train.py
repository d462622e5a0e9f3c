"""``ltrr train`` and ``ltrr model``: the learned ranker's training and its versions."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import typer
from rich.table import Table

from ltrr._ray import require_ray
from ltrr.cli.common import (
    ConfigOption,
    DataOption,
    JsonOption,
    config_for,
    print_json,
    resolve_data,
    stdout,
)
from ltrr.config import Config
from ltrr.engine import Engine
from ltrr.errors import ConfigError
from ltrr.rank.registry import ModelRegistry
from ltrr.rank.training import DEBIAS

#: Workers of ``ltrr train --ray`` without ``--workers``: one per core of a 2-core machine.
RAY_WORKERS = 2
model_app = typer.Typer(help="The learned ranker's model versions.", no_args_is_help=True)


def train(
    data: DataOption = None,
    config: ConfigOption = None,
    debias: Annotated[
        str | None,
        typer.Option(
            "--debias",
            help=f"Position-bias correction: {', '.join(DEBIAS)} "
            "(default: setting rank.lambdamart.debias).",
            show_default=False,
        ),
    ] = None,
    use_ray: Annotated[
        bool,
        typer.Option(
            "--ray",
            help="Train with LightGBM's data-parallel learner on Ray workers, each holding a "
            "shard of whole training groups (default: in this process, or as "
            "rank.lambdamart.workers says).",
        ),
    ] = False,
    address: Annotated[
        str | None,
        typer.Option(
            "--address",
            help="Ray cluster to train on (implies --ray): auto or host:port of a running "
            "cluster, from one of its nodes (default: a local Ray, one worker per core).",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help=f"Ray workers training together with --ray (default {RAY_WORKERS}); "
            "1 trains in this process.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Train the LambdaMART ranker on the event log's logged features and actions.

    The newest share of the acted-on searches (rank.lambdamart.holdout) is held out; the new
    model serves only if its inverse-propensity-weighted DCG@10 there is not below what serves.
    """
    path = resolve_data(data)
    settings = _with_workers(config_for(config, path), use_ray, address, workers)
    with Engine.open(path, settings, writer=True) as engine:
        report = engine.train(debias=debias)
    workers = settings.section("rank.lambdamart")["workers"]
    if as_json:
        print_json({**asdict(report), "workers": workers})
        return
    if report.version is None:
        stdout.print(f"no model trained: {report.reason}", markup=False)
        return
    validation = report.validation
    verdict = "serves now" if report.accepted else f"refused ({report.reason})"
    stdout.print(
        f"{report.version}: {report.n_groups:,} acted-on searches, IPS-DCG@10 "
        f"{validation['ips_dcg@10']['candidate']:.4f} vs {validation['ips_dcg@10']['current']:.4f} "
        f"served (difference {validation['difference']:+.4f}, 95% interval "
        f"{validation['interval_95'][0]:+.4f} to {validation['interval_95'][1]:+.4f}); {verdict}",
        markup=False,
    )


def _with_workers(
    settings: Config, use_ray: bool, address: str | None, workers: int | None
) -> Config:
    """``settings`` with ``[rank.lambdamart] workers`` and ``ray_address`` as the options say."""
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    if not (use_ray or address is not None or workers is not None):
        return settings
    n_workers = workers if workers is not None else RAY_WORKERS
    if n_workers > 1:
        require_ray("ltrr train --ray")  # before reading the log, not after
    return settings.replaced("rank.lambdamart", workers=n_workers, ray_address=address or "")


@model_app.command("list")
def model_list(data: DataOption = None, as_json: JsonOption = False) -> None:
    """Every stored model version with its validation; the served one marked."""
    registry = ModelRegistry.of(resolve_data(data))
    current = registry.current()
    rows: list[dict[str, Any]] = [
        {"version": i.version, "serving": i.version == current, "accepted": i.accepted,
         **{k: i.manifest.get(k) for k in ("n_groups", "debias", "validation", "fingerprint")}}
        for i in registry.versions()
    ]  # fmt: skip
    if as_json:
        print_json({"current": current, "versions": rows})
        return
    table = Table()
    for column in ("version", "serving", "accepted", "groups", "debias", "IPS-DCG@10 vs served"):
        table.add_column(column)
    for row in rows:
        v = row["validation"] or {}
        dcg = v.get("ips_dcg@10", {})
        table.add_row(
            row["version"], "*" if row["serving"] else "", str(row["accepted"]),
            str(row["n_groups"]), str(row["debias"]),
            f"{dcg.get('candidate', 0):.4f} vs {dcg.get('current', 0):.4f}" if dcg else "",
        )  # fmt: skip
    stdout.print(table if rows else "no model trained yet: run `ltrr train`")


@model_app.command("rollback")
def model_rollback(data: DataOption = None, as_json: JsonOption = False) -> None:
    """Serve the previously served version again (or the fallback ranker if there is none)."""
    restored = ModelRegistry.of(resolve_data(data)).rollback()
    if as_json:
        print_json({"current": restored})
    else:
        stdout.print(f"serving {restored or 'the fallback ranker (no model)'}")


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.add_typer(model_app, name="model")

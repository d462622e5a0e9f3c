"""``ltrr ope``: off-policy estimates (IPS, SNIPS, DR) on the Open Bandit sample or ltrr's log."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.table import Table

from ltrr._ray import ray_session, require_ray
from ltrr.cli.common import (
    ConfigOption,
    DataOption,
    JsonOption,
    config_for,
    print_json,
    resolve_data,
    stdout,
)
from ltrr.config import Config, load_config
from ltrr.log.open import data_dir_log
from ltrr.ope.estimators import BootstrapRunner, OpeError, ope_params, run_replicates
from ltrr.ope.on_ray import RayBootstrap
from ltrr.ope.open_bandit import CAMPAIGNS, ActionDistSource, bts_from_random
from ltrr.ope.plans import (
    logged_searches_from,
    parse_target,
    plan_ope,
    query_groups,
    sought_entities,
)
from ltrr.storage.datadir import DataDir


def _command() -> str:
    return shlex.join(["ltrr", *sys.argv[1:]])


def _row(e: Mapping[str, Any]) -> list[str]:
    return [f"{e['value']:.5f}", f"[{e['low']:.5f}, {e['high']:.5f}]", f"{e['ess']:,.0f}"]


def obd(
    directory: Annotated[
        Path, typer.Argument(help="The Open Bandit sample: random/ and bts/ campaign folders.")
    ],
    campaign: Annotated[
        str, typer.Option("--campaign", help=f"One of {', '.join(CAMPAIGNS)}.")
    ] = "all",
    action_dist: Annotated[
        str,
        typer.Option(
            "--action-dist",
            help="bts's pi(item | slot) from its logged (item, slot) 'frequency' or mean "
            "logged 'pscore'.",
        ),
    ] = "frequency",
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Estimate bts's click rate from the random log; compare with bts's logged click rate."""
    if action_dist not in ("frequency", "pscore"):
        raise OpeError(f"--action-dist must be frequency or pscore, got {action_dist!r}")
    source: ActionDistSource = "frequency" if action_dist == "frequency" else "pscore"
    report = bts_from_random(directory, campaign, ope_params(config_for(config)), source)
    report["command"] = _command()
    if as_json:
        print_json(report)
        return
    bts, random = report["on_policy"]["bts"], report["on_policy"]["random"]
    table = Table(
        title=f"bts click rate from the random log, campaign {campaign} "
        f"(bts logged: {bts['value']:.5f} [{bts['low']:.5f}, {bts['high']:.5f}])",
        caption=f"action_dist: bts's logged (item, slot) {source}; random logged "
        f"{random['value']:.5f} ({random['n_clicks']} clicks), bts {bts['n_clicks']} clicks",
    )
    for column in ("estimator", "estimate", "95% interval", "ESS", "relative error"):
        table.add_column(column, justify="left" if column == "estimator" else "right")
    for name, e in report["estimators"].items():
        table.add_row(name, *_row(e), f"{e['relative_error']:.3f}")
    stdout.print(table)


def event_log_records(data_dir: Path, config: Config | None = None) -> Iterator[dict[str, Any]]:
    """Logged searches of a data directory's event log (where its ``[log] url`` says), shaped
    for ``logged_searches_from``.

    The wanted item of a search is the reward mapping's (``[log.rewards]``), ``None`` when no
    action is positive; ``positives`` are the entities whose actions sum to a positive reward,
    in action order, and ``shown`` the page as displayed (for the click model that judges
    relevance, ``ope.clicks``).
    """
    settings = config or load_config(data_dir=data_dir)
    with DataDir(data_dir, settings, writer=False) as dd:
        log = data_dir_log(dd)
        try:
            for impression in log.impressions():
                actions = log.actions_for(impression.request_id)
                rewards = log.rewards.entity_rewards(actions)
                yield {
                    "request_id": impression.request_id,
                    "query": impression.query,
                    "plan": impression.plan.to_dict(),
                    "strategy_results": {
                        s: [[e, score] for e, score in pairs]
                        for s, pairs in impression.strategy_results.items()
                    },
                    "wanted": log.rewards.wanted_item(actions),
                    "shown": list(impression.shown),
                    "positives": [e for e, r in rewards.items() if r > 0],
                }
        finally:
            log.close()


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as handle:
        for n, line in enumerate(handle, start=1):
            if line.strip():
                try:
                    yield orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    raise OpeError(f"{path}:{n}: not JSON ({exc})") from None


def log(
    targets: Annotated[
        list[str],
        typer.Option(
            "--target",
            help="A fixed plan: lexical@50, lexical@25+dense@25, hybrid@100, union; repeat.",
        ),
    ],
    data: DataOption = None,
    records: Annotated[
        Path | None,
        typer.Option(
            "--records",
            help="Read logged searches from this JSON-lines file instead of the event log.",
            show_default=False,
        ),
    ] = None,
    use_ray: Annotated[
        bool,
        typer.Option(
            "--ray",
            help="Run each target's bootstrap replicates as Ray tasks; default: in this "
            "process, with the same numbers.",
        ),
    ] = False,
    address: Annotated[
        str | None,
        typer.Option(
            "--address",
            help="Ray cluster to run on (implies --ray): auto or host:port of a running "
            "cluster, from one of its nodes; ray://host:port needs ray[client] (default: a "
            "local Ray, one worker per core). The log is read here, in the driver.",
            show_default=False,
        ),
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Found-rate of target plans estimated from the searches logged in a data directory."""
    path = resolve_data(data)
    settings = config_for(config, path)
    depths = {spec: parse_target(spec, settings) for spec in targets}
    params = ope_params(settings)
    if use_ray or address is not None:
        require_ray("ltrr ope log --ray")  # before reading the log, not after
    source: Iterable[dict[str, Any]] = (
        _jsonl(records) if records is not None else event_log_records(path, settings)
    )
    searches = logged_searches_from(source)
    with ExitStack() as stack:
        runner: BootstrapRunner = run_replicates
        where: dict[str, Any] = {"kind": "local", "n_workers": 1}
        if use_ray or address is not None:
            ray, at = stack.enter_context(ray_session(address, "ltrr ope log --ray"))
            runner = RayBootstrap(ray, at["n_workers"])
            where = {"kind": "ray", **at}
        estimates = {
            spec: {
                name: e.to_dict() for name, e in plan_ope(searches, target, params, runner).items()
            }
            for spec, target in depths.items()
        }
        if isinstance(runner, RayBootstrap):
            where["n_tasks"] = runner.n_tasks
    n_with_wanted = sum(s.wanted is not None for s in searches)
    groups, n_groups = query_groups(searches)
    sought, fit = sought_entities(searches, groups, n_groups, params)
    n_with_outcome = sum(bool(x) for x in sought)
    if as_json:
        print_json(
            {
                "command": _command(),
                "n_searches": len(searches),
                "n_with_wanted": n_with_wanted,
                "n_with_outcome": n_with_outcome,
                "click_model": asdict(fit) if fit is not None else None,
                "targets": estimates,
                "params": asdict(params),
                "runner": where,
            }
        )
        return
    title = (
        f"found-rate off-policy ({params.outcome} outcome): {n_with_outcome:,} of "
        f"{len(searches):,} logged searches have an outcome"
    )
    if fit is not None:
        title += (
            f" (intervals allow the rest any found-rate); clicks on relevant / other results "
            f"{fit.click_relevant:.2f} / {fit.click_other:.2f}"
        )
    table = Table(title=title)
    for column in ("target", "estimator", "estimate", "95% interval", "ESS"):
        table.add_column(column, justify="left" if column in ("target", "estimator") else "right")
    for spec, by in estimates.items():
        for name, e in by.items():
            table.add_row(spec, name, *_row(e))
    stdout.print(table)


def register(app: typer.Typer) -> None:
    ope_app = typer.Typer(
        help="Off-policy estimates with bootstrap intervals and effective sample sizes.",
        no_args_is_help=True,
    )
    ope_app.command("obd")(obd)
    ope_app.command("log")(log)
    app.add_typer(ope_app, name="ope")

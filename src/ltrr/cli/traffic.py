"""``ltrr traffic``: simulated users search and click through a running service's HTTP API."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
import orjson
import typer
from rich.markup import escape
from rich.table import Table

from ltrr import __version__
from ltrr.catalog.jsonl import beir_corpus_path
from ltrr.cli.benchmark import read_catalog
from ltrr.cli.common import (
    ConfigOption,
    DataOption,
    JsonOption,
    config_for,
    print_json,
    progress,
    resolve_data,
    stderr,
    stdout,
)
from ltrr.config import Config
from ltrr.errors import CatalogError, ConfigError
from ltrr.evaluate.music import build_benchmark, write_benchmark
from ltrr.evaluate.music_queries import benchmark_params
from ltrr.evaluate.workspace import default_work_dir
from ltrr.simulate.clicks import CLICK_MODELS, click_model
from ltrr.simulate.http_traffic import Tally, http_poster, read_audience, send_traffic
from ltrr.simulate.params import SimulateParams, simulate_params
from ltrr.simulate.traffic import taste_pool
from ltrr.types import Entity

#: The benchmark built from --data, like ``ltrr benchmark build``'s default.
BENCHMARK_SEED = 0


def _click_model(value: str) -> str:
    try:
        click_model(value)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from None
    return value


def _eta(value: float | None) -> float | None:
    if value is not None:
        try:
            SimulateParams(eta=value)
        except ConfigError as exc:
            raise typer.BadParameter(str(exc)) from None
    return value


def _url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise typer.BadParameter(f"{value!r} is not an http:// or https:// URL")
    return value.rstrip("/")


def cache_dir() -> Path:
    """``$LTRR_CACHE/traffic``, else ``~/.cache/ltrr/traffic`` (beside the eval workspace)."""
    return default_work_dir().with_name("traffic")


def benchmark_from_data(data: Path, config: Config) -> tuple[Path, list[Entity]]:
    """The benchmark ``ltrr benchmark build --catalog DATA`` would write, cached under
    ``cache_dir()/<fingerprint>`` (catalog records, ``[benchmark]`` settings, ltrr version),
    and the catalog's entities. ``data`` is only read."""
    entities, n_skipped, kind = read_catalog(data, config)
    if not entities:
        raise CatalogError("holds no entity to build a benchmark from", path=str(data))
    params, misspelling = benchmark_params(config)
    digest = hashlib.sha256()
    for entity in sorted(entities, key=lambda e: e.id):
        digest.update(orjson.dumps(entity.to_record(), option=orjson.OPT_SORT_KEYS))
    settings = {
        "ltrr": __version__, "seed": BENCHMARK_SEED, "params": dataclasses.asdict(params),
        "misspelling": dataclasses.asdict(misspelling),
    }  # fmt: skip
    digest.update(orjson.dumps(settings, option=orjson.OPT_SORT_KEYS))
    out = cache_dir() / digest.hexdigest()[:24]
    if not (out / "benchmark.json").is_file():
        benchmark = build_benchmark(entities, params, seed=BENCHMARK_SEED, misspelling=misspelling)
        source = {"path": str(data), "kind": kind, "n_skipped_records": n_skipped}
        write_benchmark(benchmark, out, params=params, misspelling=misspelling, source=source)
    return out, entities


def _plan_table(summary: dict[str, Any]) -> Table:
    first, last = summary["first_quarter"]["plan_mix"], summary["last_quarter"]["plan_mix"]
    table = Table(title="plans per query class: first quarter -> last quarter of the run")
    table.add_column("class")
    for column in ("found first", "found last"):
        table.add_column(column, justify="right")
    table.add_column("top plan first")
    table.add_column("top plan last")

    def top(mix: dict[str, Any] | None) -> str:
        if not mix or not mix["plans"]:
            return "-"
        name, share = next(iter(mix["plans"].items()))
        return f"{name} ({share:.0%})"

    def found(mix: dict[str, Any] | None) -> str:
        return "-" if not mix or mix["found_rate"] is None else f"{mix['found_rate']:.2f}"

    for name in sorted(set(first) | set(last)):
        a, b = first.get(name), last.get(name)
        table.add_row(name, found(a), found(b), top(a), top(b))
    return table


def traffic_command(
    url: Annotated[
        str, typer.Option("--url", callback=_url, help="The service, e.g. http://127.0.0.1:8000.")
    ],
    searches: Annotated[int, typer.Option("--searches", min=1, help="Searches to send.")],
    model: Annotated[
        str,
        typer.Option(
            "--click-model", callback=_click_model, help=f"One of {', '.join(CLICK_MODELS)}."
        ),
    ],
    eta: Annotated[
        float | None,
        typer.Option(
            "--eta",
            callback=_eta,
            help="Position-based models (pbm-*): rank r is examined with P = (1/r)^eta; > 0, "
            f"default {escape('[simulate]')} eta = 1. Cascades ignore it.",
            show_default=False,
        ),
    ] = None,
    benchmark: Annotated[
        Path | None,
        typer.Option(
            "--benchmark",
            help="Benchmark in BEIR layout built from the served catalog (ltrr benchmark "
            "build); default: built from --data into ~/.cache/ltrr/traffic.",
            show_default=False,
        ),
    ] = None,
    data: DataOption = None,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Same seed, same searches.")] = 0,
    rate: Annotated[
        float | None,
        typer.Option(
            "--rate", min=0.001, help="At most this many searches per second.", show_default=False
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key", envvar="LTRR_API_KEY", help="Sent as X-API-Key.", show_default=False
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="Seconds to wait for an answer.")
    ] = 30.0,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Send simulated users (the ltrr simulate traffic and click models) to a running service:
    each search goes to POST /v1/search, its clicks and found-elsewhere actions to
    POST /v1/feedback/batch, so the dashboard shows the plans change as the service learns."""
    settings = config_for(config, data)
    params = simulate_params(settings)
    if eta is not None:
        params = dataclasses.replace(params, eta=eta)
    if benchmark is None:
        with progress("building the benchmark of the served catalog"):
            benchmark, entities = benchmark_from_data(resolve_data(data), settings)
        audience = read_audience(benchmark, model, params.eta)
    else:
        audience = read_audience(benchmark, model, params.eta)  # fails first if it is no benchmark
        with progress("reading the benchmark's corpus"):
            entities = read_catalog(beir_corpus_path(benchmark), settings)[0]
    taste = taste_pool(entities, params.taste_values)
    with (
        httpx.Client(base_url=url, timeout=timeout) as client,
        progress(f"searching {url}", total=searches) as bar,
    ):

        def tick(i: int, tally: Tally) -> None:
            found = sum(s.found for s in tally.sent) / max(len(tally.sent), 1)
            bar.update(bar.task_ids[0], completed=i + 1, description=f"found {found:.2f}")

        tally = send_traffic(
            http_poster(client, api_key), audience, searches, params, seed=seed, taste=taste,
            rate=rate, on_search=tick,
        )  # fmt: skip
    summary = {
        "url": url, "benchmark": str(benchmark), "click_model": model,
        "eta": audience.click.eta, "seed": seed,
    }  # fmt: skip
    summary |= tally.summary()
    if as_json:
        print_json(summary)
    else:
        _print(summary)
    if tally.stopped_early is not None:
        stderr.print(f"[bold red]error:[/] {escape(tally.stopped_early)}", highlight=False)
        raise typer.Exit(1)


def _print(summary: dict[str, Any]) -> None:
    if summary["n_searches_answered"]:
        stdout.print(_plan_table(summary))
    found = summary["found_rate"]
    stdout.print(
        f"{summary['n_searches_answered']:,} of {summary['n_searches_sent']:,} searches "
        f"answered, {summary['n_clicks']:,} clicks, {summary['n_found_elsewhere']:,} found "
        f"elsewhere; found-rate {'-' if found is None else f'{found:.3f}'}"
    )
    if summary["http_errors"]:
        stdout.print(f"HTTP errors: {orjson.dumps(summary['http_errors']).decode()}")


def register(app: typer.Typer) -> None:
    app.command("traffic")(traffic_command)

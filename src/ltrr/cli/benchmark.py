"""``ltrr benchmark build``: a music search benchmark in BEIR layout from any catalog."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ltrr.catalog.formats import FORMATS, detect_format, load
from ltrr.catalog.sources import Parsed, csv_rows
from ltrr.catalog.spotify import REQUIRED_COLUMNS, load_spotify
from ltrr.cli.common import ConfigOption, JsonOption, config_for, print_json, progress, stdout
from ltrr.config import Config
from ltrr.errors import CatalogError
from ltrr.evaluate.music import MusicBenchmark, build_benchmark, write_benchmark
from ltrr.evaluate.music_queries import benchmark_params
from ltrr.storage.datadir import DataDir
from ltrr.storage.sqlite import DB_NAME
from ltrr.types import Entity

benchmark_app = typer.Typer(help="Build search benchmarks.", no_args_is_help=True)


def is_spotify_csv(path: Path) -> bool:
    """Whether ``path`` is a CSV whose header has every column of the Spotify songs file."""
    if not path.is_file() or not path.name.removesuffix(".gz").endswith(".csv"):
        return False
    first = next(csv_rows(path), None)
    if first is None or not isinstance(first[1], list):
        return False
    return set(REQUIRED_COLUMNS) <= {cell.strip() for cell in first[1]}


def read_catalog(
    path: Path, config: Config, *, spotify: bool | None = None, format: str | None = None
) -> tuple[list[Entity], int, str]:
    """The entities of a data directory, a Spotify songs CSV or a JSONL / BEIR / CSV file.

    Returns the entities, the number of malformed records skipped, and what was read.
    """
    if path.is_dir() and (path / DB_NAME).is_file():
        with DataDir(path, config, writer=False) as dd:
            return list(dd.catalog.iter_entities()), 0, "data directory"
    if spotify or (spotify is None and format is None and is_spotify_csv(path)):
        return (*_entities(load_spotify(path, config.catalog)), "spotify")
    if format is not None and format not in FORMATS:
        raise CatalogError(f"unknown format {format!r}; allowed: {', '.join(FORMATS)}")
    format = format or detect_format(path)
    return (*_entities(load(path, config.catalog, format)), format)


def _entities(records: Iterable[Parsed]) -> tuple[list[Entity], int]:
    entities, n_skipped = [], 0
    for parsed in records:
        if isinstance(parsed.result, Entity):
            entities.append(parsed.result)
        else:
            n_skipped += 1
    return entities, n_skipped


def build(
    catalog: Annotated[
        Path,
        typer.Option(
            "--catalog",
            help="Data directory, Spotify songs CSV, or JSONL / BEIR / CSV catalog file.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Benchmark directory to write (BEIR).")],
    seed: Annotated[int, typer.Option("--seed", min=0, help="Same seed, same benchmark.")] = 0,
    per_class: Annotated[
        int | None,
        typer.Option("--per-class", min=1, help="Queries per class (default: config, 200)."),
    ] = None,
    spotify: Annotated[
        bool | None,
        typer.Option(
            "--spotify/--no-spotify",
            help="Read --catalog as a Spotify songs CSV (default: when its header says so).",
            show_default=False,
        ),
    ] = None,
    format: Annotated[
        str | None,
        typer.Option("--format", help=f"One of {', '.join(FORMATS)}; default: by name."),
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Write a benchmark of exact, misspelled, partial, title+artist, artist, type-qualified,
    topic and broad queries (EVALUATION.md section 2), each with every matching entity as
    target."""
    settings = config_for(config)
    params, misspelling = benchmark_params(settings)
    if per_class is not None:
        params = replace(params, per_class=per_class)
    with progress(f"reading {catalog}"):
        entities, n_skipped, kind = read_catalog(catalog, settings, spotify=spotify, format=format)
    if not entities:
        raise CatalogError("holds no valid entity to build a benchmark from", path=str(catalog))
    with progress(f"drawing queries from {len(entities):,} entities"):
        benchmark = build_benchmark(entities, params, seed=seed, misspelling=misspelling)
        source = {"path": str(catalog), "kind": kind, "n_skipped_records": n_skipped}
        manifest = write_benchmark(
            benchmark, out, params=params, misspelling=misspelling, source=source
        )
    if as_json:
        print_json({"out": str(out), **manifest})
    else:
        _print_summary(benchmark, out, n_skipped)


def _print_summary(benchmark: MusicBenchmark, out: Path, n_skipped: int) -> None:
    table = Table(title="queries per class")
    table.add_column("class", no_wrap=True)
    for column in ("queries", "targets median", "targets max", "candidates", "rank % q1/q2/q3"):
        table.add_column(column, justify="right")
    targets, quartiles = benchmark.targets_per_query(), benchmark.rank_quartiles()
    for name, n in benchmark.counts.items():
        t = targets.get(name, {})
        table.add_row(
            name,
            f"{n:,}",
            f"{t.get('median', 0):g}",
            f"{int(t.get('max', 0)):,}",
            f"{benchmark.n_candidates.get(name, 0):,}",
            "/".join(f"{q:.0f}" for q in quartiles.get(name, [])),
        )
    table.caption = (
        "rank %: popularity rank percentile of the queries' sources among the candidates "
        "(0 = most popular)"
    )
    stdout.print(table)
    edits = Table(title="misspelled: Damerau-Levenshtein distance to the right name")
    edits.add_column("distance", justify="right")
    edits.add_column("queries", justify="right")
    for distance, count in benchmark.edit_distance_histogram.items():
        edits.add_row(str(distance), f"{count:,}")
    stdout.print(edits)
    n_qrels = sum(len(q.targets) for q in benchmark.queries)
    skipped = f"; skipped {n_skipped:,} malformed records" if n_skipped else ""
    stdout.print(
        f"wrote {len(benchmark.queries):,} queries and {n_qrels:,} judgements over "
        f"{len(benchmark.entities):,} entities to {out} (seed {benchmark.seed}{skipped})"
    )


def register(app: typer.Typer) -> None:
    benchmark_app.command("build")(build)
    app.add_typer(benchmark_app, name="benchmark")

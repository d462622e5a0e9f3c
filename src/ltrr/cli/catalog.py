"""Catalog commands: generate the demo catalog, ingest files, import Spotify, stats, delete,
migrate."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ltrr.catalog.demo import generate_demo_catalog
from ltrr.catalog.formats import FORMATS, load
from ltrr.catalog.ingest import IngestReport, ingest
from ltrr.catalog.sources import Parsed
from ltrr.catalog.spotify import load_spotify
from ltrr.catalog.tabular import parse_mapping
from ltrr.catalog.writer import write_jsonl
from ltrr.cli.common import (
    ConfigOption,
    DataOption,
    JsonOption,
    advance_to,
    open_data,
    print_json,
    progress,
    resolve_data,
    stdout,
)
from ltrr.cli.search import index_progress
from ltrr.config import section_params
from ltrr.errors import CatalogError, StorageError
from ltrr.retrieve.indexes import IndexSet
from ltrr.select import SelectParams
from ltrr.storage.datadir import DataDir
from ltrr.storage.sqlite import DB_NAME
from ltrr.types import Entity, EntityId

catalog_app = typer.Typer(help="Inspect and edit the stored catalog.", no_args_is_help=True)
import_app = typer.Typer(help="Import public catalogs.", no_args_is_help=True)

StrictOption = Annotated[
    bool,
    typer.Option(
        "--strict/--lenient",
        help="Strict: stop at the first bad record, change nothing. "
        "Lenient: skip bad records, count and list them.",
    ),
]
ReplaceOption = Annotated[
    bool,
    typer.Option("--replace", help="Replace the whole catalog atomically instead of upserting."),
]


def _run_ingest(
    dd: DataDir, records: Iterable[Parsed], *, strict: bool, replace: bool, source: str
) -> IngestReport:
    with progress(f"ingesting {source}") as bar:
        return ingest(
            dd.catalog,
            records,
            strict=strict,
            replace=replace,
            batch_size=dd.config.ingest.batch_size,
            on_progress=lambda n: advance_to(bar, n),
            source=source,
        )


def _report(report: IngestReport, dd: DataDir, as_json: bool) -> None:
    stats = _stats(dd)
    if as_json:
        print_json({**report.to_dict(), "n_entities_by_type": stats["n_entities_by_type"]})
        return
    verb = "replaced the catalog with" if report.replaced else "upserted"
    stdout.print(
        f"{verb} {report.n_upserted:,} entities from {report.n_records:,} records "
        f"in {report.elapsed_s:.1f} s; catalog version {report.version_after}"
    )
    if report.n_deleted:
        stdout.print(f"removed {report.n_deleted:,} entities")
    if report.errors:
        shown = dd.config.ingest.max_errors_shown
        stdout.print(f"[yellow]skipped {report.n_errors:,} bad records:[/]")
        for error in report.errors[:shown]:
            stdout.print(f"  {error.message}", highlight=False, markup=False)
        if report.n_errors > shown:
            stdout.print(f"  ... and {report.n_errors - shown:,} more (--json lists all)")


def ingest_command(
    file: Annotated[Path, typer.Argument(help="JSONL, CSV or BEIR corpus file or directory.")],
    format: Annotated[
        str | None, typer.Option("--format", help=f"One of {', '.join(FORMATS)}; default: by name.")
    ] = None,
    strict: StrictOption = True,
    replace: ReplaceOption = False,
    column: Annotated[
        list[str] | None,
        typer.Option("--column", help="CSV mapping FIELD=COLUMN, e.g. attributes.genre=genre."),
    ] = None,
    data: DataOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Upsert the entities of FILE into the catalog (one transaction)."""
    if format is not None and format not in FORMATS:
        raise CatalogError(f"unknown format {format!r}; allowed: {', '.join(FORMATS)}")
    mapping = parse_mapping(column) if column else None
    with open_data(data, config, writer=True) as dd:
        records = load(file, dd.config.catalog, format, mapping)
        report = _run_ingest(dd, records, strict=strict, replace=replace, source=str(file))
        _report(report, dd, as_json)


def import_spotify(
    csv: Annotated[Path, typer.Argument(help="spotify_songs.csv(.gz) (TidyTuesday 2020-01-21).")],
    strict: StrictOption = False,
    replace: ReplaceOption = False,
    data: DataOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Import tracks, artists, albums and playlists from the public Spotify songs CSV.

    Lenient by default: the public file has rows whose names are the literal NA; each is
    reported, none is silently dropped.
    """
    with open_data(data, config, writer=True) as dd:
        records = load_spotify(csv, dd.config.catalog)
        report = _run_ingest(dd, records, strict=strict, replace=replace, source=str(csv))
        _report(report, dd, as_json)


def demo_catalog(
    out: Annotated[Path, typer.Option("--out", help="JSONL file to write (.gz to compress).")],
    size: Annotated[int, typer.Option("--size", min=1, help="Number of entities.")] = 10_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed; same seed, same catalog.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Write a realistic, deterministic demo music catalog."""
    with progress(f"generating {size:,} entities", total=size) as bar:

        def counted() -> Iterator[Entity]:
            for i, entity in enumerate(generate_demo_catalog(size, seed), start=1):
                if i % 10_000 == 0:
                    advance_to(bar, i)
                yield entity

        n_written = write_jsonl(counted(), out)
    if as_json:
        print_json({"n_entities": n_written, "out": str(out), "seed": seed})
    else:
        stdout.print(f"wrote {n_written:,} entities to {out}")


def _stats(dd: DataDir) -> dict[str, object]:
    store = dd.catalog
    by_type = store.count_by_type()
    db_file = dd.path / "ltrr.sqlite"
    return {
        "data_dir": str(dd.path),
        "n_entities": sum(by_type.values()),
        "n_entities_by_type": by_type,
        "n_entities_by_attribute": store.count_by_attribute(),
        "catalog_version": store.version(),
        "schema_version": dd.schema_version(),
        "database_bytes": db_file.stat().st_size if db_file.exists() else 0,
    }


def stats(
    data: DataOption = None, config: ConfigOption = None, as_json: JsonOption = False
) -> None:
    """Entity counts by type and attribute, catalog and schema versions."""
    with open_data(data, config, writer=False) as dd:
        result = _stats(dd)
    if as_json:
        print_json(result)
        return
    _print_stats(result)


def _print_stats(result: dict[str, object]) -> None:
    stdout.print(
        f"{result['data_dir']}: {result['n_entities']:,} entities, "
        f"catalog version {result['catalog_version']}, schema version {result['schema_version']}"
    )
    for title, key in (("type", "n_entities_by_type"), ("attribute", "n_entities_by_attribute")):
        table = Table(title=f"entities by {title}")
        table.add_column(title)
        table.add_column("entities", justify="right")
        for name, n in result[key].items():  # type: ignore[attr-defined]
            table.add_row(name, f"{n:,}")
        stdout.print(table)


def delete(
    ids: Annotated[list[str], typer.Argument(help="Entity ids to remove.")],
    data: DataOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Remove entities by id (one transaction; unknown ids are reported, not an error)."""
    with open_data(data, config, writer=True) as dd, dd.catalog.change() as change:
        missing = change.delete(EntityId(i) for i in ids)
    if as_json:
        print_json({"n_deleted": len(ids) - len(missing), "missing": missing})
        return
    stdout.print(f"deleted {len(ids) - len(missing)} entities")
    if missing:
        stdout.print(f"not in the catalog: {', '.join(missing)}", markup=False)


def migrate(
    data: DataOption = None, config: ConfigOption = None, as_json: JsonOption = False
) -> None:
    """Upgrade the data directory's database to this ltrr's schema (any writing command does)."""
    if not (resolve_data(data) / DB_NAME).is_file():
        raise StorageError(f"no catalog at {resolve_data(data)}: nothing to migrate")
    with open_data(data, config, writer=True) as dd:
        payload = {"data_dir": str(dd.path), "schema_version": dd.schema_version()}
    if as_json:
        print_json(payload)
    else:
        stdout.print(
            f"{payload['data_dir']}: schema version {payload['schema_version']}", markup=False
        )


def demo(
    size: Annotated[int, typer.Option("--size", min=1, help="Number of entities.")] = 10_000,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    data: DataOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Generate the demo music catalog, ingest it (replacing the catalog), index it, show stats."""
    with open_data(data, config, writer=True) as dd:
        records = (Parsed(i, e) for i, e in enumerate(generate_demo_catalog(size, seed), 1))
        report = _run_ingest(dd, records, strict=True, replace=True, source="demo catalog")
        with index_progress() as tick:
            strategies = section_params(dd.config, "select", SelectParams).strategies
            indexes = IndexSet.open(dd, strategies, on_progress=tick)
        result = {
            **_stats(dd),
            "ingest": report.to_dict(),
            "index_s": {s.name: round(s.seconds, 2) for s in indexes.status},
        }
    if as_json:
        print_json(result)
        return
    stdout.print(
        f"ingested the demo catalog ({size:,} entities, seed {seed}) in {report.elapsed_s:.1f} s"
    )
    _print_stats(result)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
    app.command("demo-catalog")(demo_catalog)
    app.command("ingest")(ingest_command)
    import_app.command("spotify")(import_spotify)
    app.add_typer(import_app, name="import")
    catalog_app.command("stats")(stats)
    catalog_app.command("delete")(delete)
    catalog_app.command("migrate")(migrate)
    app.add_typer(catalog_app, name="catalog")

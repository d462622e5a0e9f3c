"""``ltrr index`` and ``ltrr search``: build the indexes of a data directory, then query it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from ltrr.cli.common import (
    ConfigOption,
    DataOption,
    JsonOption,
    config_for,
    print_json,
    progress,
    resolve_data,
    stdout,
)
from ltrr.engine import Engine, SearchResponse
from ltrr.retrieve.indexes import Progress

StrategiesOption = Annotated[
    str | None,
    typer.Option("--strategies", help="Comma-separated strategies (default: [search] strategies)."),
]


def _names(strategies: str | None) -> list[str] | None:
    return [s.strip() for s in strategies.split(",") if s.strip()] if strategies else None


@contextmanager
def index_progress() -> Iterator[Progress]:
    """A spinner on stderr naming the index being built and how many entities it has read."""
    with progress("indexing") as bar:

        def report(name: str, n: int) -> None:
            bar.update(bar.task_ids[0], description=f"indexing {name}", completed=n)

        yield report


def index(
    strategies: StrategiesOption = None,
    data: DataOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Build, or catch up with the catalog, the indexes of the data directory, and save them."""
    path = resolve_data(data)
    with (
        index_progress() as report,
        Engine.open(
            path,
            config_for(config, path),
            strategies=_names(strategies),
            writer=True,
            on_progress=report,
        ) as engine,
    ):
        status = engine.indexes.status
        version = engine.indexes.catalog_version
    rows = [
        {"index": s.name, "how": s.how, "seconds": round(s.seconds, 2), "n_changes": s.n_changes}
        for s in status
    ]
    if as_json:
        print_json({"catalog_version": version, "indexes": rows})
        return
    table = Table(title=f"indexes at catalog version {version}")
    for column in ("index", "how", "seconds", "changes"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(v) for v in row.values()))
    stdout.print(table)


def search(
    query: Annotated[str, typer.Argument(help="What to search for.")],
    k: Annotated[int, typer.Option("--k", min=1, help="Results to show.")] = 10,
    offset: Annotated[int, typer.Option("--offset", min=0)] = 0,
    strategies: StrategiesOption = None,
    data: DataOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Search the catalog; each result shows which strategies found it, at which rank and score."""
    path = resolve_data(data)
    with Engine.open(path, config_for(config, path), strategies=_names(strategies)) as engine:
        response = engine.search(query, k=k, offset=offset)
    if as_json:
        print_json(_to_json(response))
    else:
        _print(response)


def _to_json(response: SearchResponse) -> dict[str, object]:
    q = response.query
    return {
        "query": q.raw,
        "corrected": q.corrected,
        "intent": q.intent,
        "spans": [
            {
                "start": s.start,
                "end": s.end,
                "kind": s.kind,
                "label": s.label,
                "value": s.value,
                "confidence": round(s.confidence, 3),
            }
            for s in q.spans
        ],
        "n_candidates": response.n_candidates,
        "latency_ms": round(response.latency_ms, 3),
        "strategy_latency_ms": {n: round(v, 3) for n, v in response.strategy_latency_ms.items()},
        "results": [
            {
                "id": r.entity.id,
                "type": r.entity.type,
                "title": r.entity.title,
                "score": r.score,
                "found_by": {
                    name: {"rank": rank, "score": score}
                    for name, (rank, score) in r.provenance.items()
                },
            }
            for r in response.results
        ],
    }


def _print(response: SearchResponse) -> None:
    q = response.query
    header = f"[bold]{escape(q.raw)}[/]"
    if q.corrected != q.text:
        header += f"  (corrected: {escape(q.corrected)})"
    tags = ", ".join(f"{s.label}={escape(s.value)}" for s in q.spans)
    stdout.print(f"{header}  intent: {q.intent}" + (f"  tags: {tags}" if tags else ""))
    table = Table(show_lines=False)
    for column in ("#", "type", "title", "found by (rank, score)"):
        table.add_column(column)
    for i, r in enumerate(response.results, start=1):
        found = ", ".join(
            f"{name} #{rank} ({score:.3g})" for name, (rank, score) in sorted(r.provenance.items())
        )
        artist = r.entity.fields.get("artist")
        title = r.entity.title + (f" — {artist}" if artist else "")
        table.add_row(str(i), r.entity.type, escape(title), found)
    stdout.print(table)
    stdout.print(
        f"{response.n_candidates} candidates, {response.latency_ms:.1f} ms "
        f"({', '.join(f'{n} {v:.2f}' for n, v in response.strategy_latency_ms.items())})"
    )


def register(app: typer.Typer) -> None:
    app.command("index")(index)
    app.command("search")(search)

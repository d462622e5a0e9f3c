"""What every command shares: options, output (a table, or one JSON object), errors, progress.

Errors that ltrr raises on purpose become one line on stderr and exit code 1; ``ltrr --debug``
shows the traceback instead. Progress bars go to stderr so ``--json`` output stays parseable.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from ltrr.config import Config, load_config
from ltrr.storage.datadir import DATA_ENV, DataDir, default_data_dir

# Tables are wide (a column per strategy); when piped, rich would wrap them at 80 columns.
stdout = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
stderr = Console(stderr=True, soft_wrap=True)


class State:
    """Options of the top-level ``ltrr`` command that sub-commands read."""

    debug: bool = bool(os.environ.get("LTRR_DEBUG"))


DataOption = Annotated[
    Path | None,
    typer.Option(
        "--data",
        help=f"Data directory (default: ${DATA_ENV}, else ./ltrr-data).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", help="TOML settings overriding the defaults.", show_default=False),
]


def resolve_data(data: Path | None) -> Path:
    return data if data is not None else default_data_dir()


def config_for(config_path: Path | None, data: Path | None = None) -> Config:
    return load_config(config_path, data_dir=data)


def open_data(data: Path | None, config_path: Path | None, *, writer: bool) -> DataDir:
    path = resolve_data(data)
    return DataDir(path, config_for(config_path, path), writer=writer)


def print_json(payload: object) -> None:
    sys.stdout.write(orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode() + "\n")
    sys.stdout.flush()


@contextmanager
def progress(description: str, total: int | None = None) -> Iterator[Progress]:
    """A rich progress bar on stderr; ``total=None`` shows a spinner with a running count."""
    columns = (
        [SpinnerColumn(), TextColumn("{task.description}"), TextColumn("{task.completed:,}")]
        if total is None
        else [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
    )
    with Progress(*columns, TimeElapsedColumn(), console=stderr, transient=True) as bar:
        bar.add_task(description, total=total)
        yield bar


def advance_to(bar: Progress, completed: int) -> None:
    bar.update(bar.task_ids[0], completed=completed)

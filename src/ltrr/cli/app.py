"""``ltrr``: the top-level command and the error boundary around every sub-command."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.markup import escape

from ltrr import __version__
from ltrr.cli import (
    benchmark,
    catalog,
    cluster,
    convert,
    evaluate,
    ope,
    search,
    serve,
    simulate,
    sweep,
    traffic,
    train,
)
from ltrr.cli.common import State, stderr
from ltrr.errors import LtrrError

app = typer.Typer(
    name="ltrr",
    help="ltrr: a learning-to-rank-and-retrieve engine.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ltrr {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks instead of one-line errors.")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print version.")
    ] = False,
) -> None:
    """Search, learn from feedback, evaluate."""
    State.debug = State.debug or debug


catalog.register(app)
cluster.register(app)
convert.register(app)
benchmark.register(app)
evaluate.register(app)
search.register(app)
ope.register(app)
simulate.register(app)
sweep.register(app)
traffic.register(app)
serve.register(app)
train.register(app)


def main() -> None:
    """Run the CLI; ltrr's own errors and I/O errors become one line on stderr and exit 1."""
    try:
        app()
    except (LtrrError, OSError) as exc:
        if State.debug:
            raise
        message = str(exc) if isinstance(exc, LtrrError) else f"{exc.strerror}: {exc.filename}"
        stderr.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
        sys.exit(1)
    except KeyboardInterrupt:
        stderr.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()

"""``ltrr convert``: turn other test-collection layouts into the BEIR layout."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ltrr.catalog.smart import convert_smart
from ltrr.cli.common import JsonOption, print_json, stdout

convert_app = typer.Typer(help="Convert test collections to the BEIR layout.", no_args_is_help=True)


def smart(
    src: Annotated[Path, typer.Argument(help="Directory of a SMART collection (e.g. Cranfield).")],
    out: Annotated[Path, typer.Argument(help="BEIR-layout directory to write.")],
    as_json: JsonOption = False,
) -> None:
    """Convert a SMART-format collection (documents, queries, qrels) to BEIR."""
    report = convert_smart(src, out)
    payload = {
        "out": str(out),
        "n_docs": report.n_docs,
        "n_queries": report.n_queries,
        "n_qrels": report.n_qrels,
    }
    if as_json:
        print_json(payload)
    else:
        stdout.print(
            f"wrote {report.n_docs:,} documents, {report.n_queries:,} queries and "
            f"{report.n_qrels:,} judgements to {out}"
        )


def register(app: typer.Typer) -> None:
    convert_app.command("smart")(smart)
    app.add_typer(convert_app, name="convert")

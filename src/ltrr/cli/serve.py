"""``ltrr serve``: the HTTP API (and OpenAPI docs) over one data directory, on uvicorn."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.markup import escape

from ltrr.cli.common import ConfigOption, DataOption, config_for, resolve_data, stderr, stdout
from ltrr.config import Config, section_params
from ltrr.retrieve.indexes import IndexSet
from ltrr.select import SelectParams
from ltrr.service import sidecar
from ltrr.service.app import CONFIG_ENV, DATA_ENV, PARENT_ENV, SIDECAR_ENV
from ltrr.service.settings import ServiceParams, check_binding, service_params
from ltrr.storage.datadir import DataDir

#: ``[service]`` as rich shows it in --help (unescaped, it is read as markup and vanishes).
_SERVICE = escape("[service]")


def serve(
    data: DataOption = None,
    host: Annotated[
        str | None, typer.Option("--host", help=f"Address to bind (default: {_SERVICE} host).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", min=0, max=65535, help=f"Port (default: {_SERVICE} port)."),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers", min=1, max=64, help="Worker processes; they learn as one from the log."
        ),
    ] = 1,
    config: ConfigOption = None,
) -> None:
    """Serve search, feedback, catalog and stats over HTTP; Ctrl-C stops it cleanly.

    The indexes are built or caught up once (and saved) before the workers start, so no
    worker builds one; each worker then reads the catalog, appends to the shared event log
    and follows it. One more process follows the log and snapshots learned state, so that no
    worker stalls its requests writing a snapshot (``service.sidecar``).
    """
    path = resolve_data(data)
    settings = config_for(config, path)
    params = service_params(settings)
    host, port = bind_address(params, host, port)
    if params.open:
        stderr.print(
            f"[yellow]no API key configured:[/] the service is open to anyone on {host}, so it "
            "listens on loopback only"
        )
    build_indexes_once(path, settings)
    os.environ[DATA_ENV] = str(path)
    if config is not None:
        os.environ[CONFIG_ENV] = str(config)
    os.environ[SIDECAR_ENV] = "1"  # the workers leave snapshots to it
    if workers > 1:  # worker processes stop if this one dies (a single one is this one)
        os.environ[PARENT_ENV] = str(os.getpid())
    process, stop = sidecar.start(path, config)
    base = f"http://{host}:{port}"
    stdout.print(
        f"serving {path} on {base} with {workers} worker(s)  (API docs: {base}/docs)",
        markup=False,
    )
    try:
        uvicorn.run(
            "ltrr.service.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            loop="uvloop",
            http="httptools",
            log_level="warning",
            access_log=False,
        )
    finally:  # after the workers: its last snapshot holds their last events
        stop.set()
        process.join(timeout=300)
        if process.is_alive():
            process.terminate()


def bind_address(params: ServiceParams, host: str | None, port: int | None) -> tuple[str, int]:
    """The address to bind (the options, else ``[service]``), refused if an open service would
    listen beyond loopback."""
    host = host or params.host
    port = params.port if port is None else port
    check_binding(params, host)
    return host, port


def build_indexes_once(path: Path, settings: Config) -> None:
    """Migrate the data directory and build or catch up its indexes, saved, before any
    serving process starts, so that none of them builds one."""
    strategies = section_params(settings, "select", SelectParams).strategies
    with DataDir(path, settings, writer=True) as data_dir:
        IndexSet.open(data_dir, strategies, save=True)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)

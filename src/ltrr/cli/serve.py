"""``ltrr serve``: the HTTP API (and OpenAPI docs) over one data directory, on uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from ltrr.cli.common import ConfigOption, DataOption, config_for, resolve_data, stderr, stdout
from ltrr.errors import ConfigError
from ltrr.service.app import serve_app
from ltrr.service.settings import check_binding, service_params


def serve(
    data: DataOption = None,
    host: Annotated[
        str | None, typer.Option("--host", help="Address to bind (default: [service] host).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", min=0, max=65535, help="Port (default: [service] port)."),
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Worker processes (1 for now).")
    ] = 1,
    config: ConfigOption = None,
) -> None:
    """Serve search, feedback, catalog and stats over HTTP; Ctrl-C stops it cleanly."""
    path = resolve_data(data)
    settings = config_for(config, path)
    params = service_params(settings)
    host = host or params.host
    port = params.port if port is None else port
    if workers != 1:
        raise ConfigError(
            "--workers > 1 is not supported yet: workers that learn as one from a shared log "
            "are the next step of the service issue; run one worker"
        )
    check_binding(params, host)
    if params.open:
        stderr.print(
            f"[yellow]no API key configured:[/] the service is open to anyone on {host}, so it "
            "listens on loopback only"
        )
    base = f"http://{host}:{port}"
    stdout.print(f"serving {path} on {base}  (API docs: {base}/docs)", markup=False)
    uvicorn.run(
        serve_app(path, settings, params),
        host=host,
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)

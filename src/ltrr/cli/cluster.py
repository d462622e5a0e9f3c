"""``ltrr cluster up``: N ``ltrr serve`` replicas on one PostgreSQL log behind one address."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.markup import escape

from ltrr.cli.common import ConfigOption, DataOption, config_for, resolve_data, stderr, stdout
from ltrr.cli.serve import bind_address, build_indexes_once
from ltrr.log.params import LOG_URL_ENV, log_params
from ltrr.service import cluster as local
from ltrr.service.settings import service_params
from ltrr.storage.shared import STATE_URL_ENV
from ltrr.storage.shared import state_url as shared_state_url

#: ``[service]`` as rich shows it in --help (unescaped, it is read as markup and vanishes).
_SERVICE = escape("[service]")

cluster_app = typer.Typer(
    help="A local cluster: service replicas on one shared log, behind one address.",
    no_args_is_help=True,
)


class _StopSignalError(Exception):
    """SIGTERM, raised in the main thread like Ctrl-C's KeyboardInterrupt."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _StopSignalError


@cluster_app.command("up")
def up(
    data: DataOption = None,
    replicas: Annotated[
        int, typer.Option("--replicas", min=1, max=16, help="Replica processes (ltrr serve).")
    ] = 2,
    host: Annotated[
        str | None,
        typer.Option("--host", help=f"Front address to bind (default: {_SERVICE} host)."),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", min=1, max=65535, help=f"Front port (default: {_SERVICE} port)."),
    ] = None,
    log_url: Annotated[
        str | None,
        typer.Option(
            "--log-url",
            help=(
                f"The shared event log, postgresql://... (default: ${LOG_URL_ENV}, else "
                f"{escape('[log]')} url, else {local.LOCAL_POSTGRES}); ?schema= defaults to "
                "ltrr_<data directory>."
            ),
            show_default=False,
        ),
    ] = None,
    state_url: Annotated[
        str | None,
        typer.Option(
            "--state-url",
            help=(
                f"Redis the replicas share state through (default: ${STATE_URL_ENV}, else "
                f"{escape('[storage]')} state_url, else {local.LOCAL_REDIS}); "
                f"'{local.NO_STATE}': none."
            ),
            show_default=False,
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Start N replicas of one prepared data directory and a proxy in front; Ctrl-C stops all.

    Each replica serves its own copy of the directory (DATA/replicas/r0, r1, ...: catalog,
    indexes, models and settings, copied again when the catalog version changed) and appends
    to and follows the same PostgreSQL log, so they learn as one; through Redis one replica
    trains the ranker that all serve and one publishes snapshots that a starting replica
    fetches. HAProxy answers on the front address, round robin, and names the answering
    replica in the x-ltrr-replica header.
    """
    path = resolve_data(data)
    settings = config_for(config, path)
    host, port = bind_address(service_params(settings), host, port)
    url = local.cluster_log_url(log_url or log_params(settings).url, path)
    shared = local.cluster_state_url(state_url, shared_state_url(settings))
    local.find_haproxy()
    build_indexes_once(path, settings)  # then copied to every replica
    folders = local.prepare_replicas(path, replicas)
    logs = path / local.REPLICAS_DIR / "logs"
    children: list[local.Child] = []
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    try:
        _start(children, folders, (url, shared), config, (host, port), logs)
        proxy = children[-1]
        _announce(proxy, children[:-1], (url, shared), logs)
        _watch(proxy, children[:-1])
    except (KeyboardInterrupt, _StopSignalError):
        stderr.print("stopping the cluster")
    finally:
        signal.signal(signal.SIGTERM, previous)
        local.stop(children)


def _start(
    children: list[local.Child],
    folders: list[Path],
    urls: tuple[str, str],
    config: Path | None,
    front: tuple[str, int],
    logs: Path,
) -> None:
    """Start the replicas, wait until they are ready, then the proxy; each child is appended
    to ``children`` as soon as it runs, so a failure midway still stops it."""
    ports = [local.free_port() for _ in folders]
    for folder, replica_port in zip(folders, ports, strict=True):
        log = logs / f"{folder.name}.log"
        log_url, state_url = urls
        children.append(
            local.start_replica(folder.name, folder, replica_port, log_url, config, log, state_url)
        )
    local.wait_ready(children, "/readyz")
    children.append(local.start_proxy(*front, ports, logs))
    local.wait_ready(children[-1:], "/healthz", timeout_s=30.0)


def _announce(
    proxy: local.Child, replicas: list[local.Child], urls: tuple[str, str], logs: Path
) -> None:
    url, state_url = urls
    stdout.print(
        f"front {proxy.url}  (HAProxy, round robin; API docs: {proxy.url}/docs)", markup=False
    )
    for child in replicas:
        stdout.print(f"replica {child.name} {child.url} pid {child.process.pid}", markup=False)
    stdout.print(f"event log {local.shown_url(url)}", markup=False)
    shown = state_url.rsplit("@", 1)[-1] if state_url else "none (each replica trains its own)"
    stdout.print(f"shared state {shown}", markup=False)
    stdout.print(f"logs in {logs}; Ctrl-C stops everything", markup=False)


def _watch(proxy: local.Child, replicas: list[local.Child]) -> None:
    """Report each replica that exits; return when the proxy or every replica is gone."""
    alive = list(replicas)
    while alive:
        if proxy.process.poll() is not None:
            stderr.print(f"[bold red]the proxy exited[/] with code {proxy.process.returncode}")
            stderr.print(proxy.tail(), markup=False, highlight=False)
            raise typer.Exit(1)
        for child in [c for c in alive if c.process.poll() is not None]:
            alive.remove(child)
            stderr.print(
                f"[bold red]replica {child.name} ({child.url}) exited[/] with code "
                f"{child.process.returncode}; {len(alive)} left"
            )
            stderr.print(child.tail(), markup=False, highlight=False)
        time.sleep(0.2)
    stderr.print("[bold red]every replica exited[/]")
    raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(cluster_app, name="cluster")

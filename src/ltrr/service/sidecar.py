"""The slow learning work of ``ltrr serve`` (snapshots, ranker retraining) in a process beside
the serving workers, never inside them.

A snapshot is written under the engine's lock, since learned state must not move while it is
read: 0.23-0.35 s at 100k entities a few thousand searches after the demo was built, during
which the worker that took it answered nothing. Under a stream of clicks a worker snapshotted
every few seconds, and those stalls were the service's tail: with 2 workers at 100k
(``benchmarks/http_load.py``), feedback p99 378-409 ms with snapshots in the workers, 37.6 ms
without. Retraining the ranker ran on a thread of a worker, whose log reading and feature
decoding held that worker's GIL while it served. ``ltrr serve`` therefore starts one more
process, the sidecar, which follows the log as a worker does (in pages, about once a second,
off every request path), snapshots it every ``[service] snapshot_every`` events and when it
stops, retrains the ranker every ``[rank.lambdamart] retrain_every`` acted-on searches, and
serves nothing. The workers neither snapshot nor train; they pick up each new model version
as they follow the log (``LearnedRanking.refresh``). With shared state the leases still let
one process of the log snapshot, and one train, at a time.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from multiprocessing.context import SpawnProcess
from pathlib import Path
from typing import Protocol

from ltrr.config import load_config
from ltrr.engine import Engine
from ltrr.learn import snapshot
from ltrr.service.app import Follower, parent_gone
from ltrr.service.settings import service_params

logger = logging.getLogger(__name__)
#: How often the sidecar folds the log's new events, in seconds.
INTERVAL_S = 1.0
#: How often it checks that ``ltrr serve`` (its parent) is still there, in seconds.
PARENT_CHECK_S = 1.0


class Stop(Protocol):
    """Set when the sidecar should take its last snapshot and exit."""

    def wait(self, timeout: float | None = None) -> bool: ...

    def set(self) -> None: ...


def run(data: str, config_path: str | None, stop: Stop, parent: int | None = None) -> None:
    """Follow the log of the data directory ``data``, snapshotting it and retraining the ranker,
    until ``stop`` is set (or ``parent``, the process that started it, is gone), then
    snapshot a last time."""
    path = Path(data)
    config = load_config(Path(config_path) if config_path else None, data_dir=path)
    params = service_params(config)
    with Engine.open(path, config, serve=True) as engine:
        newest = snapshot.latest(path, config, engine.log)
        at = int(newest.name) if newest is not None else 0  # what opening replayed counts
        follower = Follower(engine, INTERVAL_S, params.snapshot_every, snapshot_at=at)
        follower.start()
        try:
            while not stop.wait(PARENT_CHECK_S):
                if parent_gone(parent):
                    logger.warning("ltrr serve is gone: the sidecar stops")
                    break
        except KeyboardInterrupt:  # Ctrl-C reaches the whole process group
            pass
        finally:
            follower.stop()  # folds what is left and snapshots it


def start(data: Path, config: Path | None) -> tuple[SpawnProcess, Stop]:
    """The sidecar as a child process of this one, and the event that stops it."""
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    process = context.Process(
        target=run,
        args=(str(data), None if config is None else str(config), stop, os.getpid()),
        name="ltrr-sidecar",
        daemon=True,
    )
    process.start()
    return process, stop

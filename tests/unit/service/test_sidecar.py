"""Snapshots and ranker retraining are the sidecar's, beside the workers: a worker told to leave
them to it never writes a snapshot nor trains, and the sidecar folds the workers' events and
snapshots them, the last time when it stops."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ltrr.config import load_config
from ltrr.engine import Engine
from ltrr.learn.snapshot import SNAPSHOT_DIR
from ltrr.service import app as app_module
from ltrr.service import sidecar
from ltrr.service.app import Follower, create_app
from ltrr.service.settings import ServiceParams
from ltrr.types import Context

from .conftest import STRATEGIES


def _snapshots(data: Path) -> list[int]:
    folder = data / SNAPSHOT_DIR
    names = [p.name for p in folder.iterdir()] if folder.is_dir() else []
    return sorted(int(n) for n in names if n.isdigit())  # not a staged one


def test_workers_leave_snapshots_to_the_sidecar(data: Path) -> None:
    (data / "ltrr.toml").write_text(
        f"[select]\nstrategies = {STRATEGIES!r}\n[service]\nsnapshot_every = 5\n"
    )
    config = load_config(data_dir=data)
    with Engine.open(data, config, writer=True):
        pass  # the indexes, built once, as ``ltrr serve`` does before its workers start
    worker = Engine.open(data, config, serve=True)
    follower = Follower(worker, 0.01, None)  # a worker of ``ltrr serve``
    follower.start()
    stop = threading.Event()
    process = threading.Thread(target=sidecar.run, args=(str(data), None, stop))
    try:
        for i in range(12):
            worker.search("love story", Context(), request_id=f"r{i}")
        assert worker.log is not None
        worker.log.flush()
        deadline = time.monotonic() + 60
        while worker.follow() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)  # the worker folded all 12 events...
        assert worker.follower is not None and worker.follower.position == 12
        assert _snapshots(data) == []  # ...past snapshot_every, and wrote no snapshot
        process.start()
        taken: list[int] = []
        while not taken and time.monotonic() < deadline:
            time.sleep(0.05)
            taken = _snapshots(data)
        assert taken, "the sidecar took no snapshot of 12 events"
        worker.search("night drive", Context(), request_id="last")
        worker.log.flush()
    finally:
        follower.stop()
        worker.close()
        stop.set()
        process.join(60)
    assert not process.is_alive()
    assert _snapshots(data)[-1] == 13  # its last one: every event, the worker's last included


def test_a_worker_beside_a_sidecar_does_not_retrain(data: Path) -> None:
    def open_engine() -> Engine:
        return Engine.open(data, load_config(), strategies=STRATEGIES, writer=True)

    for beside in (False, True):
        with TestClient(create_app(open_engine, ServiceParams(), sidecar=beside)) as client:
            engine = client.app.state.engine  # type: ignore[attr-defined]
            assert engine.ranking.trains is not beside


def test_a_worker_whose_serve_process_died_stops_itself(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker of ``ltrr serve --workers N`` whose parent is gone (kill -9) shuts down instead
    of serving on, orphaned; one whose parent lives goes on following."""
    stopped = threading.Event()
    monkeypatch.setattr(app_module, "stop_process", stopped.set)
    with Engine.open(data, load_config(), strategies=STRATEGIES, writer=True) as engine:
        alive = Follower(engine, 0.01, None, parent=os.getppid())
        alive.start()
        time.sleep(0.2)
        alive.stop()
        assert not stopped.is_set()
        orphaned = Follower(engine, 0.01, None, parent=os.getppid() + 1_000_000)
        orphaned.start()
        assert stopped.wait(10)
        orphaned.stop()

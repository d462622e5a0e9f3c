"""The one place ltrr starts or attaches to Ray: sweeps, off-policy estimates and training.

Ray is an optional extra (``ltrr[ray]``), imported here only when a command asks for it, so a
process that never runs on Ray never loads it. ``ray_session`` gives every caller the same
rules, so the commands cannot drift apart:

- no ``address``: a local Ray with one worker per core and no dashboard, shut down after;
- an ``address`` (``"auto"`` or ``"host:6379"`` from a node of a running cluster;
  ``"ray://host:10001"`` through Ray Client, which needs ``ray[client]``): the same tasks run
  on that cluster, which is left running;
- a Ray the caller already initialised is used as it is and left running.

Every node of a cluster needs the same ltrr installed; what else it needs (the benchmark, the
log) each caller says.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ltrr._optional import require

RAY_HINT = "pip install 'ltrr[ray]' (ray==2.60.0)"


def require_ray(purpose: str) -> Any:
    """The ``ray`` module, or ``MissingDependencyError`` naming ``purpose`` and the extra."""
    return require("ray", purpose, RAY_HINT)


@contextmanager
def ray_session(address: str | None, purpose: str) -> Iterator[tuple[Any, dict[str, Any]]]:
    """Yield ``(ray, where)`` with Ray running (module doc); ``where``: ``address``,
    ``start_s`` (seconds to start or attach), ``n_workers`` (the cluster's CPUs) and
    ``n_nodes``. A Ray started here is shut down on the way out."""
    ray = require_ray(purpose)
    started_here, started = not ray.is_initialized(), time.perf_counter()
    if started_here and address is None:
        ray.init(
            num_cpus=os.cpu_count() or 1, include_dashboard=False, logging_level=logging.WARNING
        )
    elif started_here:
        ray.init(address=address, logging_level=logging.WARNING)
    try:
        where = {
            "address": address,
            "start_s": round(time.perf_counter() - started, 3),
            "n_workers": int(ray.cluster_resources().get("CPU", 0)),
            "n_nodes": len([n for n in ray.nodes() if n.get("Alive")]),
        }
        yield ray, where
    finally:
        if started_here:
            ray.shutdown()

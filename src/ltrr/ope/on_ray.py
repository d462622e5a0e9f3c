"""Off-policy bootstraps as Ray tasks: ``ltrr ope log --ray``.

Under the ``relevant`` outcome nearly all of ``plan_ope``'s time is its bootstrap, which refits
the click model and DR's reward model in each of ``[ope] n_bootstrap`` replicates
(``plans._replicate``). The replicates are independent given the log, and each draws from its
own generator (``estimators.replicate_rng``), so they split into chunks that run anywhere and
give the same rows: ``RayBootstrap`` sends the replicate (the fitted log: judgements, groups,
weights) to the object store once per target and runs one task per chunk. The estimates and
intervals are the same JSON numbers as in process.

What stays in the driver: reading the log, the click model's fit on the whole log, and each
target's coverage and weights (one pass over the searches each), and the ``wanted`` outcome's
bootstrap, a few matrix products with no refit, which a task would only slow down.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np

from ltrr.errors import ConfigError
from ltrr.ope.estimators import FloatArray, Replicate, replicate_range

#: Chunks per Ray worker: enough that a slow worker (a loaded node) does not hold up the rest,
#: few enough that each task's overhead (milliseconds) stays small beside its replicates.
CHUNKS_PER_WORKER = 4


def chunk_bounds(n_bootstrap: int, n_chunks: int) -> list[tuple[int, int]]:
    """``[start, stop)`` of ``n_chunks`` near-equal chunks of ``range(n_bootstrap)``, in
    order, none empty (fewer chunks when there are fewer replicates)."""
    if n_chunks < 1:
        raise ConfigError(f"n_chunks must be >= 1, got {n_chunks}")
    edges = np.linspace(0, n_bootstrap, min(n_chunks, n_bootstrap) + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in pairwise(edges.tolist())]


class RayBootstrap:
    """A ``BootstrapRunner`` whose chunks of replicates run as Ray tasks of one CPU each.

    ``ray`` is the module from ``_ray.ray_session``; ``n_workers`` the CPUs to spread over.
    """

    def __init__(self, ray: Any, n_workers: int) -> None:
        self.ray = ray
        self.n_chunks = max(1, n_workers) * CHUNKS_PER_WORKER
        self._task = ray.remote(num_cpus=1)(replicate_range)
        self.n_tasks = 0

    def __call__(self, replicate: Replicate, seed: int, n_bootstrap: int) -> FloatArray:
        shared = self.ray.put(replicate)
        bounds = chunk_bounds(n_bootstrap, self.n_chunks)
        refs = [self._task.remote(shared, seed, start, stop) for start, stop in bounds]
        self.n_tasks += len(refs)
        return np.concatenate(self.ray.get(refs))

"""Data-parallel LambdaMART on Ray: ``ltrr train --ray --workers N``.

When a training window's groups outgrow one process, LightGBM's own distributed learner
trains one model over several: ``tree_learner = "data"`` (Meng et al., "A Communication-
Efficient Parallel Algorithm for Decision Tree", NeurIPS 2016), where each machine holds a
share of the rows, builds the feature histograms of its share, and the machines reduce the
histograms over LightGBM's socket network before every split, so every machine grows the
same trees. This is what lightgbm-ray and LightGBM's Dask interface do inside; ltrr does it
directly with Ray actors (no extra package):

1. the driver prepares the rows, labels and weights exactly as in one process
   (``lambdamart.training_rows``: query weights and IPW are about all groups, so they are
   computed before sharding);
2. ``shard_bounds`` cuts the groups into ``workers`` contiguous shards of about equal rows: a
   group never straddles two shards, because the lambdarank gradients compare the rows of one
   query with each other;
3. each actor (one CPU) picks a free port and reports ``ip:port``; with every address known,
   each builds a LightGBM Dataset of its shard only and trains with ``num_machines``,
   ``machines`` and its ``local_listen_port``; LightGBM finds the feature bins together
   (each machine bins a share of the features, then they exchange them);
4. every worker ends with the same booster; worker 0's is returned as the ``RankModel``.

The model is not bit-identical to one trained in one process: the bins are found on each
machine's sample of its shard rather than on one sample of all rows, and histogram sums are
added in another order. Its quality is the same within noise (tests: validation nDCG within
0.02 on a synthetic set; docs: LightGBM's example data).

What this does not split: the driver still reads the log and holds the groups once
(``learn.train_ranker``); the shards are what each worker's Dataset, histograms and gradients
are built from. Under ``position`` debiasing each machine learns the position bias factors of
its own shard.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from numpy.typing import NDArray

from ltrr._ray import ray_session, require_ray
from ltrr.errors import ConfigError
from ltrr.rank.lambdamart import LambdaMartParams, RankModel, train_booster
from ltrr.rank.training import Stacked

#: Minutes LightGBM's workers wait for each other's sockets before giving up.
NETWORK_TIMEOUT_MIN = 5


def shard_bounds(group_sizes: NDArray[np.int64], n_workers: int) -> list[tuple[int, int]]:
    """``[first, last)`` group of each of ``n_workers`` contiguous shards, each with at least
    one group and about ``total rows / n_workers`` rows (a cut falls between groups)."""
    n_groups = len(group_sizes)
    if n_workers < 1:
        raise ConfigError(f"--workers (rank.lambdamart.workers) must be >= 1, got {n_workers}")
    if n_workers > n_groups:
        raise ConfigError(
            f"--workers (rank.lambdamart.workers) is {n_workers}, more than the {n_groups} "
            "training groups: each worker needs at least one whole group"
        )
    ends = np.cumsum(group_sizes)
    wanted = np.searchsorted(ends, ends[-1] * np.arange(1, n_workers) / n_workers) + 1
    edges = [0]
    for k, cut in enumerate(wanted.tolist(), start=1):  # leave each later shard a group
        edges.append(min(max(cut, edges[-1] + 1), n_groups - (n_workers - k)))
    edges.append(n_groups)
    return list(pairwise(edges))


def shard(data: Stacked, weight: NDArray[np.float64] | None, first: int, last: int) -> Shard:
    """Groups ``first .. last - 1`` of ``data`` (and their rows' weights)."""
    offsets = np.concatenate([[0], np.cumsum(data.group)])
    rows = slice(int(offsets[first]), int(offsets[last]))
    return Shard(
        Stacked(data.x[rows], data.label[rows], data.position[rows], data.group[first:last]),
        None if weight is None else weight[rows],
        first,
        last,
    )


@dataclass(frozen=True, slots=True)
class Shard:
    """One worker's whole groups ``first .. last - 1``: its rows and their weights."""

    data: Stacked
    weight: NDArray[np.float64] | None
    first: int
    last: int


@dataclass(frozen=True, slots=True)
class ShardResult:
    """What a worker trained: the model text, which groups and rows it held, where, and the
    seconds its Dataset and training took (``train_s``)."""

    model: str
    first: int
    last: int
    n_rows: int
    host: str
    train_s: float


class ShardWorker:
    """A Ray actor: holds one port for LightGBM's network and trains on the shard it is given."""

    def __init__(self) -> None:
        self.port = 0
        # LightGBM's network prints its progress on stdout from C++ (its Python log callback
        # is per thread, and Ray calls methods on another), which Ray forwards to the driver's
        # stdout, into `ltrr train --json`. This process is the actor's alone: its stdout
        # goes to stderr, where Ray forwards it to the driver's stderr.
        os.dup2(2, 1)

    def address(self) -> str:
        """``ip:port`` this worker will listen on (a port free now, on this node's address)."""
        ray = require_ray("a training worker")
        with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
            sock.bind(("", 0))
            self.port = int(sock.getsockname()[1])
        return f"{ray.util.get_node_ip_address()}:{self.port}"

    def train(
        self,
        part: Shard,
        machines: Sequence[str],
        params: LambdaMartParams,
        names: Sequence[str],
        debias: str,
    ) -> ShardResult:
        network = {
            "tree_learner": "data",
            "num_machines": len(machines),
            "machines": ",".join(machines),
            "local_listen_port": self.port,
            "time_out": NETWORK_TIMEOUT_MIN,
        }
        started = time.perf_counter()
        booster = train_booster(part.data, part.weight, params, names, debias, network)
        try:
            text = _without_addresses(str(booster.model_to_string()))
        finally:
            booster.free_network()
        seconds = time.perf_counter() - started
        n_rows = len(part.data.x)
        return ShardResult(text, part.first, part.last, n_rows, socket.gethostname(), seconds)


#: Parameters a model text records that say where it was trained, not what it is.
_ADDRESS_PARAMETERS = ("[machines: ", "[local_listen_port: ", "[time_out: ")


def _without_addresses(text: str) -> str:
    """``text`` without the hosts and ports of the workers that trained it: every worker then
    returns the same model text, and a stored model names no machine."""
    lines = text.split("\n")
    return "\n".join(x for x in lines if not x.startswith(_ADDRESS_PARAMETERS))


def fit_data_parallel(
    data: Stacked,
    weight: NDArray[np.float64] | None,
    params: LambdaMartParams,
    names: Sequence[str],
    fingerprint: str,
    debias: str,
) -> RankModel:
    """One model trained by ``params.workers`` Ray actors on whole-group shards (module doc),
    on the Ray at ``params.ray_address`` (empty: a local one)."""
    model, _ = train_sharded(data, weight, params, names, debias)
    return RankModel.from_string(model, names, fingerprint)


def train_sharded(
    data: Stacked,
    weight: NDArray[np.float64] | None,
    params: LambdaMartParams,
    names: Sequence[str],
    debias: str,
) -> tuple[str, list[ShardResult]]:
    """Worker 0's model text and every worker's ``ShardResult``, in shard order."""
    bounds = shard_bounds(data.group, params.workers)
    address = params.ray_address or None
    with ray_session(address, "ltrr train --ray") as (ray, where):
        if params.workers > where["n_workers"]:
            raise ConfigError(
                f"--workers (rank.lambdamart.workers) is {params.workers}, more than the "
                f"{where['n_workers']} CPUs of the Ray cluster: the workers train together, "
                "so each needs a CPU at once"
            )
        actor = ray.remote(num_cpus=1)(ShardWorker)
        workers = [actor.remote() for _ in bounds]
        try:
            machines = ray.get([w.address.remote() for w in workers])
            parts = [ray.put(shard(data, weight, a, b)) for a, b in bounds]
            calls = [
                w.train.remote(p, machines, params, names, debias)
                for w, p in zip(workers, parts, strict=True)
            ]
            results: list[ShardResult] = ray.get(calls)
        finally:
            for w in workers:
                ray.kill(w)
    return results[0].model, results

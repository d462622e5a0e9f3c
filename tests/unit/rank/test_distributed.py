"""Data-parallel LambdaMART on Ray: whole groups per shard, one model, the same quality.

The data: synthetic queries of 5 to 30 candidates with 6 features; a candidate's relevance
is ``x0 + 0.5 x1`` plus noise, and the two most relevant of each query are labelled 1. Two
workers of a local Ray of 2 CPUs train with LightGBM's data-parallel learner; their model is
not bit-identical to the one trained in one process (bins are found per shard, histograms
are summed in another order), so the test bounds the difference in validation nDCG@10.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from ltrr.errors import ConfigError
from ltrr.rank.distributed import shard, shard_bounds, train_sharded
from ltrr.rank.features import fingerprint_of
from ltrr.rank.lambdamart import LambdaMartParams, RankModel, fit, training_rows
from ltrr.rank.training import TrainingGroup, stack

NAMES = [f"f{i}" for i in range(6)]
PARAMS = LambdaMartParams(debias="none", query_weight="inverse", n_trees=60, min_data_in_leaf=10)


def make_groups(n: int, seed: int) -> list[TrainingGroup]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        m = int(rng.integers(5, 31))
        x = rng.random((m, len(NAMES))).astype(np.float32)
        relevance = x[:, 0] + 0.5 * x[:, 1] + 0.3 * rng.random(m)
        label = (relevance >= np.sort(relevance)[-2]).astype(np.int32)
        query = f"q{i % 150}"  # repeated queries, so the inverse query weights matter
        out.append(TrainingGroup(f"g{seed}-{i}", x, label, np.ones(m, np.int32), query))
    return out


def ndcg_at_10(model: RankModel, groups: list[TrainingGroup]) -> float:
    """Mean nDCG@10 with binary gains over the groups."""
    values = []
    for g in groups:
        order = np.argsort(-model.predict(g.x), kind="stable")[:10]
        discounts = 1.0 / np.log2(np.arange(2, 12))
        dcg = float((g.label[order] * discounts[: len(order)]).sum())
        ideal = float((np.sort(g.label)[::-1][:10] * discounts[: min(10, len(g.x))]).sum())
        values.append(dcg / ideal)
    return float(np.mean(values))


@pytest.mark.parametrize(
    ("sizes", "n_workers", "bounds"),
    [
        ([10, 10, 10, 10], 2, [(0, 2), (2, 4)]),
        ([10, 10, 10, 10], 4, [(0, 1), (1, 2), (2, 3), (3, 4)]),
        ([100, 1, 1, 1], 2, [(0, 1), (1, 4)]),  # rows, not groups, are balanced
        ([1, 1, 1, 100], 3, [(0, 2), (2, 3), (3, 4)]),  # yet every shard gets a group
        ([5, 5, 5], 1, [(0, 3)]),
    ],
)
def test_shards_hold_whole_groups_each_once(
    sizes: list[int], n_workers: int, bounds: list[tuple[int, int]]
) -> None:
    got = shard_bounds(np.array(sizes, dtype=np.int64), n_workers)
    assert got == bounds
    assert [g for a, b in got for g in range(a, b)] == list(range(len(sizes)))


@pytest.mark.parametrize(
    ("n_workers", "message"),
    [
        (0, r"--workers \(rank.lambdamart.workers\) must be >= 1, got 0"),
        (5, r"--workers \(rank.lambdamart.workers\) is 5, more than the 4 training groups"),
    ],
)
def test_bad_worker_counts_name_the_option(n_workers: int, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        shard_bounds(np.array([3, 3, 3, 3], dtype=np.int64), n_workers)


def test_a_shard_is_its_groups_rows_and_weights() -> None:
    groups = make_groups(5, seed=1)
    data, weight = training_rows(groups, PARAMS, NAMES, None, "none")
    assert weight is not None
    part = shard(data, weight, 2, 4)
    rows = stack(groups[2:4])
    assert np.array_equal(part.data.x, rows.x) and np.array_equal(part.data.group, rows.group)
    start = sum(len(g.x) for g in groups[:2])
    assert np.array_equal(part.weight, weight[start : start + len(rows.x)])  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    """A local Ray of 2 CPUs for this module, shut down after."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield ray
    ray.shutdown()


def test_two_workers_train_one_model_as_good_as_one_process(local_ray: Any) -> None:
    train, valid = make_groups(400, seed=2), make_groups(150, seed=3)
    data, weight = training_rows(train, PARAMS, NAMES, None, "none")
    text, results = train_sharded(
        data, weight, dataclasses.replace(PARAMS, workers=2), NAMES, "none"
    )
    assert local_ray.is_initialized()  # the caller's Ray is left running
    assert [(r.first, r.last) for r in results] == [(0, results[0].last), (results[0].last, 400)]
    assert sum(r.n_rows for r in results) == len(data.x)  # every group once, whole
    assert results[0].model == results[1].model  # the workers grew the same trees
    assert all(r.train_s > 0 for r in results) and "[machines: " not in text  # no host:port kept
    fingerprint = fingerprint_of(NAMES)
    together = RankModel.from_string(text, NAMES, fingerprint)
    alone = fit(train, PARAMS, NAMES, fingerprint)
    assert together.booster.num_trees() == alone.booster.num_trees() == PARAMS.n_trees
    ndcg_together, ndcg_alone = ndcg_at_10(together, valid), ndcg_at_10(alone, valid)
    assert ndcg_alone > 0.8  # it learned something
    assert abs(ndcg_together - ndcg_alone) < 0.02, (ndcg_together, ndcg_alone)


def test_fit_with_workers_goes_through_ray(local_ray: Any) -> None:
    groups = make_groups(60, seed=4)
    params = dataclasses.replace(PARAMS, workers=2, n_trees=5, debias="ipw")
    model = fit(groups, params, NAMES, fingerprint_of(NAMES))
    assert model.booster.num_trees() == 5 and model.predict(groups[0].x).shape == (
        len(groups[0].x),
    )


def test_more_workers_than_the_cluster_has_cpus_is_an_error(local_ray: Any) -> None:
    groups = make_groups(20, seed=5)
    with pytest.raises(ConfigError, match=r"--workers .* is 3, more than the 2 CPUs"):
        fit(groups, dataclasses.replace(PARAMS, workers=3), NAMES, fingerprint_of(NAMES))

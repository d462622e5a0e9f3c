"""``ltrr ope log --ray``: the bootstrap's replicates as Ray tasks, the same JSON numbers.

The log: 240 searches of 12 queries, each query with one relevant entity that lexical ranks at
a query-dependent place; an exploring logger (epsilon 0.3) draws lexical's depth from
{2, 5, 10}; users scan the shown page top down and click the relevant entity (and now and
then a noise click), so the relevant outcome's click model has something to fit.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
import typer
from typer.testing import CliRunner

from ltrr.cli import ope as ope_cli
from ltrr.errors import ConfigError, MissingDependencyError
from ltrr.ope.estimators import OpeParams, replicate_range, replicate_rng, run_replicates
from ltrr.ope.on_ray import RayBootstrap, chunk_bounds
from ltrr.ope.plans import logged_searches_from, plan_ope
from ltrr.select.base import Plan

EXPLORE = {"lexical": {2: 0.4, 5: 0.3, 10: 0.3}}
TARGETS = ("lexical@2", "lexical@5")
#: What says how it ran, not what it found.
HOW = ("command", "runner")


def write_records(path: Path, n_searches: int = 240, seed: int = 5) -> Path:
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n_searches):
        query = int(rng.integers(12))
        depth = 5 if rng.random() > 0.3 else int(rng.choice([2, 5, 10], p=[0.4, 0.3, 0.3]))
        plan = Plan(depths={"lexical": depth}, greedy={"lexical": 5}, epsilon=0.3, explore=EXPLORE)
        ids = [f"e{query}-{j}" for j in range(10)]
        where = query % 7  # the relevant entity's place in lexical's list
        ids[where], ids[0] = ids[0], ids[where]
        shown = ids[:depth]
        relevant = ids[where]
        positives = [relevant] if relevant in shown and rng.random() < 0.8 else []
        if not positives and rng.random() < 0.1:
            positives = [shown[-1]]  # a noise click
        records.append(
            {
                "request_id": f"r{i}",
                "query": f"query {query}",
                "plan": plan.to_dict(),
                "strategy_results": {"lexical": [[e, 1.0 / (r + 1)] for r, e in enumerate(ids)]},
                "wanted": positives[0] if positives else None,
                "shown": shown,
                "positives": positives,
            }
        )
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_records(tmp_path_factory.mktemp("ope") / "searches.jsonl")


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("settings") / "ltrr.toml"
    path.write_text('[select]\nstrategies = ["lexical"]\n\n[ope]\nn_bootstrap = 60\nseed = 4\n')
    return path


def _ope_log(records: Path, settings: Path, tmp_path: Path, *extra: str) -> dict[str, Any]:
    app = typer.Typer()
    app.callback()(lambda: None)
    ope_cli.register(app)
    args = ["ope", "log", "--records", str(records), "--config", str(settings), "--json"]
    args += [a for t in TARGETS for a in ("--target", t)]
    result = CliRunner().invoke(app, [*args, "--data", str(tmp_path / "data"), *extra])
    assert result.exit_code == 0, result.output
    return orjson.loads(result.stdout)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def local(records: Path, settings: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return _ope_log(records, settings, tmp_path_factory.mktemp("local"))


def test_chunks_cover_every_replicate_once() -> None:
    assert chunk_bounds(10, 3) == [(0, 3), (3, 7), (7, 10)]
    assert chunk_bounds(2, 8) == [(0, 1), (1, 2)]  # never an empty chunk
    with pytest.raises(ConfigError, match="n_chunks must be >= 1, got 0"):
        chunk_bounds(10, 0)


def test_a_replicate_draws_the_same_wherever_it_runs() -> None:
    """Replicate j's generator depends on (seed, j) only, so chunks can run anywhere."""

    def draw(rng: np.random.Generator) -> np.ndarray:
        return rng.random(3)

    whole = run_replicates(draw, 9, 10)
    pieces = np.concatenate([replicate_range(draw, 9, a, b) for a, b in chunk_bounds(10, 4)])
    assert np.array_equal(whole, pieces)
    spawned = np.random.SeedSequence(9).spawn(10)[7]
    assert np.array_equal(whole[7], np.random.default_rng(spawned).random(3))
    assert replicate_rng(9, 7).random() == replicate_rng(9, 7).random()


def test_the_log_has_a_relevant_outcome_with_intervals(local: dict[str, Any]) -> None:
    assert local["runner"] == {"kind": "local", "n_workers": 1}
    assert local["n_searches"] == 240 and local["click_model"]["n_pairs"] > 0
    for target in TARGETS:
        for e in local["targets"][target].values():
            assert e["low"] <= e["value"] <= e["high"] and e["low"] < e["high"]


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    """A local Ray of 2 CPUs for this module, shut down after."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield ray
    ray.shutdown()


def test_ray_tasks_give_the_same_summary(
    records: Path, settings: Path, tmp_path: Path, local: dict[str, Any], local_ray: Any
) -> None:
    on_ray = _ope_log(records, settings, tmp_path, "--ray")
    assert local_ray.is_initialized()  # the caller's Ray is left running
    runner = on_ray["runner"]
    assert runner["kind"] == "ray" and runner["n_workers"] == 2
    assert runner["n_tasks"] == len(TARGETS) * 8  # 4 chunks per worker, per target
    assert {k: v for k, v in on_ray.items() if k not in HOW} == {
        k: v for k, v in local.items() if k not in HOW
    }


def test_plan_ope_on_ray_equals_in_process(records: Path, local_ray: Any) -> None:
    searches = logged_searches_from(
        orjson.loads(line) for line in records.read_bytes().splitlines()
    )
    params = OpeParams(n_bootstrap=30, seed=1)
    here = plan_ope(searches, {"lexical": 5}, params)
    there = plan_ope(searches, {"lexical": 5}, params, RayBootstrap(local_ray, 2))
    assert here == there


def test_without_ray_installed_the_error_says_what_to_install(
    records: Path, settings: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    app = typer.Typer()
    app.callback()(lambda: None)
    ope_cli.register(app)
    args = ["ope", "log", "--records", str(records), "--target", "lexical@2", "--ray"]
    result = CliRunner().invoke(app, [*args, "--data", str(tmp_path), "--config", str(settings)])
    assert isinstance(result.exception, MissingDependencyError)
    assert "ltrr[ray]" in str(result.exception)


#: The sums a bootstrap replicate makes, on rounds long enough for OpenBLAS to use threads.
SUMS = """
import numpy as np
from ltrr.ope.clicks import _rate
from ltrr.ope.estimators import ratio_estimates
from ltrr.ope.plans import _plan_reward_model
from ltrr.ope.estimators import OpeParams
rng = np.random.default_rng(0)
n = 200_000
r, w, c = rng.random(n), rng.random(n) + 0.5, rng.integers(0, 3, n).astype(float)
keys = rng.integers(0, 50, n)
q = _plan_reward_model(r, w, keys, 50, OpeParams())
print(repr(ratio_estimates(r, w, (q, q), c).tolist()), repr(_rate(w, r, w + 1)))
"""


def test_a_replicates_sums_do_not_depend_on_blas_threads() -> None:
    """A Ray task has one BLAS thread, the driver one per core: a replicate must add up the
    same either way (OpenBLAS's own dot products do not, past about 20,000 rounds)."""
    outputs = set()
    for threads in ("1", "2"):
        env = {**os.environ, "OPENBLAS_NUM_THREADS": threads, "OMP_NUM_THREADS": threads}
        run = subprocess.run(
            [sys.executable, "-c", SUMS], env=env, capture_output=True, text=True, check=True
        )
        outputs.add(run.stdout)
    assert len(outputs) == 1, outputs

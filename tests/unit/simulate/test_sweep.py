"""``sweep``: 2 policies x 2 seeds x 2 click models, in-process and as Ray tasks, same numbers.

The benchmark: 60 documents of made-up words; half the queries quote two words of one
document's text (lexical finds it), half type a prefix of one of its title words (fuzzy finds
it). The settings (``SETTINGS``) select lexical, fuzzy and memory, so a learned run also
retrieves live from a saved index: what a Ray worker reads from the workspace by path.
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

from ltrr.cli.sweep import register
from ltrr.config import load_config
from ltrr.errors import ConfigError, MissingDependencyError, StorageError
from ltrr.evaluate.workspace import Workspace
from ltrr.simulate.params import SimulateParams
from ltrr.simulate.run import simulate
from ltrr.simulate.sweep import SweepSpec, sweep

SETTINGS = """
[select]
strategies = ["lexical", "fuzzy", "memory"]
depths = [5, 20]
budget = 10

[select.ltrr]
anchors = []
"""
POLICIES = ("ltrr", "hybrid")
CLICK_MODELS = ("navigational", "pbm-informational")
#: Parts of a summary that say how and where it ran, not what it found.
HOW = ("runner", "timing_s", "command")


def write_bench(root: Path, n_docs: int = 60) -> Path:
    rng = np.random.default_rng(11)
    letters = "bdfgklmnprstvz"
    words = sorted({"".join(rng.choice(list(letters), 3)) + "ia" for _ in range(12 * n_docs)})
    rng.shuffle(words)
    corpus, queries, qrels = [], [], {"train": [], "test": []}
    for i in range(n_docs):
        title, text = words[4 * i : 4 * i + 2], words[4 * i + 2 : 4 * i + 4]
        filler = rng.choice(words[4 * n_docs :], 5).tolist()
        corpus.append({"_id": f"d{i}", "title": " ".join(title), "text": " ".join(text + filler)})
        query = " ".join(text) if i % 2 else title[0][:4]
        queries.append({"_id": f"q{i}", "text": query})
        qrels["train" if i < 2 * n_docs // 3 else "test"].append(f"q{i}\td{i}\t1\n")
    (root / "qrels").mkdir(parents=True)
    (root / "corpus.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in corpus))
    (root / "queries.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in queries))
    for split, lines in qrels.items():
        (root / "qrels" / f"{split}.tsv").write_text(
            "query-id\tcorpus-id\tscore\n" + "".join(lines)
        )
    return root


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_bench(tmp_path_factory.mktemp("sweep") / "bench")


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("settings") / "ltrr.toml"
    path.write_text(SETTINGS)
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("work")


@pytest.fixture(scope="module")
def spec(bench: Path, settings: Path, work: Path) -> SweepSpec:
    params = SimulateParams(n_searches=150, n_seeds=2, window=50, n_bootstrap=200)
    return SweepSpec(bench, POLICIES, params, load_config(settings), work)


@pytest.fixture(scope="module")
def local(spec: SweepSpec) -> dict[str, Any]:
    return sweep(spec, CLICK_MODELS)


def _numbers(summary: dict[str, Any]) -> dict[str, Any]:
    """A summary without how and where it ran, as its JSON would read."""
    kept = {k: v for k, v in summary.items() if k not in HOW}
    return orjson.loads(orjson.dumps(kept))  # type: ignore[no-any-return]


def test_each_click_model_reports_what_simulate_reports(
    spec: SweepSpec, local: dict[str, Any]
) -> None:
    assert local["click_models"] == list(CLICK_MODELS) and local["n_cells"] == 2 * 2
    assert [(c["click_model"], c["seed"]) for c in local["runner"]["cells"]] == [
        (m, s) for m in CLICK_MODELS for s in (0, 1)
    ]
    for model in CLICK_MODELS:
        alone = simulate(spec.directory, POLICIES, model, spec.params, spec.work_dir, spec.config)
        swept = local["reports"][model]
        assert set(swept) == set(alone) - {"timing_s"}
        assert orjson.dumps(swept) == orjson.dumps({k: alone[k] for k in swept})
        assert set(swept["policies"]) == set(POLICIES)
    navigational, pbm = (local["reports"][m]["policies"]["ltrr"] for m in CLICK_MODELS)
    assert navigational["head"] != pbm["head"]  # the click models matter


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    """A local Ray of 2 CPUs for this module, shut down after."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield ray
    ray.shutdown()


def test_ray_tasks_give_the_same_summary(
    spec: SweepSpec, local: dict[str, Any], local_ray: Any
) -> None:
    on_ray = sweep(spec, CLICK_MODELS, runner="ray")
    assert local_ray.is_initialized()  # the caller's Ray is left running
    assert on_ray["runner"]["kind"] == "ray" and on_ray["runner"]["n_workers"] == 2
    cells = on_ray["runner"]["cells"]
    pids = {cell["pid"] for cell in cells}
    assert pids and os.getpid() not in pids  # ran in worker processes
    assert sum(cell["open_s"] > 0 for cell in cells) == len(pids)  # each opened the bench once
    assert _numbers(on_ray) == _numbers(local)


def test_the_cli_writes_one_summary(
    bench: Path, settings: Path, work: Path, tmp_path: Path
) -> None:
    app = typer.Typer()
    register(app)
    out = tmp_path / "sweep.json"
    args = [str(bench), "--click-models", "informational,perfect", "--searches", "60"]
    args += ["--seeds", "1", "--policies", "ltrr,lexical@5", "--window", "30"]
    result = CliRunner().invoke(
        app, [*args, "--work", str(work), "--config", str(settings), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    summary = orjson.loads(out.read_bytes())
    assert set(summary["reports"]) == {"informational", "perfect"}
    # the command line as given (under pytest-xdist a worker has no arguments: just "ltrr")
    assert summary["runner"]["kind"] == "local" and summary["command"].split()[0] == "ltrr"
    assert set(summary["reports"]["perfect"]["policies"]) == {"ltrr", "lexical@5"}
    assert "checks" in summary["reports"]["perfect"]


@pytest.mark.parametrize(
    ("click_models", "runner", "message"),
    [
        (("navigational", "dbn"), "local", "unknown click model 'dbn'"),
        ((), "local", "at least one click model"),
        (("navigational",), "spark", "unknown sweep runner 'spark'; allowed: local, ray"),
    ],
)
def test_bad_sweeps_fail_before_any_setup(
    bench: Path, tmp_path: Path, click_models: tuple[str, ...], runner: Any, message: str
) -> None:
    spec = SweepSpec(bench, POLICIES, SimulateParams(n_searches=10), load_config(), tmp_path)
    with pytest.raises(ConfigError, match=message):
        sweep(spec, click_models, runner=runner)
    assert not any(tmp_path.iterdir())  # no workspace was opened


def test_without_ray_installed_the_error_says_what_to_install(
    bench: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    spec = SweepSpec(bench, POLICIES, SimulateParams(n_searches=10), load_config(), tmp_path)
    with pytest.raises(MissingDependencyError, match=r"ltrr\[ray\]"):
        sweep(spec, ["navigational"], runner="ray")
    assert not any(tmp_path.iterdir())


def test_ray_is_imported_only_when_a_sweep_asks_for_it() -> None:
    code = "import sys, ltrr.cli.app, ltrr.simulate.sweep; print('ray' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_a_reader_needs_a_prepared_workspace(bench: Path, tmp_path: Path) -> None:
    with (
        pytest.raises(StorageError, match="no prepared workspace"),
        Workspace.open(bench / "corpus.jsonl", load_config(), tmp_path, writer=False),
    ):
        pass

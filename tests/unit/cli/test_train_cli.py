"""``ltrr train`` and ``ltrr model`` as a user runs them: real processes on a real log."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ltrr.config import load_config
from ltrr.engine import Engine
from ltrr.storage.datadir import DataDir

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "learn"))
from test_ranking import STRATEGIES, _catalog, _traffic

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_catalog_cli import ltrr


def _data(tmp_path: Path, n_searches: int) -> Path:
    data = tmp_path / "data"
    with DataDir(data, load_config(), writer=True) as dd, dd.catalog.change() as change:
        change.upsert(_catalog())
    (data / "ltrr.toml").write_text(
        "[rank.lambdamart]\nmin_groups = 30\nn_trees = 20\n"
        f"[select]\nstrategies = {json.dumps(STRATEGIES)}\n"
    )
    with Engine.open(data, load_config(data_dir=data), strategies=STRATEGIES, writer=True) as e:
        _traffic(e, n_searches)
    return data


def test_train_on_a_tiny_log_says_so_and_nothing_is_stored(tmp_path: Path) -> None:
    data = _data(tmp_path, 5)
    result = ltrr("train", "--data", str(data), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "no model trained: only 5 impressions" in result.stdout
    listed = ltrr("model", "list", "--data", str(data), cwd=tmp_path)
    assert "no model trained yet" in listed.stdout


def test_train_list_and_rollback(tmp_path: Path) -> None:
    data = _data(tmp_path, 60)
    trained = ltrr("train", "--data", str(data), "--debias", "ipw", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    assert trained.stdout.startswith("v0001:") and "serves now" in trained.stdout
    listed = json.loads(ltrr("model", "list", "--data", str(data), "--json", cwd=tmp_path).stdout)
    assert listed["current"] == "v0001"
    assert listed["versions"][0]["debias"] == "ipw" and listed["versions"][0]["serving"]
    back = json.loads(ltrr("model", "rollback", "--data", str(data), "--json", cwd=tmp_path).stdout)
    assert back == {"current": None}
    again = ltrr("model", "rollback", "--data", str(data), cwd=tmp_path)
    assert again.returncode == 1 and "nothing to roll back" in again.stderr


def test_an_unknown_debias_is_named(tmp_path: Path) -> None:
    data = _data(tmp_path, 5)
    result = ltrr("train", "--data", str(data), "--debias", "maybe", cwd=tmp_path)
    assert result.returncode != 0 and "none, position, ipw" in result.stderr


def test_workers_below_one_are_named(tmp_path: Path) -> None:
    data = _data(tmp_path, 5)
    result = ltrr("train", "--data", str(data), "--workers", "0", cwd=tmp_path)
    assert result.returncode != 0 and "--workers must be >= 1, got 0" in result.stderr


def test_train_on_two_ray_workers(tmp_path: Path) -> None:
    """``ltrr train --ray``: a local Ray started for the run, two workers, one model served."""
    pytest.importorskip("ray")
    data = _data(tmp_path, 60)
    result = ltrr("train", "--data", str(data), "--ray", "--workers", "2", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)  # nothing but the report on stdout
    assert report["workers"] == 2 and report["version"] == "v0001" and report["accepted"]
    listed = json.loads(ltrr("model", "list", "--data", str(data), "--json", cwd=tmp_path).stdout)
    assert listed["current"] == "v0001"

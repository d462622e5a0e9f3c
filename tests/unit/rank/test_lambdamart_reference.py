"""LightGBM's own LambdaMART thresholds on its example data, through ltrr's training code.

The data (``../shared/datasets/lightgbm-lambdarank``) are SVMlight rows with query-group files;
LightGBM's test asserts NDCG@1 > 0.5674 and NDCG@3 > 0.578 on ``rank.test``. ltrr's ``fit``
must reach them with its default schedule (no early stopping on the test set), scored by
LightGBM's NDCG: exponential gains ``2^l - 1`` (as the thresholds are), computed by
scikit-learn's ``ndcg_score`` on those gains, and 1 for a query without a relevant row, as
LightGBM counts it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ltrr.rank.features import fingerprint_of
from ltrr.rank.lambdamart import LambdaMartParams, fit
from ltrr.rank.training import TrainingGroup

DATA = Path(__file__).resolve().parents[4] / "shared" / "datasets" / "lightgbm-lambdarank"
pytestmark = pytest.mark.skipif(
    not (DATA / "rank.train").is_file(), reason=f"{DATA} is absent (../shared not mounted)"
)


def _groups(name: str) -> tuple[list[TrainingGroup], np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_svmlight_file

    x, y = load_svmlight_file(str(DATA / name), n_features=300)
    dense = np.asarray(x.todense(), dtype=np.float32)
    sizes = np.loadtxt(DATA / f"{name}.query", dtype=np.int64)
    groups, start = [], 0
    for i, size in enumerate(sizes):
        rows = slice(start, start + size)
        label = y[rows].astype(np.int32)
        groups.append(TrainingGroup(f"q{i}", dense[rows], label, np.ones(size, np.int32)))
        start += size
    return groups, dense, y, sizes


def _ndcg(groups: list[TrainingGroup], scores: np.ndarray, k: int) -> float:
    from sklearn.metrics import ndcg_score

    values, start = [], 0
    for group in groups:
        score = scores[start : start + len(group.x)]
        start += len(group.x)
        gains = 2.0**group.label - 1
        values.append(ndcg_score([gains], [score], k=k) if gains.any() else 1.0)
    return float(np.mean(values))


def test_lambdamart_meets_lightgbm_thresholds() -> None:
    train, *_ = _groups("rank.train")
    test, x_test, *_ = _groups("rank.test")
    names = [f"f{i}" for i in range(x_test.shape[1])]
    params = LambdaMartParams(debias="none")  # ltrr's defaults otherwise
    model = fit(train, params, names, fingerprint_of(names))
    scores = model.predict(x_test)
    ndcg1, ndcg3 = _ndcg(test, scores, 1), _ndcg(test, scores, 3)
    assert ndcg1 > 0.5674, ndcg1
    assert ndcg3 > 0.578, ndcg3

"""The compiled forest scores exactly as LightGBM's own predict, for every missing-value rule."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from ltrr.rank.forest import Forest


def _booster(rng: np.random.Generator, **params: object) -> lgb.Booster:
    x = rng.normal(size=(600, 6))
    x[rng.random(x.shape) < 0.2] = np.nan
    x[rng.random(x.shape) < 0.2] = 0.0
    y = (np.nan_to_num(x[:, 0]) + np.isnan(x[:, 1]) + (x[:, 2] == 0) > 0.5).astype(float)
    settings = {"objective": "regression", "verbosity": -1, "num_leaves": 15,
                "min_data_in_leaf": 5, **params}  # fmt: skip
    return lgb.train(settings, lgb.Dataset(x, y), num_boost_round=40)


@pytest.mark.parametrize(
    "params",
    [{}, {"zero_as_missing": True}, {"use_missing": False}, {"objective": "lambdarank"}],
    ids=["nan-missing", "zero-missing", "no-missing", "lambdarank"],
)
def test_scores_equal_lightgbm_to_the_bit(params: dict[str, object]) -> None:
    rng = np.random.default_rng(7)
    if params.get("objective") == "lambdarank":
        x = rng.normal(size=(600, 6))
        x[rng.random(x.shape) < 0.2] = np.nan
        y = rng.integers(0, 3, 600)
        data = lgb.Dataset(x, y, group=[20] * 30)
        booster = lgb.train({**params, "verbosity": -1, "min_data_in_leaf": 5}, data, 30)
    else:
        booster = _booster(rng, **params)
    forest = Forest.from_booster(booster)
    assert forest is not None
    assert forest.zero_default.any() == bool(params.get("zero_as_missing"))
    x = rng.normal(size=(300, 6)).astype(np.float32)
    x[rng.random(x.shape) < 0.25] = np.nan
    x[rng.random(x.shape) < 0.15] = 0.0
    x[rng.random(x.shape) < 0.05] = 1e-40  # "zero" to LightGBM's missing rule
    expected = booster.predict(x, num_threads=1)
    assert np.array_equal(forest.predict(x), expected)


def test_a_categorical_split_has_no_flat_form() -> None:
    rng = np.random.default_rng(3)
    x = np.column_stack([rng.integers(0, 8, 400), rng.normal(size=400)])
    y = (x[:, 0] % 3 == 0).astype(float)
    data = lgb.Dataset(x, y, categorical_feature=[0])
    booster = lgb.train({"objective": "regression", "verbosity": -1}, data, 10)
    assert Forest.from_booster(booster) is None


def test_wrong_width_is_refused() -> None:
    forest = Forest.from_booster(_booster(np.random.default_rng(1)))
    assert forest is not None
    with pytest.raises(ValueError, match=r"\(n, 6\)"):
        forest.predict(np.zeros((2, 5), np.float32))


def test_one_leaf_trees_and_the_model_text_round_trip() -> None:
    """A tree that could not split is a lone leaf; a model read back from its file scores the
    same as the booster it was written from."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(200, 3))
    y = np.where(rng.random(200) < 0.5, 1.0, 1.0)  # constant: every tree is one leaf
    flat = lgb.train({"objective": "regression", "verbosity": -1}, lgb.Dataset(x, y), 5)
    booster = lgb.Booster(model_str=_booster(rng).model_to_string())
    for model in (flat, booster):
        forest = Forest.from_booster(model)
        assert forest is not None
        rows = rng.normal(size=(50, model.num_feature())).astype(np.float32)
        assert np.array_equal(forest.predict(rows), model.predict(rows, num_threads=1))

"""The LambdaMART ranker: fallback until a model serves, features checked, versions kept.

Real LightGBM models on synthetic groups whose relevance is a known function of the features,
so a right or wrong model is visible in its order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ltrr.errors import StorageError
from ltrr.learn.train_ranker import register, train_ranker
from ltrr.merge.rrf import Fused
from ltrr.rank.features import CandidateFeatures, fingerprint_of
from ltrr.rank.lambdamart import LambdaMartParams, LambdaMartRanker, fit
from ltrr.rank.registry import ModelRegistry
from ltrr.rank.rrf import RrfRanker
from ltrr.rank.training import TrainingGroup
from ltrr.retrieve.base import Candidate
from ltrr.types import Context, EntityId
from ltrr.understand.base import plain_query

NAMES = ("signal", "noise", "other")
PRINT = fingerprint_of(NAMES)
PARAMS = LambdaMartParams(n_trees=40, min_groups=50, min_clicks=10**9)


def _groups(n: int, seed: int, *, flip: bool = False) -> list[TrainingGroup]:
    """Groups of 10 rows; the row with the largest ``signal`` is the acted-on one (the
    smallest with ``flip``), shown in a random order."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        x = rng.random((10, 3)).astype(np.float32)
        label = np.zeros(10, np.int32)
        label[np.argmin(x[:, 0]) if flip else np.argmax(x[:, 0])] = 1
        position = np.arange(1, 11, dtype=np.int32)
        out.append(
            TrainingGroup(f"r{i}", x, label, position, f"q{i % 7}", tuple(map(str, range(10))))
        )
    return out


def _features(x: np.ndarray, fingerprint: str = PRINT) -> CandidateFeatures:
    fused = tuple(Fused(EntityId(f"e{i}"), 1.0 / (i + 1), {"lexical": (i + 1, 1.0)})
                  for i in range(len(x)))  # fmt: skip
    return CandidateFeatures(fused, x.astype(np.float32), fingerprint)


def test_the_model_orders_by_what_users_wanted() -> None:
    model = fit(_groups(300, 0), PARAMS, NAMES, PRINT, debias="none")
    x = np.array([[0.1, 0.9, 0.5], [0.9, 0.1, 0.5], [0.5, 0.5, 0.5]], np.float32)
    ranker = LambdaMartRanker(RrfRanker(), model)
    ranked = ranker.rank(plain_query("q"), Context(), {}, features=_features(x))
    assert ranked[0].entity_id == "e1" and len(ranked) == 3  # the largest signal first
    assert ranked[0].provenance == {"lexical": (2, 1.0)}  # provenance kept from the merge


def test_without_a_model_or_with_other_features_the_fallback_ranks() -> None:
    lists = {"lexical": [Candidate(EntityId("a"), 2.0), Candidate(EntityId("b"), 1.0)]}
    ranker = LambdaMartRanker(RrfRanker())
    expected = RrfRanker().rank(plain_query("q"), Context(), lists)
    assert ranker.rank(plain_query("q"), Context(), lists) == expected
    ranker.swap(fit(_groups(100, 1), PARAMS, NAMES, PRINT, debias="none"), "v0001")
    other = _features(np.zeros((2, 3)), fingerprint="another")
    assert ranker.rank(plain_query("q"), Context(), lists, features=other) == expected


def test_a_model_of_another_feature_set_is_refused_with_both_named() -> None:
    model = fit(_groups(100, 2), PARAMS, NAMES, PRINT, debias="none")
    served = (*NAMES, "new.feature")
    with pytest.raises(StorageError, match=r"new: \['new.feature'\].*ltrr train"):
        model.check_features(fingerprint_of(served), served)


@pytest.mark.parametrize("debias", ["none", "position", "ipw"])
def test_every_debias_mode_trains_a_working_model(debias: str) -> None:
    groups = _groups(300, 3)
    theta = 1.0 / np.arange(1, 12)
    model = fit(groups, PARAMS, NAMES, PRINT, theta=theta, debias=debias)
    held = _groups(100, 4)
    hits = [np.argmax(model.predict(g.x)) == np.argmax(g.label) for g in held]
    assert np.mean(hits) > 0.8


def test_registry_keeps_every_version_and_rollback_restores_the_exact_model(
    tmp_path: Path,
) -> None:
    registry = ModelRegistry(tmp_path / "models")
    first = fit(_groups(200, 5), PARAMS, NAMES, PRINT, debias="none")
    second = fit(_groups(200, 6), PARAMS, NAMES, PRINT, debias="position")
    v1 = registry.add(first, {"n_groups": 200}, accepted=True)
    v2 = registry.add(second, {"n_groups": 200}, accepted=True)
    v3 = registry.add(second, {"n_groups": 200}, accepted=False)
    assert (v1, v2, v3) == ("v0001", "v0002", "v0003")
    assert registry.current() == v2
    assert [(i.version, i.accepted) for i in registry.versions()] == [
        (v1, True),
        (v2, True),
        (v3, False),
    ]
    x = np.random.default_rng(7).random((50, 3)).astype(np.float32)
    assert registry.rollback() == v1
    restored = registry.load(v1)
    np.testing.assert_array_equal(restored.predict(x), first.predict(x))
    assert registry.rollback() is None and registry.current() is None
    with pytest.raises(StorageError, match="nothing to roll back"):
        registry.rollback()


def test_a_damaged_model_file_is_an_error_naming_it(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path / "models")
    version = registry.add(fit(_groups(100, 8), PARAMS, NAMES, PRINT), {}, accepted=True)
    (registry.root / version / "model.txt").write_text("tree\n")
    with pytest.raises(StorageError, match=r"model.txt: missing or corrupt"):
        registry.load(version)


def test_a_worse_candidate_is_refused_and_a_better_one_accepted(tmp_path: Path) -> None:
    good = fit(_groups(300, 9), PARAMS, NAMES, PRINT, debias="none")
    recent = _groups(300, 10)
    _, refused = train_ranker(_groups(300, 11, flip=True) + recent, PARAMS, NAMES, PRINT, good)
    assert not refused.accepted and refused.validation["difference"] < 0
    assert "worse" in refused.reason
    model, accepted = train_ranker(_groups(300, 12) + recent, PARAMS, NAMES, PRINT, None)
    assert accepted.accepted and accepted.validation["difference"] > 0
    registry = ModelRegistry(tmp_path / "models")
    register(registry, model, refused)
    assert registry.current() is None  # a refused model is stored, never served


def test_a_tiny_log_says_so() -> None:
    with pytest.raises(Exception, match=r"only 10 impressions.*min_groups"):
        train_ranker(_groups(10, 13), PARAMS, NAMES, PRINT, None)


def test_the_model_reorders_the_featurized_top_and_the_rest_follow_in_order() -> None:
    model = fit(_groups(300, 14), PARAMS, NAMES, PRINT, debias="none")
    ranker = LambdaMartRanker(RrfRanker(), model)
    merged = [Fused(EntityId(f"e{i}"), 1.0 / (i + 1), {"lexical": (i + 1, 1.0)}) for i in range(5)]
    x = np.array([[0.1, 0.5, 0.5], [0.2, 0.5, 0.5], [0.9, 0.5, 0.5]], np.float32)
    features = CandidateFeatures(tuple(merged[:3]), x, PRINT)
    ranked = ranker.rerank(merged, features, None)
    assert ranked[0].entity_id == "e2" and {f.entity_id for f in ranked[:3]} == {"e0", "e1", "e2"}
    assert [f.entity_id for f in ranked[3:]] == ["e3", "e4"]
    assert [f.score for f in ranked] == sorted((f.score for f in ranked), reverse=True)
    assert [f.entity_id for f in ranker.rerank(merged, features, 2)] == [
        f.entity_id for f in ranked[:2]
    ]
    ranker.swap(None)
    assert ranker.rerank(merged, features, None) == merged  # no model: the fallback's order


def _mixed(n_head: int, n_tail: int, seed: int) -> list[TrainingGroup]:
    """One head query repeated ``n_head`` times, whose clicks follow feature 1, and
    ``n_tail`` distinct queries, whose clicks follow feature 0."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_head + n_tail):
        x = rng.random((10, 3)).astype(np.float32)
        head = i < n_head
        label = np.zeros(10, np.int32)
        label[np.argmax(x[:, 1] if head else x[:, 0])] = 1
        query = "head" if head else f"tail {i}"
        out.append(TrainingGroup(f"r{i}", x, label, np.arange(1, 11, dtype=np.int32), query))
    return out


def test_inverse_query_weights_let_the_distinct_queries_teach_as_much_as_the_head() -> None:
    groups = _mixed(3000, 150, 21)
    tail = _mixed(0, 400, 22)
    hits = {}
    for rule in ("none", "inverse"):
        params = LambdaMartParams(query_weight=rule, n_trees=60)
        model = fit(groups, params, NAMES, PRINT, debias="none")
        hits[rule] = np.mean([g.label[np.argmax(model.predict(g.x))] for g in tail])
    assert hits["inverse"] > hits["none"] + 0.1, hits


def test_an_unknown_query_weight_is_a_config_error() -> None:
    with pytest.raises(Exception, match=r"query_weight must be one of none, inverse"):
        LambdaMartParams(query_weight="sqrt")

"""Every registered ranker through the same checks (STYLE.md: one suite per contract)."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import numpy as np
import pytest

from ltrr.config import load_config
from ltrr.rank import RANKERS, Ranker, make_ranker
from ltrr.rank.base import RankFeedback
from ltrr.rank.features import CandidateFeatures, Featurizer
from ltrr.rank.lambdamart import LambdaMartParams, LambdaMartRanker, fit
from ltrr.rank.training import group_of
from ltrr.retrieve.base import Candidate
from ltrr.types import Context, EntityId
from ltrr.understand.base import plain_query

LISTS = {
    "lexical": [Candidate(EntityId(e), 3.0 - i) for i, e in enumerate("abcd")],
    "dense": [Candidate(EntityId(e), 0.9 - i / 10) for i, e in enumerate("ceaf")],
    "fuzzy": [Candidate(EntityId(e), 1.0) for e in "gb"],
    "memory": [],
}


#: The features every ranker is handed (only ``lambdamart`` reads them): provenance columns,
#: no catalog (no text index), as a featurizer over these four strategies computes them.
FEATURIZER = Featurizer(sorted(LISTS))


def _features(lists: Mapping[str, Sequence[Candidate]]) -> CandidateFeatures:
    return FEATURIZER(plain_query("q1"), Context(), lists, 0.0)


def _trained(name: str) -> Ranker:
    ranker = make_ranker(load_config(), name)
    groups = []
    for i in range(300):  # past one refit of the default period
        lists = {s: [c.entity_id for c in cs] for s, cs in LISTS.items()}
        scores = {s: [c.score for c in cs] for s, cs in LISTS.items()}
        wanted = lists["lexical"][i % 4]
        ranker.update(RankFeedback(plain_query(f"q{i % 7}"), lists, wanted, scores))
        features = _features(LISTS)
        acted = np.array([e == wanted for e in features.ids])
        groups.append(group_of(f"r{i}", features.x, 0, 10, acted, beyond=11))
    if isinstance(ranker, LambdaMartRanker):  # and a model serves, trained on those lessons
        params = LambdaMartParams(n_trees=20, min_data_in_leaf=5)
        ranker.swap(fit(groups, params, FEATURIZER.names, FEATURIZER.fingerprint), "v0001")
    return ranker


@pytest.fixture(params=sorted(RANKERS))
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_every_candidate_once_best_first_with_provenance(name: str) -> None:
    fused = _trained(name).rank(plain_query("q1"), Context(), LISTS, features=_features(LISTS))
    ids = [f.entity_id for f in fused]
    assert sorted(ids) == sorted({c.entity_id for cs in LISTS.values() for c in cs})
    assert [f.score for f in fused] == sorted((f.score for f in fused), reverse=True)
    for f in fused:
        for strategy, (rank, score) in f.provenance.items():
            assert LISTS[strategy][rank - 1] == Candidate(f.entity_id, score)


def test_depth_order_independence_and_inputs_unchanged(name: str) -> None:
    ranker = _trained(name)
    before = copy.deepcopy(LISTS)
    first = ranker.rank(plain_query("q1"), Context(), LISTS, depth=3, features=_features(LISTS))
    flipped = dict(reversed(LISTS.items()))
    again = ranker.rank(plain_query("q1"), Context(), flipped, depth=3, features=_features(flipped))
    assert len(first) == 3 and first == again
    assert before == LISTS


def test_same_updates_same_ranking(name: str) -> None:
    a = _trained(name).rank(plain_query("q2"), Context(), LISTS, features=_features(LISTS))
    b = _trained(name).rank(plain_query("q2"), Context(), LISTS, features=_features(LISTS))
    assert a == b


def test_empty_input_and_name(name: str) -> None:
    ranker = make_ranker(load_config(), name)
    assert ranker.name == name and isinstance(ranker, Ranker)
    assert ranker.rank(plain_query(""), Context(), {}) == []
    assert ranker.update(RankFeedback(plain_query(""), {}, None)) is None

"""The feature memo: a repeated query's (query, entity) columns are remembered, the rows are
exactly those computed afresh, and a catalog change empties it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ltrr.config import Config
from ltrr.rank.feature_memo import FeatureMemo
from ltrr.rank.features import Featurizer
from ltrr.retrieve.base import Candidate
from ltrr.retrieve.indexes import IndexSet
from ltrr.storage.datadir import DataDir
from ltrr.types import Context, Entity, EntityId
from ltrr.understand.base import plain_query

STRATEGIES = ["lexical", "fuzzy"]


def _e(i: str, title: str, popularity: float = 1.0) -> Entity:
    return Entity(id=EntityId(i), type="track", title=title, popularity=popularity)


def _lists(ids: str) -> dict[str, list[Candidate]]:
    return {"lexical": [Candidate(EntityId(e), 2.0 - i / 10) for i, e in enumerate(ids)]}


def _fresh(indexes: IndexSet) -> Featurizer:
    assert indexes.text is not None
    return Featurizer(STRATEGIES, indexes.text)


def test_remembered_rows_equal_rows_computed_afresh(tmp_path: Path, config: Config) -> None:
    with DataDir(tmp_path, config, writer=True) as dd:
        with dd.catalog.change() as change:
            change.upsert([_e("a", "Love Story", 5), _e("b", "Night Drive"), _e("c", "Love Song")])
        indexes = IndexSet.open(dd, STRATEGIES)
        memo = _fresh(indexes)
        query, taste = plain_query("love song"), Context(taste={"pop": 1.0})
        for ids, context, t in (("abc", Context(), 100.0), ("cbx", taste, 9e8), ("ca", taste, 0)):
            lists = _lists(ids)
            got = memo(query, context, lists, t)
            want = _fresh(indexes)(query, context, lists, t)
            assert got.ids == want.ids
            np.testing.assert_array_equal(got.x, want.x)  # NaN where NaN, to the bit
        assert memo.memo is not None
        assert memo.memo.hits == 4 and memo.memo.misses == 4  # c, b; then a (and unknown x)
        other = memo(plain_query("night"), Context(), _lists("b"), 0.0)  # another query
        assert memo.memo.misses == 5
        np.testing.assert_array_equal(
            other.x, _fresh(indexes)(plain_query("night"), Context(), _lists("b"), 0.0).x
        )


def test_a_catalog_change_empties_the_memo(tmp_path: Path, config: Config) -> None:
    with DataDir(tmp_path, config, writer=True) as dd:
        with dd.catalog.change() as change:
            change.upsert([_e("a", "Love Story"), _e("b", "Night Drive")])
        indexes = IndexSet.open(dd, STRATEGIES)
        featurizer = _fresh(indexes)
        query, lists = plain_query("night drive"), _lists("ab")
        before = featurizer(query, Context(), lists, 0.0)
        with dd.catalog.change() as change:
            change.upsert([_e("a", "Night Drive Home", popularity=50)])
        indexes.catch_up(dd.catalog)
        after = featurizer(query, Context(), lists, 0.0)
        np.testing.assert_array_equal(after.x, _fresh(indexes)(query, Context(), lists, 0.0).x)
        column = featurizer.names.index("title.bm25")
        assert np.isnan(before.x[0, column]) or before.x[0, column] == 0.0
        assert after.x[0, column] > 0.0  # "a" now matches: not the remembered row


def test_the_memo_keeps_at_most_its_rows() -> None:
    memo = FeatureMemo(n_columns=1, max_rows=4)
    calls: list[list[str]] = []

    def compute(ids: object) -> np.ndarray:
        calls.append(list(ids))  # type: ignore[call-overload]
        return np.arange(len(calls[-1]), dtype=np.float64)[:, None]

    ids = [EntityId(e) for e in "abc"]
    memo.columns(1, "q1", ids, compute)
    memo.columns(1, "q2", ids, compute)  # 6 rows > 4: q1 (least recent) is dropped
    memo.columns(1, "q2", ids[:1], compute)
    memo.columns(1, "q1", ids[:1], compute)
    assert calls == [["a", "b", "c"], ["a", "b", "c"], ["a"]]
    memo.columns(2, "q1", ids[:1], compute)  # another catalog version: computed again
    assert len(calls) == 4


def test_one_query_cannot_hold_more_than_the_bound() -> None:
    memo = FeatureMemo(n_columns=1, max_rows=4)

    def compute(ids: object) -> np.ndarray:
        return np.zeros((len(ids), 1))  # type: ignore[arg-type]

    for n in range(10):  # new candidates every time, as exploration brings
        got = memo.columns(1, "q", [EntityId(f"{n}-{i}") for i in range(3)], compute)
        assert got.shape == (3, 1)
        assert memo._rows <= 4

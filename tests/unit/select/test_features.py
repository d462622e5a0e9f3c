"""The policy's feature vector: fixed length, named columns, hand-computed values, no crashes."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

from ltrr.errors import ConfigError
from ltrr.select import SelectParams
from ltrr.select.base import Probe
from ltrr.select.features import PROBE_NAMES, FeatureMap, FeatureParams, bucket
from ltrr.types import Context
from ltrr.understand.base import UnderstoodQuery, plain_query
from ltrr.understand.features import FEATURE_NAMES


def _query(**values: float) -> UnderstoodQuery:
    names = tuple(values)
    return UnderstoodQuery(
        raw="q",
        tokens=("q",),
        corrected_tokens=("q",),
        features=tuple(values.values()),
        feature_names=names,
    )


def _column(fmap: FeatureMap, x: np.ndarray, name: str) -> float:
    return float(x[fmap.names.index(name)])


def test_layout_is_fixed_and_named() -> None:
    fmap = FeatureMap(FeatureParams(probe=""))
    assert len(fmap) == len(fmap.names) == 1 + len(FEATURE_NAMES) + 3 * 8 + 2 + 4 == 50
    assert len(set(fmap.names)) == len(fmap.names)
    assert fmap.names[0] == "bias"
    assert (
        len(FeatureMap(FeatureParams(context_buckets=3, probe=""))) == 1 + len(FEATURE_NAMES) + 15
    )
    x = fmap.vector(plain_query(""), Context())
    assert x.shape == (50,) and x.dtype == np.float64
    assert x[0] == 1.0 and not x[1:].any()
    assert FeatureMap().names == (*fmap.names, *PROBE_NAMES)  # the default probes lexical


def test_query_features_are_read_by_name_and_counts_squashed() -> None:
    fmap = FeatureMap()
    x = fmap.vector(_query(intent_topic=0.7, n_tokens=16.0, n_chars=3.0), Context())
    assert _column(fmap, x, "q:intent_topic") == pytest.approx(0.7)
    assert _column(fmap, x, "q:n_tokens") == pytest.approx(1.0)  # log1p(16) / log1p(16)
    assert _column(fmap, x, "q:n_chars") == pytest.approx(math.log1p(3) / math.log1p(128))
    # the order in which the understand stage lists its features does not matter
    same = fmap.vector(_query(n_chars=3.0, n_tokens=16.0, intent_topic=0.7), Context())
    assert (x == same).all()


@pytest.mark.parametrize(
    ("value", "expected"),
    [(math.nan, 0.0), (math.inf, 3.0), (-math.inf, -3.0), (1e12, 3.0), (-7.0, -3.0)],
)
def test_bad_query_values_are_cleaned(value: float, expected: float) -> None:
    fmap = FeatureMap()
    x = fmap.vector(_query(mean_idf=value), Context())
    assert _column(fmap, x, "q:mean_idf") == expected
    assert np.isfinite(x).all()


def test_context_fields_are_one_hot_hashed() -> None:
    fmap = FeatureMap()
    x = fmap.vector(plain_query("a"), Context(segment="premium", locale="de-DE"))
    b = zlib.crc32(b"premium") % 8
    assert bucket("premium", 8) == b
    assert _column(fmap, x, f"segment:{b}") == 1.0
    seg = [n for n in fmap.names if n.startswith("segment:")]
    dev = [n for n in fmap.names if n.startswith("device:")]
    assert sum(_column(fmap, x, n) for n in seg) == 1.0
    assert sum(_column(fmap, x, n) for n in dev) == 0.0  # unknown device: all zero


def test_hour_is_on_the_unit_circle() -> None:
    fmap = FeatureMap()

    def hour(h: int | None) -> tuple[float, float]:
        x = fmap.vector(plain_query("a"), Context(hour=h))
        return _column(fmap, x, "hour_sin"), _column(fmap, x, "hour_cos")

    assert hour(0) == pytest.approx((0.0, 1.0))
    assert hour(6) == pytest.approx((1.0, 0.0))
    assert hour(24) == pytest.approx(hour(0))
    assert hour(None) == (0.0, 0.0)


def test_taste_summary_by_hand() -> None:
    fmap = FeatureMap()
    x = fmap.vector(plain_query("a"), Context(user_id="u1", taste={"jazz": 0.6, "rock": 0.2}))
    p = np.array([0.75, 0.25])
    assert _column(fmap, x, "has_user") == 1.0
    assert _column(fmap, x, "taste_n") == pytest.approx(math.log1p(2) / math.log1p(32))
    assert _column(fmap, x, "taste_max") == pytest.approx(0.6)
    assert _column(fmap, x, "taste_entropy") == pytest.approx(-(p * np.log(p)).sum() / math.log(2))
    one = fmap.vector(plain_query("a"), Context(taste={"jazz": 5.0}))
    assert _column(fmap, one, "taste_max") == 1.0 and _column(fmap, one, "taste_entropy") == 0.0


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "x" * 10_000,
        "a\x00b\x07c",
        "Ünïcödé ταυ 東京",
        "🎵🎶 love",
        "\ud800 lone surrogate",
    ],
)
def test_hostile_inputs_give_finite_vectors(text: str) -> None:
    fmap = FeatureMap()
    ctx = Context(segment=text, locale=text, device=text, hour=-5, taste={text: math.nan})
    x = fmap.vector(plain_query(text), ctx)
    assert x.shape == (len(fmap),) and np.isfinite(x).all()


def test_bad_params_are_rejected() -> None:
    with pytest.raises(ConfigError, match="context_buckets must be >= 1, got 0"):
        FeatureParams(context_buckets=0)


def test_probe_columns_by_hand() -> None:
    """Seven query-performance columns from the probe's scores, after the taste summary."""
    fmap = FeatureMap(FeatureParams(probe="lexical", probe_depth=4))
    assert len(fmap) == 50 + 7 and fmap.names[-7:] == PROBE_NAMES
    query = UnderstoodQuery(raw="a b", tokens=("a", "b"), corrected_tokens=("a", "b"))
    taste = Context(user_id="u", taste={"rock": 1.0})
    x = fmap.vector(query, taste, probe=(2.0, 8.0, 4.0))  # unsorted on purpose
    got = {n: _column(fmap, x, n) for n in PROBE_NAMES}
    s = np.array([8.0, 4.0, 2.0])
    assert got == pytest.approx(
        {
            "probe:ran": 1.0,
            "probe:filled": 3 / 4,
            "probe:top": math.log1p(8.0) / math.log1p(32.0),
            "probe:top_per_term": math.log1p(8.0 / 2) / math.log1p(8.0),
            "probe:gap": 0.5,
            "probe:drop": 0.75,
            "probe:spread": s.std() / s.mean(),
        }
    )
    assert _column(fmap, x, "has_user") == 1.0  # the taste columns are where they were
    np.testing.assert_array_equal(x[:50], FeatureMap(FeatureParams(probe="")).vector(query, taste))


def test_a_probe_that_found_nothing_differs_from_no_probe() -> None:
    fmap = FeatureMap(FeatureParams(probe="lexical"))
    none = fmap.vector(plain_query("zzz"), Context())
    empty = fmap.vector(plain_query("zzz"), Context(), probe=())
    assert not none[-7:].any()
    assert empty[-7:].tolist() == [1.0, 0, 0, 0, 0, 0, 0]
    huge = fmap.vector(plain_query("x"), Context(), probe=(1e300, float("nan"), -5.0))
    assert np.isfinite(huge).all() and (np.abs(huge) <= 3.0).all()


def test_a_probe_runs_only_where_every_plan_runs_it(caplog: pytest.LogCaptureFixture) -> None:
    select = SelectParams(strategies=("lexical", "dense", "memory"), depths=(10, 50))
    lexical = FeatureMap(FeatureParams(probe="lexical", probe_depth=10))
    assert lexical.usable_probe(select, ("lexical",)) == Probe("lexical", 10)
    assert lexical.usable_probe(select, ()) is None  # no anchors: plans may skip lexical
    assert "planning without a probe" in caplog.text
    memory = FeatureMap(FeatureParams(probe="memory"))
    assert memory.usable_probe(select, ("lexical",)) is None
    closed = SelectParams(strategies=("dense", "memory"), depths=(10, 50))
    assert lexical.usable_probe(closed, ("lexical", "dense")) is None
    assert len(memory) == len(lexical)  # the columns stay, at 0: the vector keeps its layout
    with pytest.raises(ConfigError, match=r"probe_depth = 25 must be at most .* \(10\)"):
        FeatureMap(FeatureParams(probe="lexical", probe_depth=25)).usable_probe(
            select, ("lexical",)
        )
    with pytest.raises(ConfigError, match="probe_depth must be >= 1"):
        FeatureParams(probe="lexical", probe_depth=0)


def _numpy_probe(scores: list[float], depth: int, n_tokens: float) -> np.ndarray:
    """The probe columns as numpy states them (the module's formulas, vectorised)."""
    raw = np.nan_to_num(np.asarray(scores[:depth], dtype=np.float64), posinf=1e9)
    s = np.sort(np.clip(raw, 0.0, 1e9))[::-1]
    out = np.zeros(len(PROBE_NAMES))
    out[0] = 1.0
    if not len(s) or s[0] <= 0.0:
        return out
    top = s[0]
    out[1:] = [
        len(s) / depth, math.log1p(top) / math.log1p(32.0),
        math.log1p(top / max(n_tokens, 1.0)) / math.log1p(8.0),
        (top - s[1]) / top if len(s) > 1 else 1.0, (top - s[-1]) / top,
        s.std() / s.mean() if s.mean() > 0 else 0.0,
    ]  # fmt: skip
    return np.clip(out, -3.0, 3.0)


@pytest.mark.parametrize("seed", range(20))
def test_probe_and_taste_columns_equal_their_numpy_statement(seed: int) -> None:
    """The scalar code against numpy, over scores and tastes with NaN, infinities, negatives
    and ties."""
    rng = np.random.default_rng(seed)
    pool = [math.nan, math.inf, -math.inf, -1.0, 0.0, 2.0, 2.0, 40.0, 1e12]
    scores = [float(v) for v in rng.choice(pool + list(rng.uniform(0, 30, 5)), rng.integers(0, 14))]
    fmap = FeatureMap(FeatureParams(probe="lexical", probe_depth=10))
    x = fmap.vector(plain_query("a b c"), Context(), scores)
    assert np.allclose(
        x[-len(PROBE_NAMES) :], _numpy_probe(scores, 10, 3.0), rtol=1e-12, atol=1e-12
    )
    taste = {f"g{i}": float(v) for i, v in enumerate(rng.choice([*pool[:6], 0.3, 0.7], 4))}
    values = np.clip(np.nan_to_num(np.array(list(taste.values()))), 0.0, 1.0)
    x = fmap.vector(plain_query("a"), Context(user_id="u", taste=taste))
    at = fmap.names.index("taste_max")
    assert x[at] == pytest.approx(values.max())
    p = values[values > 0] / values.sum() if values.sum() > 0 else np.zeros(0)
    entropy = float(-(p * np.log(p)).sum() / math.log(len(values))) if len(p) else 0.0
    assert x[at + 1] == pytest.approx(entropy, abs=1e-12)

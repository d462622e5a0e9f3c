"""The bandit's feature vector: stable names, values computed by hand."""

from __future__ import annotations

import pytest

from ltrr.understand.base import Span
from ltrr.understand.features import FEATURE_NAMES, query_features

#: Policies store weights by these names: renaming or reordering breaks saved policies.
STABLE_NAMES = (
    "n_tokens", "n_chars", "tagged_coverage", "entity_coverage", "attribute_coverage",
    "has_type", "correction_distance", "has_correction", "corrected_share",
    "intent_spearfish", "intent_topic", "intent_broad", "max_entity_confidence",
    "max_attribute_confidence", "n_entity_spans", "mean_idf", "min_idf", "oov_share",
    "has_digits",
)  # fmt: skip


def test_names_are_stable_and_unique() -> None:
    assert FEATURE_NAMES == STABLE_NAMES
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)


def test_values_by_hand() -> None:
    spans = [
        Span(0, 2, "type", "track", "track", 0.95),
        Span(2, 4, "entity", "artist", "taylor swift", 0.8),
    ]
    scores = {"spearfish": 0.7, "topic": 0.1, "broad": 0.2}
    values = query_features(
        ["songs", "by", "tayler", "swift2"], [0, 0, 1, 0], spans, scores, [0.2, 0.4, 0.6, 1.0], 1
    )
    assert len(values) == len(FEATURE_NAMES)
    got = dict(zip(FEATURE_NAMES, values, strict=True))
    assert got == pytest.approx(
        {
            "n_tokens": 4, "n_chars": 22, "tagged_coverage": 1.0, "entity_coverage": 0.5,
            "attribute_coverage": 0.0, "has_type": 1.0, "correction_distance": 1.0,
            "has_correction": 1.0, "corrected_share": 0.25, "intent_spearfish": 0.7,
            "intent_topic": 0.1, "intent_broad": 0.2, "max_entity_confidence": 0.8,
            "max_attribute_confidence": 0.0, "n_entity_spans": 1.0, "mean_idf": 0.55,
            "min_idf": 0.2, "oov_share": 0.25, "has_digits": 1.0,
        }
    )  # fmt: skip


def test_empty_query_has_a_full_vector() -> None:
    values = query_features([], [], [], {"broad": 1.0}, [], 0)
    assert len(values) == len(FEATURE_NAMES)
    assert dict(zip(FEATURE_NAMES, values, strict=True))["intent_broad"] == 1.0
    assert all(v == 0.0 for n, v in zip(FEATURE_NAMES, values, strict=True) if n != "intent_broad")

"""Intent scores from spans, checked against hand-computed values."""

from __future__ import annotations

import pytest

from ltrr.understand.base import Span
from ltrr.understand.intent import IntentParams, classify

P = IntentParams()


def _entity(start: int, end: int, confidence: float) -> Span:
    return Span(start, end, "entity", "artist", "x", confidence)


def _attribute(start: int, end: int, confidence: float, label: str = "genre") -> Span:
    return Span(start, end, "attribute", label, "x", confidence)


def _type(start: int, end: int, confidence: float) -> Span:
    return Span(start, end, "type", "track", "track", confidence)


@pytest.mark.parametrize(
    ("spans", "idfs", "label", "raw"),
    [
        # an exact two-token name: spearfish 0.8, broad 0.1 + (1 - 0.8)
        ([_entity(0, 2, 0.8)], [0.7, 0.8], "spearfish", (0.8, 0.0, 0.3)),
        # "chill playlist": topic (0.9 + 0.95) / 2, broad 0.1 + 0
        ([_attribute(0, 1, 0.9), _type(1, 2, 0.95)], [0.5, 0.6], "topic", (0.0, 0.925, 0.175)),
        # "songs by taylor swift": the type words join the name
        ([_type(0, 2, 0.95), _entity(2, 4, 0.8)], [0.5] * 4, "spearfish", (0.875, 0.0, 0.225)),
        # "love": a weak one-word name and a common word
        ([_entity(0, 1, 0.4)], [0.3], "broad", (0.4, 0.0, 0.1 + 0.6 + 0.5)),
        # nothing tagged
        ([], [0.9, 0.9], "broad", (0.0, 0.0, 1.1)),
        # two readings of one token count once
        ([_attribute(0, 1, 0.9), _attribute(0, 1, 0.9, "subgenre")], [0.5], "topic",
         (0.0, 0.9, 0.2)),
    ],
)  # fmt: skip
def test_scores(
    spans: list[Span], idfs: list[float], label: str, raw: tuple[float, float, float]
) -> None:
    got_label, scores = classify(spans, idfs, P)
    total = sum(raw)
    assert got_label == label
    assert scores == pytest.approx(
        {"spearfish": raw[0] / total, "topic": raw[1] / total, "broad": raw[2] / total}
    )
    assert sum(scores.values()) == pytest.approx(1.0)


def test_empty_query_is_broad() -> None:
    assert classify([], [], P) == ("broad", {"spearfish": 0.0, "topic": 0.0, "broad": 1.0})


def test_type_words_alone_are_topic() -> None:
    label, scores = classify([_type(0, 1, 0.95)], [0.4], P)
    assert label == "topic" and scores["topic"] > 0.8


def test_type_can_count_as_topic_even_with_a_name() -> None:
    params = IntentParams(type_joins_entity=False)
    _, scores = classify([_type(0, 2, 0.95), _entity(2, 4, 0.8)], [0.5] * 4, params)
    assert scores["topic"] == pytest.approx(0.475 / (0.4 + 0.475 + 0.225))

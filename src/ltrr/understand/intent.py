"""A prior on what a query wants: one item (spearfish), a kind of item (topic), or anything (broad).

Transparent scoring from the tagged spans, each span weighted by its confidence times the share
of the query's tokens it covers:

- ``spearfish`` = entity-name coverage (type words count here too when a name is present:
  "songs by taylor swift" seeks one artist's work);
- ``topic`` = attribute-value and type-word coverage ("chill jazz playlist");
- ``broad`` = ``broad_prior`` + the share left unexplained, ``1 - min(1, spearfish + topic)``,
  plus ``common_word_bonus`` for a one-token query whose idf is below ``common_word_max_idf``
  ("love": a title of dozens of songs, yet a word of thousands).

The three are normalised to sum to 1; the label is the largest (ties in the order spearfish,
topic, broad). This is a heuristic prior for the bandit's features, not a trained classifier.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ltrr.understand.base import INTENTS, Intent, Span


@dataclass(frozen=True, slots=True)
class IntentParams:
    """``[understand.intent]``: the weights of the rules above."""

    broad_prior: float = 0.1
    common_word_max_idf: float = 0.35
    common_word_bonus: float = 0.5
    type_joins_entity: bool = True


def _coverage(spans: Sequence[Span], n_tokens: int) -> float:
    """Sum of confidence x covered share; equal-extent readings count once (the best)."""
    best: dict[tuple[int, int], float] = {}
    for s in spans:
        best[(s.start, s.end)] = max(best.get((s.start, s.end), 0.0), s.confidence)
    return sum(c * (end - start) for (start, end), c in best.items()) / n_tokens


def classify(
    spans: Sequence[Span], idfs: Sequence[float], params: IntentParams
) -> tuple[Intent, dict[str, float]]:
    """The intent label and its scores (summing to 1) for a query of ``len(idfs)`` tokens."""
    n = len(idfs)
    if n == 0:
        return "broad", {"spearfish": 0.0, "topic": 0.0, "broad": 1.0}
    entity = _coverage([s for s in spans if s.kind == "entity"], n)
    attribute = _coverage([s for s in spans if s.kind == "attribute"], n)
    type_ = _coverage([s for s in spans if s.kind == "type"], n)
    if params.type_joins_entity and entity > 0:
        entity += type_
    else:
        attribute += type_
    spearfish, topic = min(1.0, entity), min(1.0, attribute)
    broad = params.broad_prior + max(0.0, 1.0 - min(1.0, spearfish + topic))
    if n == 1 and idfs[0] < params.common_word_max_idf:
        broad += params.common_word_bonus
    total = spearfish + topic + broad
    scores = {"spearfish": spearfish / total, "topic": topic / total, "broad": broad / total}
    label = max(INTENTS, key=lambda k: (scores[k], -INTENTS.index(k)))
    return label, scores

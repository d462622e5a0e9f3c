"""The numeric description of a query that the bandit reads, with stable names.

One code path computes it for serving and for training (replaying logged queries), so the
two cannot drift. Names are fixed: a policy stores weights per name, and a new feature is
appended at the end with a new name, never inserted or renamed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ltrr.understand.base import Span

FEATURE_NAMES: tuple[str, ...] = (
    "n_tokens",  # tokens after normalisation (capped at understand.max_tokens)
    "n_chars",  # characters of the normalised text
    "tagged_coverage",  # share of tokens inside any tagged span
    "entity_coverage",  # share of tokens inside entity-name spans
    "attribute_coverage",  # share of tokens inside attribute-value spans
    "has_type",  # 1 if a type word ("playlist", "songs by") was tagged
    "correction_distance",  # total edits made by spelling correction
    "has_correction",  # 1 if any token was corrected
    "corrected_share",  # share of tokens corrected
    "intent_spearfish",
    "intent_topic",
    "intent_broad",
    "max_entity_confidence",  # 0 without an entity span
    "max_attribute_confidence",  # 0 without an attribute span
    "n_entity_spans",
    "mean_idf",  # mean scaled idf (0..1) of the corrected tokens; 1 for an unknown word
    "min_idf",  # idf of the most common corrected token
    "oov_share",  # share of typed tokens the catalog does not know (before correction)
    "has_digits",  # 1 if a token holds a digit (years, "2", "22")
)


def _covered(spans: Sequence[Span], kinds: tuple[str, ...]) -> set[int]:
    return {i for s in spans if s.kind in kinds for i in range(s.start, s.end)}


def _max_confidence(spans: Sequence[Span], kind: str) -> float:
    return max((s.confidence for s in spans if s.kind == kind), default=0.0)


def query_features(
    tokens: Sequence[str],
    distances: Sequence[int],
    spans: Sequence[Span],
    intent_scores: Mapping[str, float],
    idfs: Sequence[float],
    n_unknown: int,
) -> tuple[float, ...]:
    """The vector named by ``FEATURE_NAMES`` (``tokens`` as typed; ``idfs`` after correction)."""
    n = len(tokens)
    share = 1.0 / n if n else 0.0
    n_corrected = sum(1 for d in distances if d)
    values = (
        float(n),
        float(len(" ".join(tokens))),
        len(_covered(spans, ("entity", "attribute", "type"))) * share,
        len(_covered(spans, ("entity",))) * share,
        len(_covered(spans, ("attribute",))) * share,
        float(any(s.kind == "type" for s in spans)),
        float(sum(distances)),
        float(n_corrected > 0),
        n_corrected * share,
        float(intent_scores.get("spearfish", 0.0)),
        float(intent_scores.get("topic", 0.0)),
        float(intent_scores.get("broad", 1.0 if not n else 0.0)),
        _max_confidence(spans, "entity"),
        _max_confidence(spans, "attribute"),
        float(sum(1 for s in spans if s.kind == "entity")),
        sum(idfs) / len(idfs) if idfs else 0.0,
        min(idfs, default=0.0),
        n_unknown * share,
        float(any(c.isdigit() for t in tokens for c in t)),
    )
    return values

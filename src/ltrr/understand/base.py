"""What the understand stage hands to every later stage.

Retrievers receive an ``UnderstoodQuery`` and never re-parse the raw string, so normalisation,
spelling correction and tagging happen exactly once per request.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Intent = Literal["spearfish", "topic", "broad"]
INTENTS: tuple[Intent, ...] = ("spearfish", "topic", "broad")

SpanKind = Literal["entity", "attribute", "type"]


@dataclass(frozen=True, slots=True)
class Span:
    """A tagged run of corrected tokens ``[start, end)``.

    ``kind`` says what it is: an entity name (``label`` = the entity type, e.g. "artist"), an
    attribute value (``label`` = the attribute, e.g. "genre"; ``value`` = the catalog's value) or
    a type word (``label`` = the entity type it asks for: "playlist" for "playlist", "track"
    for "songs by").
    """

    start: int
    end: int
    kind: SpanKind
    label: str
    value: str
    confidence: float


@dataclass(frozen=True, slots=True)
class UnderstoodQuery:
    """A query after normalisation, correction, tagging and intent classification.

    ``tokens`` are the folded tokens of ``raw``; ``corrected_tokens`` replace misspelled ones
    by catalog vocabulary (equal to ``tokens`` when nothing was corrected);
    ``correction_distance`` is the total edit distance of those replacements. ``features`` is
    the numeric vector the bandit reads, named by ``feature_names``.
    """

    raw: str
    tokens: tuple[str, ...]
    corrected_tokens: tuple[str, ...]
    correction_distance: int = 0
    spans: tuple[Span, ...] = ()
    intent: Intent = "broad"
    intent_scores: Mapping[str, float] = field(default_factory=dict)
    features: tuple[float, ...] = ()
    feature_names: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """The normalised text as typed."""
        return " ".join(self.tokens)

    @property
    def corrected(self) -> str:
        """The normalised, spelling-corrected text."""
        return " ".join(self.corrected_tokens)

    @property
    def is_empty(self) -> bool:
        return not self.tokens

    def spans_of(self, kind: SpanKind) -> tuple[Span, ...]:
        return tuple(s for s in self.spans if s.kind == kind)


def plain_query(raw: str) -> UnderstoodQuery:
    """A query understood only as far as normalisation: for retrievers used alone and tests."""
    from ltrr.understand.text import tokenize

    tokens = tuple(tokenize(raw))
    return UnderstoodQuery(raw=raw, tokens=tokens, corrected_tokens=tokens)


def query_key(query: UnderstoodQuery) -> int | None:
    """64-bit hash of the corrected query text (never 0, the empty-bucket mark); None if empty."""
    text = query.corrected
    if not text:
        return None
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little") or 1

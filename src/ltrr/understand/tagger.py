"""Tags spans of the corrected query tokens: entity names, attribute values and type words.

Every run of tokens that starts where a dictionary phrase starts is looked up in three
dictionaries: catalog names (``kind="entity"``, ``label`` = the name's most frequent entity
type or name field), attribute values (``label`` = attribute name, ``value`` = the catalog's
spelling) and type words (``label`` = the entity type asked for). Type words come from
``type_words`` (phrase, type) pairs, used only when the catalog holds that type, plus each
catalog type's own name and plural when the catalog has two types or more.

Confidences, each in [0, 1] and scaled by ``quality = max(min_quality, 1 - edit_penalty *
edits)`` for spans whose tokens were spelling-corrected:

- type word: ``type_confidence``; attribute value: ``attribute_confidence``;
- name: ``entity_base + entity_specificity_weight * specificity + entity_length_weight *
  (1 - 1/n_span_tokens) + entity_coverage_weight * n_span_tokens/n_query_tokens``, where
  specificity = (entities carrying the name) / (entities holding its rarest token), near 1
  for "taylor swift" and near 0 for "love", a word in thousands of titles.

Overlaps are resolved greedily, longest span first, then the most confident; readings of
the same tokens as values of different attributes (genre "rock", subgenre "rock") all stay.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ltrr.errors import ConfigError
from ltrr.understand.base import Span
from ltrr.understand.text import normalize
from ltrr.understand.vocabulary import Vocabulary, first_lengths

DEFAULT_TYPE_WORDS: tuple[tuple[str, str], ...] = (
    ("playlist", "playlist"), ("playlists", "playlist"),
    ("podcast", "podcast"), ("podcasts", "podcast"),
    ("album", "album"), ("albums", "album"),
    ("song", "track"), ("songs", "track"), ("track", "track"), ("tracks", "track"),
    ("songs by", "track"), ("song by", "track"), ("tracks by", "track"), ("music by", "track"),
    ("artist", "artist"), ("artists", "artist"), ("band", "artist"), ("bands", "artist"),
    ("singer", "artist"),
)  # fmt: skip
_KIND_ORDER = {"entity": 0, "attribute": 1, "type": 2}


@dataclass(frozen=True, slots=True)
class TaggerParams:
    """``[understand.tagger]``: type words and span confidences."""

    type_words: tuple[tuple[str, str], ...] = DEFAULT_TYPE_WORDS
    catalog_type_words: bool = True
    type_confidence: float = 0.95
    attribute_confidence: float = 0.9
    entity_base: float = 0.2
    entity_specificity_weight: float = 0.4
    entity_length_weight: float = 0.2
    entity_coverage_weight: float = 0.2
    edit_penalty: float = 0.15
    min_quality: float = 0.3
    min_confidence: float = 0.2

    def __post_init__(self) -> None:
        pairs = []
        for pair in self.type_words:
            if len(pair) != 2 or not all(isinstance(p, str) and p.strip() for p in pair):
                raise ConfigError(
                    "understand.tagger.type_words must be [phrase, entity type] pairs, "
                    f"got {pair!r}"
                )
            pairs.append((str(pair[0]), str(pair[1])))
        object.__setattr__(self, "type_words", tuple(pairs))


class Tagger:
    """Finds entity, attribute and type spans; call ``refresh`` when catalog types change."""

    def __init__(self, vocabulary: Vocabulary, params: TaggerParams) -> None:
        self.vocabulary = vocabulary
        self.params = params
        self.type_phrases: dict[str, str] = {}
        self._type_first: dict[str, int] = {}
        self.refresh()

    def refresh(self) -> None:
        """Re-derive type phrases from the types the catalog holds now."""
        types = self.vocabulary.live_types()
        phrases = {}
        if self.params.catalog_type_words and len(types) >= 2:
            for name in types:
                phrase = normalize(name)
                if phrase:
                    phrases[phrase] = name
                    phrases.setdefault(phrase if phrase.endswith("s") else f"{phrase}s", name)
        for words, type_ in self.params.type_words:
            phrase = normalize(words)
            if phrase and type_ in types:
                phrases[phrase] = type_
        self.type_phrases = phrases
        self._type_first = first_lengths(phrases)

    def tag(self, tokens: Sequence[str], distances: Sequence[int]) -> tuple[Span, ...]:
        """Non-overlapping spans of ``tokens`` (``distances``: edits made to each token)."""
        vocab, n = self.vocabulary, len(tokens)
        found: list[Span] = []
        for i, token in enumerate(tokens):
            longest = max(
                vocab.name_span(token), vocab.attribute_span(token), self._type_first.get(token, 0)
            )
            for j in range(min(n, i + longest), i, -1):
                found.extend(self._spans(tokens, distances, i, j))
        return _resolve(s for s in found if s.confidence >= self.params.min_confidence)

    def _spans(
        self, tokens: Sequence[str], distances: Sequence[int], i: int, j: int
    ) -> Iterable[Span]:
        p, vocab = self.params, self.vocabulary
        phrase = " ".join(tokens[i:j])
        quality = max(p.min_quality, 1.0 - p.edit_penalty * sum(distances[i:j]))
        type_ = self.type_phrases.get(phrase)
        if type_ is not None:
            yield Span(i, j, "type", type_, type_, _clip(quality * p.type_confidence))
        for reading in vocab.attribute_values(phrase):
            confidence = _clip(quality * p.attribute_confidence)
            yield Span(i, j, "attribute", reading.attribute, reading.value, confidence)
        info = vocab.name(phrase)
        if info is not None:
            rarest = min(max(1, vocab.df_of(t)) for t in tokens[i:j])
            specificity = min(1.0, info.n_named / rarest)
            raw = (
                p.entity_base
                + p.entity_specificity_weight * specificity
                + p.entity_length_weight * (1.0 - 1.0 / (j - i))
                + p.entity_coverage_weight * (j - i) / len(tokens)
            )
            yield Span(i, j, "entity", info.label, phrase, _clip(quality * raw))


def _clip(x: float) -> float:
    return min(1.0, max(0.0, x))


def _resolve(spans: Iterable[Span]) -> tuple[Span, ...]:
    """Longest first, then most confident; equal-extent attribute readings are all kept."""
    ordered = sorted(
        spans, key=lambda s: (s.start - s.end, -s.confidence, _KIND_ORDER[s.kind], s.label)
    )
    taken: list[Span] = []
    used: set[int] = set()
    for span in ordered:
        if used.isdisjoint(range(span.start, span.end)):
            taken.append(span)
            used.update(range(span.start, span.end))
        elif span.kind == "attribute" and any(
            t.kind == "attribute" and (t.start, t.end) == (span.start, span.end) for t in taken
        ):
            taken.append(span)
    return tuple(sorted(taken, key=lambda s: (s.start, s.end, _KIND_ORDER[s.kind], s.label)))

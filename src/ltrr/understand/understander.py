"""``QueryUnderstander``: the understand stage, built from the catalog and kept in step with it.

A query goes through the stage once: normalise and tokenize (``understand.text``, the
tokenizer indexes use), correct spelling against the catalog (``spell``), tag spans
(``tagger``), classify intent (``intent``) and compute the bandit's features (``features``).
The dictionaries follow the catalog through ``add``/``remove`` exactly like a retriever's
index, and save to their own folder with a manifest (``DATA/indexes/understand/``).

Bad input never raises: text is cut at ``max_query_chars`` and ``max_tokens`` before any
work, control characters are spaces, emoji and punctuation are no tokens, and a query with
no token comes back empty with intent "broad".
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ltrr.config import Config, section_params
from ltrr.errors import ConfigError
from ltrr.storage.folder import (
    check_files,
    checksums,
    new_manifest,
    read_manifest,
    staged,
    stale_params,
    write_manifest,
)
from ltrr.types import Entity, EntityId
from ltrr.understand.base import UnderstoodQuery
from ltrr.understand.features import FEATURE_NAMES, query_features
from ltrr.understand.intent import IntentParams, classify
from ltrr.understand.spell import INDEX_PARAMS, Correction, HashIndex, SpellCorrector, SpellParams
from ltrr.understand.tagger import Tagger, TaggerParams
from ltrr.understand.text import tokenize
from ltrr.understand.vocabulary import Vocabulary, VocabularyParams

logger = logging.getLogger(__name__)

FORMAT = "ltrr-understand"
FORMAT_VERSION = 1
_SPELL_FILES = ("spell_deletes", "spell_sounds")
_BATCH = 5000


@dataclass(frozen=True, slots=True)
class UnderstandParams:
    """``[understand]``: input bounds and the spelling switch."""

    max_query_chars: int = 1000
    max_tokens: int = 64
    spelling: bool = True

    def __post_init__(self) -> None:
        if self.max_query_chars < 1 or self.max_tokens < 1:
            raise ConfigError(
                "understand.max_query_chars and max_tokens must be >= 1, got "
                f"{self.max_query_chars} and {self.max_tokens}"
            )


@dataclass(frozen=True, slots=True)
class UnderstandSettings:
    """Every parameter of the stage, one frozen dataclass per config section."""

    understand: UnderstandParams = field(default_factory=UnderstandParams)
    vocabulary: VocabularyParams = field(default_factory=VocabularyParams)
    spell: SpellParams = field(default_factory=SpellParams)
    tagger: TaggerParams = field(default_factory=TaggerParams)
    intent: IntentParams = field(default_factory=IntentParams)

    @classmethod
    def from_config(cls, config: Config) -> UnderstandSettings:
        """``[understand]`` and its subsections; a missing section gives its defaults."""
        return cls(
            section_params(config, "understand", UnderstandParams),
            section_params(config, "understand.vocabulary", VocabularyParams),
            section_params(config, "understand.spell", SpellParams),
            section_params(config, "understand.tagger", TaggerParams),
            section_params(config, "understand.intent", IntentParams),
        )


class QueryUnderstander:
    """Normalises, corrects, tags and classifies queries against one catalog."""

    name = "understand"

    def __init__(
        self,
        settings: UnderstandSettings,
        vocabulary: Vocabulary,
        corrector: SpellCorrector,
        *,
        catalog_version: int,
    ) -> None:
        self.settings = settings
        self.vocabulary = vocabulary
        self.corrector = corrector
        self.tagger = Tagger(vocabulary, settings.tagger)
        self._reserve()
        self.catalog_version = catalog_version

    # ----------------------------------------------------------------- building

    @classmethod
    def build(
        cls,
        entities: Iterable[Entity],
        config: Config,
        *,
        catalog_version: int,
        on_progress: Callable[[int], None] | None = None,
    ) -> QueryUnderstander:
        """Count every entity into fresh dictionaries, then index their tokens for spelling."""
        settings = UnderstandSettings.from_config(config)
        vocabulary = Vocabulary(settings.vocabulary)
        batch: list[Entity] = []
        n_done = 0
        for entity in entities:
            batch.append(entity)
            if len(batch) >= _BATCH:
                vocabulary.add(batch)
                n_done += len(batch)
                batch.clear()
                if on_progress is not None:
                    on_progress(n_done)
        vocabulary.add(batch)
        if on_progress is not None:
            on_progress(n_done + len(batch))
        corrector = SpellCorrector(vocabulary, settings.spell)
        return cls(settings, vocabulary, corrector, catalog_version=catalog_version)

    def add(self, entities: Sequence[Entity]) -> None:
        """Count ``entities`` in, replacing any already counted under the same ids."""
        self.corrector.add_tokens(self.vocabulary.add(entities))
        self._types_changed()

    def remove(self, ids: Sequence[EntityId]) -> None:
        """Take ``ids`` out of every dictionary; unknown ids are ignored."""
        self.vocabulary.remove(ids)
        self._types_changed()

    def _types_changed(self) -> None:
        self.tagger.refresh()
        self._reserve()

    def _reserve(self) -> None:
        """Type words and attribute values are words, never typos to correct."""
        self.corrector.reserve([*self.tagger.type_phrases, *self.vocabulary.attribute_phrases()])

    def __len__(self) -> int:
        return len(self.vocabulary)

    # ----------------------------------------------------------------- querying

    def understand(self, raw: str) -> UnderstoodQuery:
        """The query understood: tokens, corrections, spans, intent and features."""
        params = self.settings.understand
        typed = tuple(tokenize(raw[: params.max_query_chars])[: params.max_tokens])
        if params.spelling and typed:
            correction = self.corrector.correct(typed)
        else:
            correction = Correction(typed, (0,) * len(typed))
        spans = self.tagger.tag(correction.tokens, correction.distances)
        idfs = [self.vocabulary.idf(t) for t in correction.tokens]
        intent, scores = classify(spans, idfs, self.settings.intent)
        n_unknown = sum(
            1 for t in typed if t not in self.corrector.reserved and not self.vocabulary.df_of(t)
        )
        features = query_features(typed, correction.distances, spans, scores, idfs, n_unknown)
        return UnderstoodQuery(
            raw=raw,
            tokens=typed,
            corrected_tokens=correction.tokens,
            correction_distance=correction.distance,
            spans=spans,
            intent=intent,
            intent_scores=scores,
            features=features,
            feature_names=FEATURE_NAMES,
        )

    # ----------------------------------------------------------------- persistence

    def save(self, directory: Path) -> None:
        """Write dictionaries, spelling index and manifest into ``directory`` atomically."""
        with staged(directory) as tmp:
            files = self.vocabulary.save(tmp)
            for name, index in zip(_SPELL_FILES, self._indexes(), strict=True):
                index.merge()
                np.save(tmp / f"{name}_keys.npy", index.keys, allow_pickle=False)
                np.save(tmp / f"{name}_values.npy", index.values, allow_pickle=False)
                files += [f"{name}_keys.npy", f"{name}_values.npy"]
            manifest = new_manifest(
                FORMAT,
                FORMAT_VERSION,
                params=asdict(self.settings),
                catalog_version=self.catalog_version,
                n_entities=len(self),
                n_tokens=len(self.vocabulary.tokens),
                sha256=checksums(tmp, files),
            )
            write_manifest(tmp, manifest)

    def _indexes(self) -> tuple[HashIndex, HashIndex]:
        return self.corrector.deletes, self.corrector.sounds

    @classmethod
    def load(cls, directory: Path, config: Config) -> QueryUnderstander:
        """Read a saved understander; query-time parameters come from ``config``.

        The dictionaries keep the ``[understand.vocabulary]`` they were built with (a change
        there takes a rebuild and is logged); the spelling index is rebuilt when its shaping
        parameters changed.
        """
        manifest = read_manifest(
            directory, FORMAT, FORMAT_VERSION, holds="query understander", remedy="rebuild it"
        )
        check_files(directory, manifest, "rebuild")
        saved: dict[str, Any] = manifest["params"]
        wanted = UnderstandSettings.from_config(config)
        vocab_params = VocabularyParams(**saved["vocabulary"])
        if vocab_params != wanted.vocabulary:
            logger.warning(
                "%s was built with [understand.vocabulary] %s; rebuild to apply %s",
                directory, vocab_params, wanted.vocabulary,
            )  # fmt: skip
        settings = UnderstandSettings(
            wanted.understand, vocab_params, wanted.spell, wanted.tagger, wanted.intent
        )
        vocabulary = Vocabulary.load(directory, vocab_params)
        same_index = not stale_params(saved["spell"], wanted.spell, INDEX_PARAMS)
        indexes = [_load_index(directory, name) for name in _SPELL_FILES] if same_index else None
        corrector = SpellCorrector(
            vocabulary,
            wanted.spell,
            deletes=indexes[0] if indexes else None,
            sounds=indexes[1] if indexes else None,
        )
        return cls(
            settings, vocabulary, corrector, catalog_version=int(manifest["catalog_version"])
        )


def _load_index(directory: Path, name: str) -> HashIndex:
    keys = np.load(directory / f"{name}_keys.npy", allow_pickle=False)
    values = np.load(directory / f"{name}_values.npy", allow_pickle=False)
    return HashIndex(keys.astype(np.uint32, copy=False), values.astype(np.int32, copy=False))

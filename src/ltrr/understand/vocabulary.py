"""The catalog's dictionaries that query understanding reads, kept in step with the catalog.

Three dictionaries, all keyed by text in the form ``understand.text.normalize`` gives:

- **tokens** with their document frequency: the number of entities whose title or fields
  (each cut at ``max_text_chars``) hold the token. Spelling correction targets these tokens
  and never touches a frequent one; idf features read them.
- **names**: every title (labelled with the entity's type) and every value of a field in
  ``name_fields`` (labelled with the field name: "artist", "album"), with a count per label.
  The tagger matches query spans against them; their adjacent token pairs ("taylor swift")
  are the bigrams that steer spelling correction.
- **attribute values** per attribute name, whatever names the catalog uses (genre, mood,
  topic...): normalised value -> the catalog's own spelling, with how many entities carry it
  (values of more than ``max_name_tokens`` tokens are counted but never tagged).

Each entity's contribution is remembered as rows of integer ids (token, name x label and
attribute ids) so ``remove(ids)`` can take it back; counts are never stored, only re-derived
from those rows with ``numpy.bincount`` when a saved vocabulary is loaded, so they cannot
disagree. Tables only grow: an id whose count falls to zero stays, unused, until a rebuild.
"""

from __future__ import annotations

import itertools
import math
from array import array
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray

from ltrr.errors import ConfigError, StorageError
from ltrr.types import Entity, EntityId
from ltrr.understand.text import tokenize

TABLES_FILE = "vocabulary.json"
COLUMNS = ("tokens", "names", "attributes")
#: Name and label ids are packed into one int64 as ``name_id * _LABEL_SPAN + label_id``.
_LABEL_SPAN = 1 << 20


@dataclass(frozen=True, slots=True)
class VocabularyParams:
    """``[understand.vocabulary]``: what the dictionaries read from each entity."""

    name_fields: tuple[str, ...] = ("artist", "album")
    max_name_tokens: int = 12
    max_text_chars: int = 5000

    def __post_init__(self) -> None:
        object.__setattr__(self, "name_fields", tuple(self.name_fields))
        if self.max_name_tokens < 1 or self.max_text_chars < 1:
            raise ConfigError(
                "understand.vocabulary.max_name_tokens and max_text_chars must be >= 1, got "
                f"{self.max_name_tokens} and {self.max_text_chars}"
            )


@dataclass(frozen=True, slots=True)
class NameInfo:
    """A catalog name: its most frequent label, every label's count and their total."""

    label: str
    labels: Mapping[str, int]
    n_named: int


@dataclass(frozen=True, slots=True)
class AttributeValue:
    """One reading of a phrase as an attribute value and how many entities carry it."""

    attribute: str
    value: str
    n_entities: int


class _Column:
    """Per-entity lists of int64 ids in one append-only buffer (CSR: starts per slot)."""

    __slots__ = ("starts", "values")

    def __init__(self) -> None:
        self.values: array[int] = array("q")
        self.starts: array[int] = array("q")

    def append(self, ids: Iterable[int]) -> None:
        self.starts.append(len(self.values))
        self.values.extend(ids)

    def get(self, slot: int) -> array[int]:
        end = self.starts[slot + 1] if slot + 1 < len(self.starts) else len(self.values)
        return self.values[self.starts[slot] : end]

    def arrays(self, live: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """The values and starts of the ``live`` slots only, renumbered 0..len(live)-1."""
        if not len(live):
            return _empty(), _empty()
        values = np.frombuffer(self.values, dtype=np.int64) if self.values else _empty()
        starts = np.frombuffer(self.starts, dtype=np.int64)
        ends = np.append(starts[1:], len(values))
        lengths = ends[live] - starts[live]
        new_starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        offsets = np.repeat(starts[live] - new_starts, lengths)
        return values[np.arange(int(lengths.sum())) + offsets], new_starts

    @classmethod
    def from_arrays(cls, values: NDArray[np.int64], starts: NDArray[np.int64]) -> _Column:
        column = cls()
        column.values.frombytes(np.ascontiguousarray(values, dtype=np.int64).tobytes())
        column.starts.frombytes(np.ascontiguousarray(starts, dtype=np.int64).tobytes())
        return column


def _empty() -> NDArray[np.int64]:
    return np.zeros(0, dtype=np.int64)


def first_lengths(phrases: Iterable[str]) -> dict[str, int]:
    """First token -> the most tokens of any phrase starting with it (bounds span search)."""
    out: dict[str, int] = {}
    for phrase in phrases:
        parts = phrase.split(" ")
        if len(parts) > out.get(parts[0], 0):
            out[parts[0]] = len(parts)
    return out


class Vocabulary:
    """Token, name and attribute dictionaries of a catalog, updated by ``add``/``remove``."""

    def __init__(self, params: VocabularyParams) -> None:
        self.params = params
        self.tokens: list[str] = []
        self.token_id: dict[str, int] = {}
        self.df: list[int] = []
        self.labels: list[str] = []
        self._label_id: dict[str, int] = {}
        self.names: list[str] = []
        self._name_id: dict[str, int] = {}
        self._name_labels: dict[int, int] = {}  # packed (name id, label id) -> count
        self._name_total: array[int] = array("q")
        self.attributes: list[tuple[str, str]] = []
        self._attribute_index: dict[str, dict[str, int]] = {}
        self._attribute_count: list[int] = []
        self._attribute_norm: dict[str, set[int]] = {}
        self._attribute_tokens: list[tuple[str, ...]] = []
        self._attribute_ok: list[bool] = []
        self.type_counts: Counter[str] = Counter()
        self._bigrams: Counter[str] = Counter()
        self._name_first: dict[str, int] = {}
        self._attribute_first: dict[str, int] = {}
        self._slot_of: dict[str, int] = {}
        self._slot_ids: list[str | None] = []
        self._slot_type: array[int] = array("q")
        self._rows = {name: _Column() for name in COLUMNS}
        self.max_df = 1

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, entity_id: object) -> bool:
        return entity_id in self._slot_of

    # ----------------------------------------------------------------- lookups

    def df_of(self, token: str) -> int:
        """Entities holding ``token``; 0 for a word the catalog does not have."""
        tid = self.token_id.get(token)
        return 0 if tid is None else self.df[tid]

    def idf(self, token: str) -> float:
        """BM25-style idf scaled to (0, 1]: ``log((N+1)/(df+0.5)) / log((N+1)/0.5)``."""
        n = len(self._slot_of) + 1
        return math.log(n / (self.df_of(token) + 0.5)) / math.log(n / 0.5)

    def name(self, phrase: str) -> NameInfo | None:
        """The catalog name ``phrase`` (normalised), if some live entity carries it."""
        nid = self._name_id.get(phrase)
        if nid is None or self._name_total[nid] <= 0:
            return None
        base = nid * _LABEL_SPAN
        counts = {
            label: n
            for lid, label in enumerate(self.labels)
            if (n := self._name_labels.get(base + lid, 0)) > 0
        }
        label = max(counts, key=lambda k: (counts[k], k))
        return NameInfo(label, counts, self._name_total[nid])

    def attribute_values(self, phrase: str) -> list[AttributeValue]:
        """Every live reading of ``phrase`` as an attribute value, one per attribute name."""
        best: dict[str, AttributeValue] = {}
        for aid in self._attribute_norm.get(phrase, ()):
            n = self._attribute_count[aid]
            attribute, value = self.attributes[aid]
            if n > 0 and (attribute not in best or n > best[attribute].n_entities):
                best[attribute] = AttributeValue(attribute, value, n)
        return [best[a] for a in sorted(best)]

    def attribute_phrases(self) -> list[str]:
        """Normalised attribute values some live entity carries (taggable ones only)."""
        counts = self._attribute_count
        return [p for p, ids in self._attribute_norm.items() if any(counts[a] > 0 for a in ids)]

    def name_span(self, token: str) -> int:
        """Most tokens of a name starting with ``token`` (0: none starts with it)."""
        return self._name_first.get(token, 0)

    def attribute_span(self, token: str) -> int:
        return self._attribute_first.get(token, 0)

    def has_bigram(self, first: str, second: str) -> bool:
        """Whether ``first second`` occurs inside a live name or attribute value."""
        return self._bigrams.get(f"{first} {second}", 0) > 0

    def live_types(self) -> dict[str, int]:
        return {t: n for t, n in self.type_counts.items() if n > 0}

    def intern(self, tokens: Iterable[str]) -> list[int]:
        """Give ``tokens`` ids (document frequency 0 if new); returns the new ids."""
        new: list[int] = []
        for token in tokens:
            if token not in self.token_id:
                self.token_id[token] = len(self.tokens)
                new.append(len(self.tokens))
                self.tokens.append(token)
                self.df.append(0)
        return new

    # ----------------------------------------------------------------- updates

    def add(self, entities: Iterable[Entity]) -> list[int]:
        """Count ``entities`` in, replacing earlier versions; returns ids of new tokens."""
        n_before = len(self.tokens)
        for entity in entities:
            if entity.id in self._slot_of:
                self._forget(entity.id)
            self._count(entity)
        return list(range(n_before, len(self.tokens)))

    def remove(self, ids: Sequence[EntityId]) -> None:
        """Take the contribution of ``ids`` back; unknown ids are ignored."""
        for entity_id in ids:
            if entity_id in self._slot_of:
                self._forget(entity_id)

    def _count(self, entity: Entity) -> None:
        cap = self.params.max_text_chars
        title = tokenize(entity.title[:cap])
        # Ordered, not sets: token and name ids must not depend on the string hash seed.
        words = dict.fromkeys(title)
        names = {(" ".join(title), entity.type): None}
        for field, text in entity.fields.items():
            tokens = tokenize(text[:cap])
            words.update(dict.fromkeys(tokens))
            if field in self.params.name_fields:
                names[(" ".join(tokens), field)] = None
        attribute_ids = []
        index = self._attribute_index
        for attribute, values in entity.attributes.items():
            known = index.get(attribute) or index.setdefault(attribute, {})
            for value, weight in values.items():
                aid = known.get(value)
                if aid is None:
                    aid = self._new_attribute(attribute, value)
                if weight > 0:
                    attribute_ids.append(aid)
        self.intern(words)
        token_ids = [self.token_id[w] for w in words]
        packed = [
            self._name(phrase) * _LABEL_SPAN + self._label(label)
            for phrase, label in names
            if phrase and phrase.count(" ") < self.params.max_name_tokens
        ]
        self._slot_of[entity.id] = len(self._slot_ids)
        self._slot_ids.append(entity.id)
        self._slot_type.append(self._label(entity.type))
        self._rows["tokens"].append(token_ids)
        self._rows["names"].append(packed)
        self._rows["attributes"].append(attribute_ids)
        self.type_counts[entity.type] += 1
        self._apply(token_ids, packed, attribute_ids, +1)

    def _forget(self, entity_id: str) -> None:
        slot = self._slot_of.pop(entity_id)
        self._slot_ids[slot] = None
        self.type_counts[self.labels[self._slot_type[slot]]] -= 1
        rows = [self._rows[name].get(slot) for name in COLUMNS]
        self._apply(rows[0], rows[1], rows[2], -1)

    def _apply(
        self, token_ids: Iterable[int], names: Iterable[int], attribute_ids: Iterable[int], d: int
    ) -> None:
        df = self.df
        for tid in token_ids:
            df[tid] += d
            if df[tid] > self.max_df:
                self.max_df = df[tid]
        for packed in names:
            nid = packed // _LABEL_SPAN
            self._name_labels[packed] = self._name_labels.get(packed, 0) + d
            self._name_total[nid] += d
            if self._name_total[nid] == (1 if d > 0 else 0):
                self._phrase_alive(self.names[nid], d)
        for aid in attribute_ids:
            self._attribute_count[aid] += d
            if self._attribute_count[aid] == (1 if d > 0 else 0):
                self._value_alive(aid, d)

    def _phrase_alive(self, phrase: str, d: int) -> None:
        """A name or value appeared (d=+1) or vanished (-1): update its bigrams."""
        parts = phrase.split(" ")
        for first, second in itertools.pairwise(parts):
            self._bigrams[f"{first} {second}"] += d

    def _value_alive(self, aid: int, d: int) -> None:
        if not self._attribute_ok[aid]:
            return
        phrase = " ".join(self._attribute_tokens[aid])
        if d > 0:
            self._attribute_norm.setdefault(phrase, set()).add(aid)
            parts = phrase.split(" ")
            longest = self._attribute_first.get(parts[0], 0)
            self._attribute_first[parts[0]] = max(longest, len(parts))
        self._phrase_alive(phrase, d)

    def _label(self, label: str) -> int:
        lid = self._label_id.get(label)
        if lid is None:
            if len(self.labels) >= _LABEL_SPAN:
                raise StorageError(f"more than {_LABEL_SPAN} entity types and name fields")
            lid = self._label_id[label] = len(self.labels)
            self.labels.append(label)
        return lid

    def _name(self, phrase: str) -> int:
        nid = self._name_id.get(phrase)
        if nid is None:
            nid = self._name_id[phrase] = len(self.names)
            self.names.append(phrase)
            self._name_total.append(0)
            parts = phrase.split(" ")
            self._name_first[parts[0]] = max(self._name_first.get(parts[0], 0), len(parts))
        return nid

    def _new_attribute(self, attribute: str, value: str) -> int:
        aid = len(self.attributes)
        self._attribute_index.setdefault(attribute, {})[value] = aid
        self.attributes.append((attribute, value))
        self._attribute_count.append(0)
        self._attribute_derived(aid)
        return aid

    def _attribute_derived(self, aid: int) -> None:
        """Tokens (interned) of attribute value ``aid`` and whether it can be tagged."""
        tokens = tuple(tokenize(self.attributes[aid][1]))
        self._attribute_tokens.append(tokens)
        self._attribute_ok.append(0 < len(tokens) <= self.params.max_name_tokens)

    # ----------------------------------------------------------------- persistence

    def save(self, directory: Path) -> list[str]:
        """Write tables (JSON) and live rows (npy) into ``directory``; returns file names."""
        live = np.array([s for s, i in enumerate(self._slot_ids) if i is not None], dtype=np.int64)
        tables = {
            "tokens": self.tokens,
            "labels": self.labels,
            "names": self.names,
            "attributes": [list(a) for a in self.attributes],
            "ids": [self._slot_ids[s] for s in live.tolist()],
        }
        (directory / TABLES_FILE).write_bytes(orjson.dumps(tables))
        files = [TABLES_FILE, "rows_type.npy"]
        slot_type = np.frombuffer(self._slot_type, dtype=np.int64) if live.size else _empty()
        np.save(directory / "rows_type.npy", slot_type[live], allow_pickle=False)
        for name in COLUMNS:
            values, starts = self._rows[name].arrays(live)
            np.save(directory / f"rows_{name}.npy", values, allow_pickle=False)
            np.save(directory / f"rows_{name}_start.npy", starts, allow_pickle=False)
            files += [f"rows_{name}.npy", f"rows_{name}_start.npy"]
        return files

    @classmethod
    def load(cls, directory: Path, params: VocabularyParams) -> Vocabulary:
        """Read what ``save`` wrote and re-derive every count from the rows."""
        try:
            tables: dict[str, Any] = orjson.loads((directory / TABLES_FILE).read_bytes())
            names = ("rows_type", *(f"rows_{c}{s}" for c in COLUMNS for s in ("", "_start")))
            arrays = {n: np.load(directory / f"{n}.npy", allow_pickle=False) for n in names}
        except (OSError, ValueError) as exc:
            raise StorageError(f"{directory}: unreadable vocabulary ({exc})") from exc
        vocab = cls(params)
        vocab._restore_tables(tables)
        vocab._restore_rows(tables["ids"], arrays)
        return vocab

    def _restore_tables(self, tables: Mapping[str, Any]) -> None:
        self.tokens = list(tables["tokens"])
        self.token_id = {t: i for i, t in enumerate(self.tokens)}
        self.labels = list(tables["labels"])
        self._label_id = {t: i for i, t in enumerate(self.labels)}
        self.names = list(tables["names"])
        self._name_id = {t: i for i, t in enumerate(self.names)}
        self._name_first = first_lengths(self.names)
        self.attributes = [(str(a), str(v)) for a, v in tables["attributes"]]
        for aid, (attribute, value) in enumerate(self.attributes):
            self._attribute_index.setdefault(attribute, {})[value] = aid
        for aid in range(len(self.attributes)):
            self._attribute_derived(aid)

    def _restore_rows(self, ids: list[str], arrays: Mapping[str, NDArray[np.int64]]) -> None:
        self._slot_ids = list(ids)
        self._slot_of = {entity_id: s for s, entity_id in enumerate(ids)}
        self._slot_type = array("q", arrays["rows_type"].astype(np.int64).tolist())
        self._rows = {
            c: _Column.from_arrays(arrays[f"rows_{c}"], arrays[f"rows_{c}_start"]) for c in COLUMNS
        }
        types = np.bincount(arrays["rows_type"], minlength=len(self.labels))
        self.type_counts = Counter({self.labels[i]: int(n) for i, n in enumerate(types) if n})
        df = np.bincount(arrays["rows_tokens"], minlength=len(self.tokens))
        self.df = df.tolist()
        self.max_df = max(1, int(df.max(initial=0)))
        self._name_labels = {}
        self._name_total = array("q", bytes(8 * len(self.names)))
        packed, counts = np.unique(arrays["rows_names"], return_counts=True)
        for key, n in zip(packed.tolist(), counts.tolist(), strict=True):
            self._name_labels[key] = n
            self._name_total[key // _LABEL_SPAN] += n
        for nid, total in enumerate(self._name_total):
            if total > 0:
                self._phrase_alive(self.names[nid], +1)
        attribute_counts = np.bincount(arrays["rows_attributes"], minlength=len(self.attributes))
        self._attribute_count = attribute_counts.tolist()
        for aid, n in enumerate(self._attribute_count):
            if n > 0:
                self._value_alive(aid, +1)

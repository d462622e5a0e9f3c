"""Value types shared by every stage.

Entities are immutable once validated: loaders build them, storage persists them, indexes read
them. Ids get their own ``NewType`` so that an entity id is never passed where a request id is
expected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NewType

EntityId = NewType("EntityId", str)

#: attribute name -> value -> weight in [0, 1]; a plain string attribute has weight 1.
Attributes = Mapping[str, Mapping[str, float]]


@dataclass(frozen=True, slots=True)
class Entity:
    """One searchable item of the catalog.

    ``fields`` holds free text other than the title (``text``, ``artist``, ``description``...),
    searched by the lexical retrievers; ``attributes`` holds categorical facets (genre, mood,
    language) with weights, used for filters, the tagger and the popularity generator.
    """

    id: EntityId
    type: str
    title: str
    fields: Mapping[str, str] = field(default_factory=dict)
    attributes: Attributes = field(default_factory=dict)
    popularity: float = 0.0
    related: tuple[EntityId, ...] = ()
    added_at_s: float | None = None

    def to_record(self) -> dict[str, object]:
        """The ltrr JSONL shape of this entity; ``catalog.model.entity_from_record`` reads it."""
        record: dict[str, object] = {"id": self.id, "type": self.type, "title": self.title}
        if self.fields:
            record["fields"] = dict(self.fields)
        if self.attributes:
            record["attributes"] = {name: dict(v) for name, v in self.attributes.items()}
        if self.popularity:
            record["popularity"] = self.popularity
        if self.related:
            record["related"] = list(self.related)
        if self.added_at_s is not None:
            record["added_at"] = self.added_at_s
        return record


@dataclass(frozen=True, slots=True)
class Context:
    """Who is searching and where: what the query alone does not say.

    ``taste`` is the user's profile as attribute value -> affinity (e.g. ``{"jazz": 0.8}``),
    which the popularity retriever and the ranker read.
    """

    user_id: str | None = None
    session_id: str | None = None
    segment: str | None = None
    locale: str | None = None
    device: str | None = None
    hour: int | None = None
    taste: Mapping[str, float] = field(default_factory=dict)

"""The stored catalog's contract: upserts, deletes and whole replacements, each under a version.

Every committed change increments the catalog version once and stamps the rows it wrote (and
the tombstones of the ids it removed) with that version, so an index that records the version
it was built from can catch up with ``changes_since`` or notice it must rebuild. A change is
one transaction: a failed load rolls back and leaves the catalog as it was, and readers see all
of a change or none of it.

Two backends satisfy ``CatalogStore``: ``storage.sqlite_catalog`` (embedded, the default: the
data directory's own database) and ``storage.postgres_catalog`` (a schema that service
replicas share). ``tests/contracts/test_catalogs.py`` puts both through the same checks. Rows
are encoded the same way for both (``entity_row``, ``entity_from_row``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import orjson

from ltrr.types import Entity, EntityId

#: The stored columns of an entity, in ``EntityRow`` order.
COLUMNS = "id, type, title, doc, popularity, added_at_s"

#: One entity as stored, in ``COLUMNS`` order: id, type, title, doc, popularity, added_at_s.
EntityRow = tuple[str, str, str, str, float, float | None]


def doc_json(fields: object, attributes: object, related: object) -> str:
    """The ``doc`` column: fields, attributes and related ids as one JSON object."""
    return orjson.dumps({"f": fields, "a": attributes, "r": related}).decode()


def doc_jsons(
    fields: Iterable[object], attributes: Iterable[object], related: Iterable[object]
) -> list[str]:
    """``doc_json`` of many entities in one loop (ingest's chunk path, ``catalog.columnar``)."""
    dumps = orjson.dumps
    return [
        dumps({"f": f, "a": a, "r": r}).decode()
        for f, a, r in zip(fields, attributes, related, strict=True)
    ]


def entity_row(entity: Entity) -> EntityRow:
    """The stored row of ``entity`` (its mappings copied to plain dicts, which orjson needs)."""
    return (
        entity.id,
        entity.type,
        entity.title,
        doc_json(
            dict(entity.fields),
            {name: dict(values) for name, values in entity.attributes.items()},
            entity.related,
        ),
        entity.popularity,
        entity.added_at_s,
    )


def entity_from_row(row: Sequence[object]) -> Entity:
    entity_id, type_, title, doc, popularity, added_at_s = row
    parts = orjson.loads(doc)  # type: ignore[arg-type]
    return Entity(
        id=EntityId(str(entity_id)),
        type=str(type_),
        title=str(title),
        fields=parts["f"],
        attributes=parts["a"],
        popularity=float(popularity),  # type: ignore[arg-type]
        related=tuple(parts["r"]),
        added_at_s=None if added_at_s is None else float(added_at_s),  # type: ignore[arg-type]
    )


@dataclass(frozen=True, slots=True)
class Changes:
    """What changed after a version: ids to (re)index and ids to drop."""

    since_version: int
    version: int
    upserted: tuple[EntityId, ...]
    deleted: tuple[EntityId, ...]


class CatalogChange(Protocol):
    """The writes of one transaction; created by ``CatalogStore.change``.

    ``version`` is the version the change commits as (if it writes anything); ``n_upserted``
    and ``n_deleted`` count what it wrote so far.
    """

    version: int
    n_upserted: int
    n_deleted: int

    def is_empty(self) -> bool:
        """Whether the catalog holds no entity (as this change has left it so far)."""
        ...

    def build_indexes_at_end(self) -> None:
        """A hint before a load that writes most of the catalog: the backend may defer the
        upkeep of its secondary indexes to the end of the change."""
        ...

    def upsert(self, entities: Sequence[Entity]) -> None:
        """Insert or overwrite ``entities`` (the last of a repeated id wins; batch the calls)."""
        ...

    def upsert_rows(self, rows: Sequence[EntityRow]) -> None:
        """Insert or overwrite already validated rows (``entity_row``; batch the calls)."""
        ...

    def delete(self, ids: Iterable[EntityId]) -> list[EntityId]:
        """Remove ``ids``; return those that were not in the catalog, in the order given."""
        ...

    def n_removed(self) -> int:
        """Ids this change removed for good (a replacement's re-inserted ids do not count)."""
        ...

    def clear(self) -> None:
        """Remove every entity (the first step of a whole-catalog replacement)."""
        ...


@runtime_checkable
class CatalogStore(Protocol):
    """What engine, indexes, ingest, service, log and CLI use of a stored catalog.

    Also a ``Container`` of entity ids (the event log's ``is_known_entity``).
    """

    def version(self) -> int:
        """The version of the last committed change (0 for a catalog never written)."""
        ...

    def change(self) -> AbstractContextManager[CatalogChange]:
        """One atomic change: committed with a new version on success (only if it wrote
        something), rolled back on error. Changes are serialised: versions follow commit
        order, so a reader that saw version v has seen every change up to v."""
        ...

    def get(self, entity_id: str) -> Entity | None: ...

    def get_many(self, ids: Sequence[str]) -> dict[EntityId, Entity]:
        """The entities of ``ids`` that exist (unknown ids are left out)."""
        ...

    def __len__(self) -> int: ...

    def __contains__(self, entity_id: object) -> bool: ...

    def iter_entities(self, batch_size: int = 10_000) -> Iterator[Entity]:
        """Every entity in id order (code-point order), streamed in batches."""
        ...

    def count_by_type(self) -> dict[str, int]:
        """Entity type -> number of entities, most frequent first."""
        ...

    def count_by_attribute(self) -> dict[str, int]:
        """Attribute name -> number of entities carrying it, most frequent first, then name."""
        ...

    def changes_since(self, version: int) -> Changes:
        """Ids upserted and deleted after ``version`` (each sorted), read from one snapshot
        together with the version it reflects: what an index built at ``version`` replays."""
        ...

"""Search filters: keep the ranked candidates whose type and attributes the request allows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ltrr.merge.rrf import Fused
from ltrr.storage.catalog import CatalogStore
from ltrr.types import Entity

#: field -> accepted values: "type" filters on the entity type, any other key on an attribute.
Filters = Mapping[str, Sequence[str]]


def matches(entity: Entity, filters: Filters) -> bool:
    """Whether ``entity`` has, for every filter, one of its values."""
    for key, values in filters.items():
        have = {entity.type} if key == "type" else set(entity.attributes.get(key, {}))
        if not have & set(values):
            return False
    return True


def apply_filters(
    fused: list[Fused], filters: Filters | None, catalog: CatalogStore
) -> list[Fused]:
    """``fused`` without the candidates a filter excludes (or that left the catalog)."""
    if not filters:
        return fused
    entities = catalog.get_many([f.entity_id for f in fused])
    return [
        f for f in fused if (e := entities.get(f.entity_id)) is not None and matches(e, filters)
    ]

"""The catalog over HTTP: batch upsert (``ltrr ingest``'s validation, all or nothing), delete,
get by id, and a lookup by title that is not a logged search. A write returns once every index
has caught up, so the next search sees it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Path, Query

from ltrr.service.auth import require
from ltrr.service.deps import EngineDep, ParamsDep
from ltrr.service.limits import check_at_most
from ltrr.service.schemas import (
    CatalogDelete,
    CatalogUpsert,
    check_record_text,
    error_responses,
)
from ltrr.types import Context, EntityId

#: The strategies a lookup asks: they match what was typed, and learn nothing from it.
LOOKUP_STRATEGIES = ("lexical", "fuzzy")

router = APIRouter(prefix="/v1/catalog", tags=["catalog"], responses=error_responses(401, 422))


@router.post("/upsert", dependencies=[require("admin")], responses=error_responses(400, 403, 413))
def upsert(body: CatalogUpsert, engine: EngineDep, params: ParamsDep) -> dict[str, object]:
    """Insert or replace entities; a bad record is named (``records[i].field``), nothing is
    written."""
    check_at_most(len(body.records), params.max_batch, "records", "max_batch")
    check_record_text(body.records)
    return engine.upsert(body.records).to_dict()


@router.post("/delete", dependencies=[require("admin")], responses=error_responses(400, 403, 413))
def delete(body: CatalogDelete, engine: EngineDep, params: ParamsDep) -> dict[str, Any]:
    """Remove entities by id; ids that were not in the catalog are listed."""
    check_at_most(len(body.ids), params.max_batch, "ids", "max_batch")
    missing = engine.delete(body.ids)
    return {"n_deleted": len(set(body.ids)) - len(set(missing)), "missing": missing}


@router.get(
    "/entities/{entity_id}", dependencies=[require("search")], responses=error_responses(404)
)
def get_entity(
    engine: EngineDep, entity_id: str = Path(min_length=1, max_length=512)
) -> dict[str, object]:
    """One entity as stored (the ltrr JSONL record)."""
    entity = engine.get(entity_id)
    if entity is None:
        raise HTTPException(
            404, detail={"field": "entity_id", "message": f"no entity {entity_id!r}"}
        )
    return entity.to_record()


@router.get("/lookup", dependencies=[require("search")])
def lookup(
    engine: EngineDep,
    q: str = Query(min_length=1, max_length=512, description="What the person types"),
    k: int = Query(10, ge=1, le=50),
) -> list[dict[str, str]]:
    """Entities matching ``q`` (lexical and fuzzy, interleaved): the web page's "found it
    elsewhere" picker. Not a search: nothing is logged, planned or learned."""
    with engine.lock:
        understood = engine.indexes.understander.understand(q)
        lists = [
            engine.indexes.retrievers[name].retrieve(understood, Context(), k)
            for name in LOOKUP_STRATEGIES
            if name in engine.indexes.retrievers
        ]
        ids: list[EntityId] = []
        for rank in range(k):
            for found in lists:
                if rank < len(found) and found[rank].entity_id not in ids:
                    ids.append(found[rank].entity_id)
        entities = engine.data_dir.catalog.get_many(ids[:k])
    return [
        {"id": e.id, "type": e.type, "title": e.title}
        for e in (entities.get(i) for i in ids[:k])
        if e is not None
    ]

"""The ``retrieve`` stage: candidate generators behind one ``Retriever`` protocol.

``RETRIEVERS`` maps each strategy's stable name to its class, imported lazily so that a
process that never runs ``dense`` never loads ONNX Runtime. Every class implements the
``Retriever`` protocol plus two constructors:

- ``build(entities, config, *, catalog_version, on_progress=None)``: index from scratch;
- ``load(directory, config)``: read what ``save(directory)`` wrote.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any

from ltrr.errors import UnknownStrategyError

RETRIEVERS: dict[str, str] = {
    "lexical": "ltrr.retrieve.lexical:LexicalRetriever",
    "fuzzy": "ltrr.retrieve.fuzzy:FuzzyRetriever",
    "structured": "ltrr.retrieve.structured:StructuredRetriever",
    "dense": "ltrr.retrieve.dense:DenseRetriever",
    "memory": "ltrr.retrieve.memory:MemoryRetriever",
    "popular": "ltrr.retrieve.popular:PopularRetriever",
    "related": "ltrr.retrieve.related:RelatedRetriever",
    "explore": "ltrr.retrieve.explore:ExploreRetriever",
}


def check_strategies(names: Iterable[str]) -> None:
    """Raise ``UnknownStrategyError`` naming the first of ``names`` that is not a strategy."""
    for name in names:
        if name not in RETRIEVERS:
            allowed = ", ".join(RETRIEVERS)
            raise UnknownStrategyError(f"unknown strategy {name!r}; allowed: {allowed}")


def retriever_class(name: str) -> Any:
    """The class registered as strategy ``name``."""
    check_strategies([name])
    module, _, attr = RETRIEVERS[name].partition(":")
    return getattr(importlib.import_module(module), attr)

"""The queries ``memory`` predicts for an entity, and the canonical key of any query.

Cold start: every entity predicts the queries it should answer (``predicted_queries``): its
normalised title, aliases (``aliases``: without bracketed parts, " - ..." suffixes and "feat."
credits), "title + name" for each main name field (e.g. the artist; both orders share the
sorted key), type-qualified forms ("X playlist", "X album", "songs by X" for artists). A query
is keyed by ``canonical``, so word order does not matter. Kept apart from the retriever because
these forms are text rules, tested on their own, that never touch an index.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from ltrr.types import Entity
from ltrr.understand.text import tokenize

if TYPE_CHECKING:
    from ltrr.retrieve.memory import MemoryParams

_BRACKETS = re.compile(r"\s*[\(\[][^\)\]]*[\)\]]")
_DASH = re.compile(r"\s+[-\u2013\u2014]\s+.*$")
_FEAT = re.compile(r"\s+(?:feat\.?|ft\.?|featuring)\s.*$", re.IGNORECASE)


def canonical(tokens: Sequence[str], drop: Iterable[str] = ()) -> str:
    """The key of a query: its tokens minus ``drop`` (unless nothing would remain), sorted.

    >>> canonical(["swift", "taylor", "the"], ["the"])
    'swift taylor'
    """
    dropped = set(drop)
    kept = [t for t in tokens if t not in dropped] or list(tokens)
    return " ".join(sorted(kept))


def aliases(title: str) -> list[list[str]]:
    """Token lists of ``title`` without brackets, " - ..." suffixes or "feat." credits."""
    found = []
    for pattern in (_BRACKETS, _DASH, _FEAT):
        stripped = pattern.sub("", title)
        found.append(stripped)
        title = stripped
    out: list[list[str]] = []
    for text in found:
        tokens = tokenize(text)
        if tokens and tokens not in out:
            out.append(tokens)
    return out


def predicted_queries(entity: Entity, p: MemoryParams) -> dict[str, float]:
    """Canonical key -> form weight of the queries ``entity`` should answer."""
    forms: dict[str, float] = {}

    def put(tokens: Sequence[str], weight: float) -> None:
        key = canonical(tokens, p.drop_tokens)
        if key and weight > forms.get(key, 0.0):
            forms[key] = weight

    title = tokenize(entity.title)
    names = [tokenize(entity.fields[f]) for f in p.name_fields if f in entity.fields]
    put(title, p.title_weight)
    alias_list = [a for a in aliases(entity.title) if a != title]
    for alias in alias_list:
        put(alias, p.alias_weight)
    for name in names:
        put(title + name, p.title_name_weight)
        for alias in alias_list:
            put(alias + name, p.alias_weight)
    if entity.type in p.typed_types:
        put(title + tokenize(entity.type), p.typed_weight)
    if entity.type in p.artist_types:
        for form in (*p.artist_prefixes, *p.artist_suffixes):
            put(tokenize(form) + title, p.typed_weight)
    return forms


def key_hash(key: str) -> int:
    """64-bit hash of a canonical key: the index stores hashes, not the key strings."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")

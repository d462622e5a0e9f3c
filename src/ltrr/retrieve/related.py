"""``related``: entities linked to the ones the query names, one or two hops away.

Seeds are the entities whose normalised title the query names: each ``entity`` span (the
tagger's ``value`` is the normalised name, ``label`` the entity type; entities of that type are
preferred when the name is shared across types), or, with ``whole_query_seeds`` and no entity
span, the whole corrected (then typed) query when it is exactly a catalog name. A shared name
("Love") seeds its ``max_seeds`` most popular holders. From the seeds the ``related`` links are
followed ``hops`` times; a path's score is the seed's confidence times ``hop_decay`` per hop,
an entity keeps its best path, and the popularity prior breaks near-ties:

    score = confidence * hop_decay ** hops * (1 + popularity_weight * prior)

Links are stored by target id code, not row, so a link to an entity that arrives later (or is
replaced, which gives it a new row) resolves when it does. No seed, no result.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from ltrr.retrieve._index import (
    Files,
    RowIndex,
    best_per_row,
    candidates,
    check_positive,
    top_rows,
)
from ltrr.retrieve._postings import Postings, Rows, Vocabulary
from ltrr.retrieve._rows import EntityRows, Growable
from ltrr.retrieve.base import Candidate
from ltrr.types import Context, Entity, EntityId
from ltrr.understand.base import UnderstoodQuery
from ltrr.understand.text import normalize

NAME = "related"
INDEX_PARAMS = ("max_links_per_entity",)


@dataclass(frozen=True, slots=True)
class RelatedParams:
    """``[retrieve.related]`` (see defaults.toml)."""

    hops: int = 2
    hop_decay: float = 0.5
    include_seeds: bool = True
    max_seeds: int = 5
    whole_query_seeds: bool = True
    whole_query_confidence: float = 0.8
    popularity_weight: float = 0.2
    max_links_per_entity: int = 200

    def __post_init__(self) -> None:
        check_positive(self, "retrieve.related", ("max_seeds",))


class RelatedRetriever(RowIndex[RelatedParams]):
    """Neighbours of the named entities in the ``related`` graph; implements ``Retriever``."""

    name = NAME
    params_type = RelatedParams
    index_params = INDEX_PARAMS

    def __init__(
        self,
        params: RelatedParams,
        *,
        catalog_version: int,
        rows: EntityRows,
        names: Vocabulary,
        name_rows: Postings,
        codes: Vocabulary,
        links: Postings,
    ) -> None:
        super().__init__(params, catalog_version, rows)
        self._names, self._name_rows = names, name_rows
        self._codes, self._links = codes, links  # links: row -> target code
        row_of_code = np.full(len(codes), -1, np.int64)
        for code, entity_id in enumerate(codes.words):
            row_of_code[code] = rows.row_of.get(EntityId(entity_id), -1)
        self._row_of_code = Growable(row_of_code)

    # -- indexing -----------------------------------------------------------------------

    @classmethod
    def empty(cls, params: RelatedParams, catalog_version: int) -> RelatedRetriever:
        return cls(
            params,
            catalog_version=catalog_version,
            rows=EntityRows.empty(),
            names=Vocabulary([]),
            name_rows=Postings.empty(),
            codes=Vocabulary([]),
            links=Postings.empty(),
        )

    def _build(self, batches: Iterable[Sequence[Entity]]) -> None:
        for batch in batches:
            self.add(batch)
        self._name_rows = self._name_rows.merged(None, n_keys=len(self._names))
        self._links = self._links.merged(None, n_keys=self._rows.n)

    @classmethod
    def _from_files(
        cls, params: RelatedParams, catalog_version: int, rows: EntityRows, files: Files
    ) -> RelatedRetriever:
        arrays, docs = files
        return cls(
            params,
            catalog_version=catalog_version,
            rows=rows,
            names=Vocabulary(list(docs["names"])),
            name_rows=Postings.from_files(arrays, "names"),
            codes=Vocabulary(list(docs["codes"])),
            links=Postings.from_files(arrays, "links"),
        )

    def _files(self, keep: Rows, remap: Rows) -> Files:
        arrays = self._name_rows.merged(remap, n_keys=len(self._names)).to_files("names")
        # links are keyed by row: remap the keys, the targets are codes
        keys, codes, weights = self._links.pairs()
        new_keys = remap[keys]
        live = new_keys >= 0
        links = Postings.from_pairs(new_keys[live], codes[live], weights[live], n_keys=len(keep))
        arrays.update(links.to_files("links"))
        return arrays, {"names": self._names.words, "codes": self._codes.words}

    def _code(self, entity_id: str) -> int:
        known = len(self._codes)
        code = self._codes.add(entity_id)
        if code == known:
            self._row_of_code.extend(np.array([-1], np.int64))
        return code

    def add(self, entities: Sequence[Entity]) -> None:
        if not entities:
            return
        first, _ = self._rows.append(entities)
        name_keys, link_keys, link_codes = [], [], []
        cap = self.params.max_links_per_entity
        for offset, entity in enumerate(entities):
            row = first + offset
            code = self._code(entity.id)  # may grow the column: index the view after
            self._row_of_code.view[code] = row
            name_keys.append(self._names.add(normalize(entity.title)))
            for target in list(dict.fromkeys(entity.related))[:cap]:
                link_keys.append(row)
                link_codes.append(self._code(target))
        rows = range(first, first + len(entities))
        self._name_rows.extend(name_keys, rows, [1.0] * len(entities))
        self._links.extend(link_keys, link_codes, [1.0] * len(link_keys))

    def remove(self, ids: Sequence[EntityId]) -> None:
        for entity_id in ids:
            code = self._codes.get(entity_id)
            if code >= 0 and entity_id in self._rows.row_of:
                self._row_of_code.view[code] = -1
        super().remove(ids)

    # -- querying -----------------------------------------------------------------------

    def seeds(self, query: UnderstoodQuery) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Rows the query names and the confidence of each (best span wins)."""
        named: list[tuple[str, str | None, float]] = [
            (s.value, s.label, float(s.confidence)) for s in query.spans if s.kind == "entity"
        ]
        p = self.params
        if not named and p.whole_query_seeds:
            for text in dict.fromkeys((query.corrected, query.text)):
                if text and self._names.get(text) >= 0:
                    named.append((text, None, p.whole_query_confidence))
                    break
        rows_out: list[NDArray[np.int64]] = []
        conf_out: list[NDArray[np.float64]] = []
        for value, label, confidence in named:
            rows = self._rows_named(normalize(value), label)
            rows_out.append(rows)
            conf_out.append(np.full(len(rows), confidence))
        if not rows_out:
            return np.zeros(0, np.int64), np.zeros(0)
        return best_per_row(np.concatenate(rows_out), np.concatenate(conf_out))

    def _rows_named(self, name: str, entity_type: str | None) -> NDArray[np.int64]:
        key = self._names.get(name)
        if key < 0:
            return np.zeros(0, np.int64)
        rows, _ = self._name_rows.get(key)
        rows = rows[self._rows.alive[rows]]
        if entity_type is not None:
            code = self._rows.type_index.get(entity_type, -1)
            typed = rows[self._rows.type_code[rows] == code]
            rows = typed if len(typed) else rows
        popular = np.lexsort((rows, -self._rows.popularity[rows]))
        return rows[popular[: self.params.max_seeds]]

    def retrieve(self, query: UnderstoodQuery, context: Context, depth: int) -> list[Candidate]:
        """Entities within ``hops`` links of the named seeds, best path first."""
        del context
        if depth <= 0 or query.is_empty or not len(self._rows):
            return []
        seeds, confidence = self.seeds(query)
        if not len(seeds):
            return []
        p = self.params
        all_rows, all_scores = [], []
        if p.include_seeds:
            all_rows.append(seeds)
            all_scores.append(confidence)
        frontier, scores = seeds, confidence
        for _ in range(p.hops):
            codes, _, seg = self._links.gather(frontier)
            targets = self._row_of_code.view[codes]
            live = targets >= 0
            frontier, scores = best_per_row(targets[live], scores[seg[live]] * p.hop_decay)
            if not len(frontier):
                break
            all_rows.append(frontier)
            all_scores.append(scores)
        rows, path = best_per_row(np.concatenate(all_rows), np.concatenate(all_scores))
        if not p.include_seeds:
            keep = ~np.isin(rows, seeds)
            rows, path = rows[keep], path[keep]
        live = self._rows.alive[rows]
        rows, path = rows[live], path[live]
        final = path * (1.0 + p.popularity_weight * self._rows.prior[rows])
        best, best_scores = top_rows(rows, final, depth)
        return candidates(self._rows.ids, best, best_scores)

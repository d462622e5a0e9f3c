"""A music search benchmark built from any catalog with names (EVALUATION.md section 2).

Eight query classes, each query tagged with its class in ``metadata.class``:

============== ================================================ ================================
class          query                                            targets
============== ================================================ ================================
exact          a title as written ("Bad Guy")                   every entity of that name
misspelled     a name with seeded typos (``evaluate.misspell``) every entity of the right name
partial        1-4 distinctive contiguous words of a title      every title holding them
title_artist   "bad guy billie eilish"                          songs of that title and artist
artist         an artist's name                                 the artists of that name
type_qualified "X playlist", "X album", "X song", "songs by X"  that type and name / artist
topic          "chill", "chill playlist", "rock songs"          entities carrying that value
broad          one frequent title word ("love")                 every title holding the word
============== ================================================ ================================

Names are compared after ``normalize``, so a target is every entity with the same normalised
name (titles repeat: "Love" is many songs), never one arbitrary id; every judgement is 1. Topic
and broad queries keep all their targets (hundreds or thousands each): report them apart from
the named classes.

**Sampling.** Search traffic is Zipf-like (EVALUATION.md section 3), so a benchmark of mostly
obscure items is unrealistic, and one of only hits never tests the tail. A class's candidates
(names, attribute values, words) are ranked by popularity (a name's best entity; for topics and
words the number of entities), rank 1 the most popular, ties sharing a rank, and drawn without
replacement (Efraimidis and Spirakis 2006) with probability proportional to
``(1 - tail_share) * zipf(rank) + tail_share / n``, ``zipf(rank) ~ rank ** -zipf_exponent``:
the head is nearly always drawn and about ``tail_share`` of the draws spread uniformly over the
tail. Each class has its own generator seeded by ``(seed, class)``. A query text belongs to one
class only (topic and broad choose first, exact last), so one text never has two target sets.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import orjson

from ltrr import __version__
from ltrr.errors import CatalogError, ConfigError, StorageError
from ltrr.evaluate.misspell import MisspellParams
from ltrr.evaluate.music_queries import (
    BUILD_ORDER,
    CLASSES,
    MusicBenchmarkParams,
    MusicIndex,
    Taken,
    draw_class,
)
from ltrr.storage.folder import staged
from ltrr.types import Entity, EntityId

FORMAT_VERSION = 1
#: Files a benchmark directory holds; an --out directory with others is never replaced.
OUTPUT_NAMES = frozenset({"corpus.jsonl", "queries.jsonl", "qrels", "benchmark.json"})


@dataclass(frozen=True, slots=True)
class MusicQuery:
    """One query; ``metadata`` holds its ``class`` and how it was made (source, form, edits)."""

    id: str
    text: str
    targets: tuple[EntityId, ...]
    metadata: Mapping[str, object]

    @property
    def query_class(self) -> str:
        return str(self.metadata["class"])


@dataclass(frozen=True, slots=True)
class MusicBenchmark:
    """The queries in ``CLASSES`` order, the corpus, and how the queries were drawn.

    ``n_candidates[c]`` counts the names, values or words class ``c`` could draw from;
    ``rank_pct[c]`` holds per query its source's popularity rank percentile among them (0 =
    the most popular): how far into the tail the sample reaches.
    """

    queries: tuple[MusicQuery, ...]
    entities: tuple[Entity, ...] = field(repr=False)
    seed: int
    n_candidates: Mapping[str, int]
    rank_pct: Mapping[str, tuple[float, ...]]

    @property
    def counts(self) -> dict[str, int]:
        """Class -> number of queries (0 for a class the catalog cannot support)."""
        counts = Counter(q.query_class for q in self.queries)
        return {c: counts[c] for c in CLASSES}

    @property
    def edit_distance_histogram(self) -> dict[int, int]:
        """Damerau-Levenshtein distance of the misspelled queries -> number of queries."""
        distances = Counter(
            int(str(q.metadata["edit_distance"]))
            for q in self.queries
            if q.query_class == "misspelled"
        )
        return dict(sorted(distances.items()))

    def targets_per_query(self) -> dict[str, dict[str, float]]:
        """Class -> min, median and max number of targets of its queries."""
        stats = {}
        for c in CLASSES:
            sizes = [len(q.targets) for q in self.queries if q.query_class == c]
            if sizes:
                stats[c] = {"min": min(sizes), "median": float(np.median(sizes)), "max": max(sizes)}
        return stats

    def rank_quartiles(self) -> dict[str, list[float]]:
        """Class -> quartiles of its sources' popularity rank percentiles (0 = the top)."""
        return {
            c: [round(x, 1) for x in np.quantile(pct, [0.25, 0.5, 0.75]).tolist()]
            for c, pct in self.rank_pct.items()
            if pct
        }

    def summary(self) -> dict[str, object]:
        """Counts, edit distances, targets per query and sampling quartiles, JSON-ready."""
        quartiles = self.rank_quartiles()
        return {
            "seed": self.seed,
            "n_entities": len(self.entities),
            "n_queries": len(self.queries),
            "n_qrels": sum(len(q.targets) for q in self.queries),
            "counts": self.counts,
            "edit_distance_histogram": {str(d): n for d, n in self.edit_distance_histogram.items()},
            "targets_per_query": self.targets_per_query(),
            "sampling": {
                c: {
                    "n_candidates": self.n_candidates.get(c, 0),
                    "rank_percentile_quartiles": quartiles.get(c, []),
                }
                for c in CLASSES
            },
        }


def build_benchmark(
    entities: Iterable[Entity],
    params: MusicBenchmarkParams | None = None,
    *,
    seed: int = 0,
    misspelling: MisspellParams | None = None,
) -> MusicBenchmark:
    """Draw ``params.per_class`` queries of every class the catalog supports.

    Entities repeating an id keep the last version (as an upsert would); the corpus is sorted by
    id, so the same catalog read from any source in any order, with the same params and seed,
    gives the same benchmark.
    """
    if seed < 0:
        raise ConfigError(f"seed must be >= 0, got {seed}")
    params, mp = params or MusicBenchmarkParams(), misspelling or MisspellParams()
    catalog = tuple(sorted({e.id: e for e in entities}.values(), key=lambda e: e.id))
    ix = MusicIndex(catalog, params)
    seen: set[str] = set()
    taken: dict[str, list[Taken]] = {}
    n_candidates: dict[str, int] = {}
    for name in BUILD_ORDER:
        n_candidates[name], taken[name] = draw_class(name, ix, seed, mp, seen)
    queries = tuple(
        MusicQuery(
            id=f"{name}-{j:04d}",
            text=text,
            targets=tuple(catalog[i].id for i in targets),
            metadata={"class": name, **metadata},
        )
        for name in CLASSES
        for j, (text, targets, metadata, _) in enumerate(taken[name])
    )
    rank_pct = {name: tuple(t[3] for t in taken[name]) for name in CLASSES}
    return MusicBenchmark(queries, catalog, seed, n_candidates, rank_pct)


def corpus_record(entity: Entity) -> dict[str, object]:
    """A BEIR corpus line carrying the whole entity: ``_id`` for ``id``, ``text`` as BEIR wants.

    Named fields (a song's artist and album) stay under ``fields`` rather than being folded into
    ``text``, so the benchmark's catalog is the same catalog the retrievers index in production
    (the memory index predicts "title artist" from ``fields.artist``, lexical boosts names).
    """
    record = entity.to_record()
    record["_id"] = record.pop("id")
    fields = dict(entity.fields)
    record["text"] = fields.pop("text", "")
    if fields:
        record["fields"] = fields
    else:
        record.pop("fields", None)
    return record


def write_benchmark(
    benchmark: MusicBenchmark,
    out: Path,
    *,
    params: MusicBenchmarkParams,
    misspelling: MisspellParams,
    source: Mapping[str, object],
) -> dict[str, object]:
    """Write ``out`` in BEIR layout plus ``benchmark.json``; return that manifest.

    Files: ``corpus.jsonl``, ``queries.jsonl`` (``metadata.class``), ``qrels/test.tsv``. They
    are written in a temporary directory beside ``out`` and renamed into place, replacing an
    earlier benchmark but never a directory holding other files.
    """
    try:
        with staged(out, own_names=OUTPUT_NAMES) as tmp:
            manifest = _write_files(benchmark, tmp, params, misspelling, source)
    except StorageError as exc:  # out holds other files, or is not a directory
        raise CatalogError(str(exc), path=str(out)) from None
    return manifest


def _write_files(
    benchmark: MusicBenchmark,
    directory: Path,
    params: MusicBenchmarkParams,
    misspelling: MisspellParams,
    source: Mapping[str, object],
) -> dict[str, object]:
    with (directory / "corpus.jsonl").open("wb") as fh:
        for entity in benchmark.entities:
            fh.write(orjson.dumps(corpus_record(entity)) + b"\n")
    with (directory / "queries.jsonl").open("wb") as fh:
        for q in benchmark.queries:
            fh.write(orjson.dumps({"_id": q.id, "text": q.text, "metadata": q.metadata}) + b"\n")
    (directory / "qrels").mkdir()
    with (directory / "qrels" / "test.tsv").open("w", encoding="utf-8", newline="\n") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        for q in benchmark.queries:
            fh.writelines(f"{q.id}\t{target}\t1\n" for target in q.targets)
    manifest = {
        "format_version": FORMAT_VERSION,
        "ltrr_version": __version__,
        "source": dict(source),
        **benchmark.summary(),
        "params": asdict(params),
        "misspelling": asdict(misspelling),
    }
    (directory / "benchmark.json").write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    return manifest

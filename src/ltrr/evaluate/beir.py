"""Reading a benchmark in BEIR layout: queries, relevance judgements and the corpus path.

EVALUATION.md fixes the layout and nothing more: ``corpus.jsonl`` (or ``.gz``),
``queries.jsonl`` whose lines may carry ``metadata.class``, and ``qrels/<split>.tsv`` with a
header line, tab-separated, CRLF or LF. Any directory in that shape is a benchmark, so errors
name the file, line and field instead of assuming a particular data set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ltrr.catalog.jsonl import beir_corpus_path, json_object
from ltrr.catalog.sources import decoded_lines
from ltrr.errors import CatalogError

QUERIES_FILE = "queries.jsonl"
QRELS_DIR = "qrels"

#: query id -> entity id -> graded relevance (>= 1 relevant, 0 judged non-relevant).
Qrels = Mapping[str, Mapping[str, int]]


@dataclass(frozen=True, slots=True)
class BenchmarkQuery:
    """One query line: its id, text and optional class (``metadata.class``)."""

    id: str
    text: str
    query_class: str | None = None


@dataclass(frozen=True, slots=True)
class Benchmark:
    """The judged queries of one split and where the corpus is."""

    directory: Path
    split: str
    corpus_path: Path
    queries: Mapping[str, BenchmarkQuery]
    qrels: Qrels
    #: Query ids judged in the split but absent from ``queries.jsonl`` (not evaluated).
    unknown_query_ids: tuple[str, ...] = ()


def splits(directory: Path) -> list[str]:
    """The splits a benchmark has judgements for (``qrels/<split>.tsv``)."""
    qrels = directory / QRELS_DIR
    return sorted(p.stem for p in qrels.glob("*.tsv")) if qrels.is_dir() else []


def read_benchmark(directory: Path, split: str = "test") -> Benchmark:
    """The queries judged in ``split`` (and only those), their qrels and the corpus file.

    Raises
    ------
    CatalogError
        When a file is missing or a line is malformed, naming file, line and field.
    """
    if not directory.is_dir():
        raise CatalogError("is not a benchmark directory", path=str(directory))
    qrels_path = directory / QRELS_DIR / f"{split}.tsv"
    if not qrels_path.is_file():
        known = ", ".join(splits(directory)) or "none"
        raise CatalogError(
            f"no judgements for split {split!r}; splits: {known}", path=str(qrels_path)
        )
    corpus = beir_corpus_path(directory)
    qrels = read_qrels(qrels_path)
    queries = read_queries(directory / QUERIES_FILE)
    judged = {q: queries[q] for q in qrels if q in queries}
    unknown = tuple(q for q in qrels if q not in queries)
    return Benchmark(
        directory=directory,
        split=split,
        corpus_path=corpus,
        queries=judged,
        qrels={q: qrels[q] for q in judged},
        unknown_query_ids=unknown,
    )


def read_queries(path: Path) -> dict[str, BenchmarkQuery]:
    """``_id`` -> query of a BEIR ``queries.jsonl`` (plain or ``.gz``)."""
    queries: dict[str, BenchmarkQuery] = {}
    first_line: dict[str, int] = {}
    for number, text in decoded_lines(path):
        if isinstance(text, CatalogError):
            raise text
        if not text.strip():
            continue
        try:
            query = _query(text)
        except CatalogError as exc:
            raise exc.at(path=str(path), line=number) from None
        if query.id in first_line:
            raise CatalogError(
                f"duplicate query id {query.id!r}, first at line {first_line[query.id]}",
                path=str(path),
                line=number,
                field="_id",
            )
        first_line[query.id] = number
        queries[query.id] = query
    return queries


def _query(text: str) -> BenchmarkQuery:
    record = json_object(text)
    query_id = record.get("_id")
    if not isinstance(query_id, str | int) or isinstance(query_id, bool) or query_id == "":
        raise CatalogError(f"must be a non-empty string, got {query_id!r}", field="_id")
    query_text = record.get("text")
    if not isinstance(query_text, str):
        raise CatalogError(f"must be a string, got {query_text!r}", field="text")
    metadata = record.get("metadata")
    query_class = metadata.get("class") if isinstance(metadata, dict) else None
    if query_class is not None and not isinstance(query_class, str):
        raise CatalogError(f"must be a string, got {query_class!r}", field="metadata.class")
    return BenchmarkQuery(str(query_id), query_text, query_class)


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """Query id -> entity id -> relevance from a BEIR qrels file.

    Lines are ``query-id<TAB>corpus-id<TAB>score`` after one header line (TREC's four-column
    ``query iteration doc score`` is accepted too). A pair judged twice keeps its highest grade.
    """
    qrels: dict[str, dict[str, int]] = {}
    for number, text in decoded_lines(path):
        if isinstance(text, CatalogError):
            raise text
        cells = text.rstrip("\r\n").split("\t")
        if len(cells) == 1:
            cells = cells[0].split()
        if not cells or cells == [""]:
            continue
        if number == 1 and not _is_number(cells[-1]):
            continue  # the header
        if len(cells) not in (3, 4):
            raise CatalogError(
                f"has {len(cells)} columns, expected query-id, corpus-id, score",
                path=str(path),
                line=number,
            )
        query_id, doc_id, score = cells[0].strip(), cells[-2].strip(), cells[-1].strip()
        if not _is_number(score):
            raise CatalogError(
                f"score {score!r} is not an integer", path=str(path), line=number, field="score"
            )
        for name, value in (("query-id", query_id), ("corpus-id", doc_id)):
            if not value:
                raise CatalogError("is empty", path=str(path), line=number, field=name)
        judged = qrels.setdefault(query_id, {})
        judged[doc_id] = max(int(float(score)), judged.get(doc_id, -(2**31)))
    if not qrels:
        raise CatalogError("holds no judgements", path=str(path))
    return qrels


def _is_number(text: str) -> bool:
    try:
        value = float(text)
    except ValueError:
        return False
    return value.is_integer()

"""SMART-format test collections (Cranfield, CISI, MED...) converted to the BEIR layout.

A SMART file is a run of records, each opened by ``.I <number>`` and made of tagged fields:
``.T`` title, ``.A`` authors, ``.B`` bibliographic source, ``.W`` text (abstract or query). A
tag line holds only the tag (any text after it starts the field); lines up to the next tag
belong to the field. Lines are stripped and joined with single spaces, so CRLF and the leading
indentation of paragraphs disappear.

Two quirks of the classic collections are handled here, both seen in Cranfield:

- Queries are judged **by position**: ``cranqrel`` numbers queries 1..225 in file order while
  ``cran.qry`` numbers them 001..365 with gaps. Queries therefore get ``_id`` = their 1-based
  position, and the qrels' first column must be such a position.
- A tag repeated within one record (Cranfield documents 240, 576 and 578 carry stray ``.A``,
  ``.B`` and ``.W`` lines inside their abstracts) does not restart the field: it is taken as a
  stray marker and the current field continues, which keeps those abstracts whole.

Relevance codes are Cleverdon's: 1 = complete answer, 2 = high relevance, 3 = useful,
4 = minimum interest. BEIR scores are graded gains, so a code becomes ``5 - code`` (4 .. 1).
Code ``-1`` (one line per Cranfield query) is conventionally ignored as non-relevant and is
dropped. A two-column qrels file (``query doc``) marks relevance without grade: score 1.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from ltrr.catalog.sources import decoded_lines
from ltrr.errors import CatalogError, StorageError
from ltrr.storage.folder import staged

logger = logging.getLogger(__name__)

#: SMART tags this converter reads; any other ``.X`` line is an error.
TAGS = ("I", "T", "A", "B", "W")

#: Relevance code -> BEIR score; codes outside this table and ``-1`` are refused.
CODE_TO_SCORE = {1: 4, 2: 3, 3: 2, 4: 1}
DROPPED_CODES = frozenset({-1})

#: The files a conversion writes; ``out`` may be replaced only if it holds nothing else.
OUTPUT_NAMES = frozenset({"corpus.jsonl", "queries.jsonl", "qrels"})

_TAG = re.compile(r"\.([A-Z])(?:\s+(.*))?")


@dataclass(frozen=True, slots=True)
class SmartReport:
    """What one conversion wrote: documents, queries and kept qrels lines."""

    n_docs: int
    n_queries: int
    n_qrels: int


@dataclass(slots=True)
class SmartRecord:
    """One ``.I`` record: its number as written, its first line, and tag -> text lines."""

    number: str
    line: int
    fields: dict[str, list[str]] = field(default_factory=dict)

    def text(self, tag: str) -> str:
        return " ".join(part for part in (s.strip() for s in self.fields.get(tag, ())) if part)


def _number(text: str) -> str:
    """A record number without leading zeros ("001" -> "1"), so files written either way match."""
    return (text.lstrip("0") or "0") if text.isdigit() else text


def _record_number(argument: str | None, path: Path, line: int) -> str:
    number = (argument or "").strip()
    if not number:
        raise CatalogError("'.I' without a record number", path=str(path), line=line, field=".I")
    if len(number.split()) > 1:
        raise CatalogError(
            f"'.I' takes one record number, got {number!r}", path=str(path), line=line, field=".I"
        )
    return _number(number)


def read_smart(path: Path) -> Iterator[SmartRecord]:
    """Yield the records of a SMART file (plain or ``.gz``) in file order.

    Raises
    ------
    CatalogError
        At an undecodable line, an unknown tag, a ``.I`` without number or text before the
        first ``.I``, naming the file and line.
    """
    record: SmartRecord | None = None
    tag = "I"
    for number, text in decoded_lines(path):
        if isinstance(text, CatalogError):
            raise text
        line = text.rstrip("\r\n")
        match = _TAG.fullmatch(line.rstrip())
        if match is None:
            if record is not None and (tag != "I" or not line.strip()):
                record.fields[tag].append(line)
            elif record is not None:
                raise CatalogError(
                    "text after '.I' before any field tag (.T, .A, .B, .W)",
                    path=str(path),
                    line=number,
                )
            elif line.strip():
                raise CatalogError(
                    "text before the first '.I' record; a SMART file starts with '.I <number>'",
                    path=str(path),
                    line=number,
                )
            continue
        name, argument = match.groups()
        if name not in TAGS:
            allowed = ", ".join("." + t for t in TAGS)
            raise CatalogError(
                f"unknown tag '.{name}'; allowed: {allowed}",
                path=str(path),
                line=number,
                field=f".{name}",
            )
        if name == "I":
            if record is not None:
                yield record
            record, tag = SmartRecord(_record_number(argument, path, number), number), "I"
            record.fields["I"] = []
        elif record is None:
            raise CatalogError(
                f"'.{name}' before the first '.I' record", path=str(path), line=number
            )
        elif name in record.fields:
            logger.debug("%s:%d: repeated '.%s' taken as part of '.%s'", path, number, name, tag)
            record.fields[tag].append(argument or "")
        else:
            tag = name
            record.fields[tag] = [argument] if argument else []
    if record is not None:
        yield record


def _score(code: str, fail: Callable[[str, str | None], CatalogError]) -> int | None:
    value = int(code) if re.fullmatch(r"-?\d+", code) else None
    if value in DROPPED_CODES:
        return None
    if value not in CODE_TO_SCORE:
        allowed = ", ".join(str(c) for c in sorted({*CODE_TO_SCORE, *DROPPED_CODES}))
        raise fail(f"relevance code {code!r} is not one of {allowed}", "score")
    return CODE_TO_SCORE[value]


def _qrels_line(
    cells: list[str], n_queries: int, doc_ids: set[str], path: Path, line: int
) -> tuple[int, str, int] | None:
    """``(query position, doc id, score)`` of one qrels line, ``None`` for a dropped code."""

    def fail(reason: str, field: str | None = None) -> CatalogError:
        return CatalogError(reason, path=str(path), line=line, field=field)

    if len(cells) not in (2, 3):
        raise fail(f"has {len(cells)} columns, expected 'query doc [code]'")
    query, doc = cells[0], _number(cells[1])
    if not query.isdigit() or not 1 <= int(query) <= n_queries:
        raise fail(f"query {query!r} is not a query position 1..{n_queries}", "query-id")
    if doc not in doc_ids:
        raise fail(f"document {cells[1]!r} is not in the corpus", "corpus-id")
    score = 1 if len(cells) == 2 else _score(cells[2], fail)
    return None if score is None else (int(query), doc, score)


def read_qrels(path: Path, n_queries: int, doc_ids: set[str]) -> dict[tuple[int, str], int]:
    """``(query position, doc id) -> score`` in file order; a repeated pair keeps its best."""
    kept: dict[tuple[int, str], int] = {}
    for number, text in decoded_lines(path):
        if isinstance(text, CatalogError):
            raise text
        cells = text.split()
        if not cells:
            continue
        judged = _qrels_line(cells, n_queries, doc_ids, path, number)
        if judged is not None:
            query, doc, score = judged
            kept[query, doc] = max(score, kept.get((query, doc), score))
    return kept


def _starts_with_record(path: Path) -> bool:
    """Whether the first non-blank line of ``path`` is a ``.I`` tag (cheap role sniffing)."""
    try:
        with path.open("rb") as fh:
            for raw in fh:
                if raw.strip():
                    return raw.startswith(b".I")
    except OSError:
        return False
    return False


def _one(candidates: list[Path], role: str, rule: str, src: Path) -> Path:
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise CatalogError(f"no {role} file: expected {rule}", path=str(src))
    names = ", ".join(p.name for p in candidates)
    raise CatalogError(f"ambiguous {role} file: {names} all match ({rule})", path=str(src))


def find_roles(src: Path) -> tuple[Path, Path, Path]:
    """``(documents, queries, qrels)`` files of a SMART collection directory, found by name.

    Queries: the name contains "qry" or "quer". Qrels: "rel" but not "readme". Documents: the
    name contains "all" (``cran.all.1400``, ``CISI.ALL``), else the largest other file that
    starts with a ``.I`` record. Names are compared case-insensitively; hidden files are skipped.
    """
    if not src.is_dir():
        raise CatalogError("is not a directory of SMART files", path=str(src))
    files = sorted(p for p in src.iterdir() if p.is_file() and not p.name.startswith("."))
    lower = {p: p.name.lower() for p in files}
    qrels = [p for p in files if "rel" in lower[p] and "readme" not in lower[p]]
    queries = [p for p in files if ("qry" in lower[p] or "quer" in lower[p]) and p not in qrels]
    rest = [p for p in files if p not in qrels and p not in queries and "readme" not in lower[p]]
    docs = [p for p in rest if "all" in lower[p]]
    if not docs:
        sniffed = [p for p in rest if _starts_with_record(p)]
        docs = sorted(sniffed, key=lambda p: -p.stat().st_size)[:1]
    return (
        _one(docs, "documents", "a name containing 'all' or a file of '.I' records", src),
        _one(queries, "queries", "a name containing 'qry' or 'quer'", src),
        _one(qrels, "qrels", "a name containing 'rel' and not 'readme'", src),
    )


def _corpus_line(record: SmartRecord) -> dict[str, object]:
    return {
        "_id": record.number,
        "title": record.text("T"),
        "text": record.text("W"),
        "metadata": {"author": record.text("A"), "bibliography": record.text("B")},
    }


def _write_jsonl(path: Path, lines: list[dict[str, object]]) -> None:
    with path.open("wb") as fh:
        for line in lines:
            fh.write(orjson.dumps(line))
            fh.write(b"\n")


def convert_smart(src: Path, out: Path) -> SmartReport:
    """Convert the SMART collection in directory ``src`` into a BEIR directory ``out``.

    Writes ``corpus.jsonl`` (``_id``, ``title``, ``text``, ``metadata.author``,
    ``metadata.bibliography``), ``queries.jsonl`` (``_id`` = 1-based position, ``text``) and
    ``qrels/test.tsv`` (``query-id``, ``corpus-id``, ``score`` = 5 - code). Everything is
    written in a temporary directory beside ``out`` and renamed into place, so a failed run
    leaves no half-written benchmark.

    Raises
    ------
    CatalogError
        When a role's file is missing or ambiguous, or a record or qrels line is malformed.
    """
    docs_path, queries_path, qrels_path = find_roles(src)
    docs = [_corpus_line(r) for r in _unique(read_smart(docs_path), docs_path)]
    queries: list[dict[str, object]] = [
        {"_id": str(position), "text": " ".join(filter(None, (r.text("T"), r.text("W"))))}
        for position, r in enumerate(read_smart(queries_path), start=1)
    ]
    for path, records in ((docs_path, docs), (queries_path, queries)):
        if not records:
            raise CatalogError("holds no '.I' records", path=str(path))
    qrels = read_qrels(qrels_path, len(queries), {str(d["_id"]) for d in docs})
    try:
        with staged(out, own_names=OUTPUT_NAMES) as tmp:
            _write_jsonl(tmp / "corpus.jsonl", docs)
            _write_jsonl(tmp / "queries.jsonl", queries)
            (tmp / "qrels").mkdir()
            rows = [f"{q}\t{d}\t{s}\n" for (q, d), s in qrels.items()]
            (tmp / "qrels" / "test.tsv").write_text(
                "query-id\tcorpus-id\tscore\n" + "".join(rows), encoding="utf-8"
            )
    except StorageError as exc:  # out holds other files, or is not a directory
        raise CatalogError(str(exc), path=str(out)) from None
    return SmartReport(n_docs=len(docs), n_queries=len(queries), n_qrels=len(qrels))


def _unique(records: Iterator[SmartRecord], path: Path) -> Iterator[SmartRecord]:
    """The records, refusing a document number seen twice (qrels could not tell them apart)."""
    seen: dict[str, int] = {}
    for record in records:
        if record.number in seen:
            raise CatalogError(
                f"duplicate document number {record.number!r}, first at line {seen[record.number]}",
                path=str(path),
                line=record.line,
                field=".I",
            )
        seen[record.number] = record.line
        yield record

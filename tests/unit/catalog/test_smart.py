"""SMART -> BEIR conversion, on the real Cranfield collection and on small synthetic files."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from ltrr.catalog.jsonl import load_beir
from ltrr.catalog.smart import SmartReport, convert_smart, find_roles, read_smart
from ltrr.config import load_config
from ltrr.errors import CatalogError
from ltrr.types import Entity

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared"
CRANFIELD = SHARED / "datasets" / "cranfield"

DOCS = (
    ".I 1\r\n.T\r\nfirst title\r\n.A\r\nsmith, j.\r\n.B\r\nj. ae. 1958\r\n"
    ".W\r\nfirst title .\r\n  body of\r\n  the first .\r\n"
    ".I 2\r\n.T\r\nsecond\r\n.A\r\n.B\r\n.W\r\nsecond text\r\n.A\r\nmore second text\r\n"
    ".I 3\r\n.T\r\nthird\r\n.W\r\n"
)
QUERIES = ".I 001\n.W\nwhat is first .\n.I 004\n.W\nsecond\nthings ?\n"
QRELS = "1 1 2 \n1 2 -1\n2 2 4\n2 03 1\n"


def _collection(root: Path, docs: str = DOCS, queries: str = QUERIES, qrels: str = QRELS) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "toy.all.3").write_bytes(docs.encode())
    (root / "toy.qry").write_bytes(queries.encode())
    (root / "toyqrel").write_bytes(qrels.encode())
    (root / "toyqrel.readme").write_text("codes 1..4\n")
    return root


def _jsonl(path: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def _qrels(path: Path) -> list[list[str]]:
    with path.open(newline="") as fh:
        return list(csv.reader(fh, delimiter="\t"))


def test_converts_a_small_collection(tmp_path: Path) -> None:
    out = tmp_path / "beir"
    report = convert_smart(_collection(tmp_path / "src"), out)
    assert report == SmartReport(n_docs=3, n_queries=2, n_qrels=3)
    assert _jsonl(out / "corpus.jsonl") == [
        {
            "_id": "1",
            "title": "first title",
            "text": "first title . body of the first .",
            "metadata": {"author": "smith, j.", "bibliography": "j. ae. 1958"},
        },
        {
            "_id": "2",
            "title": "second",
            "text": "second text more second text",  # a repeated .A continues .W
            "metadata": {"author": "", "bibliography": ""},
        },
        {"_id": "3", "title": "third", "text": "", "metadata": {"author": "", "bibliography": ""}},
    ]
    # ids are positions, not the .I numbers 001 and 004
    assert _jsonl(out / "queries.jsonl") == [
        {"_id": "1", "text": "what is first ."},
        {"_id": "2", "text": "second things ?"},
    ]
    # score = 5 - code; code -1 dropped; doc number 03 matches .I 3
    assert _qrels(out / "qrels" / "test.tsv") == [
        ["query-id", "corpus-id", "score"],
        ["1", "1", "3"],
        ["2", "2", "1"],
        ["2", "3", "4"],
    ]
    assert sorted(p.name for p in out.parent.iterdir()) == ["beir", "src"]  # no temp left


def test_converted_directory_loads_as_beir(tmp_path: Path) -> None:
    out = tmp_path / "beir"
    convert_smart(_collection(tmp_path / "src"), out)
    parsed = list(load_beir(out, load_config().catalog))
    assert [p.result.id for p in parsed if isinstance(p.result, Entity)] == ["1", "2", "3"]


def test_rerun_replaces_an_earlier_conversion(tmp_path: Path) -> None:
    out = tmp_path / "beir"
    convert_smart(_collection(tmp_path / "src"), out)
    convert_smart(_collection(tmp_path / "src2", qrels="1 1 1\n"), out)
    assert _qrels(out / "qrels" / "test.tsv")[1:] == [["1", "1", "4"]]


def test_refuses_to_replace_unrelated_files(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(CatalogError, match=r"notes\.txt"):
        convert_smart(_collection(tmp_path / "src"), out)
    assert (out / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "src"]


@pytest.mark.parametrize(
    ("docs", "line", "message"),
    [
        (".I 1\n.W\nok\n.I\n.W\nno number\n", 4, "'.I' without a record number"),
        (".I 1\n.W\nok\n.I 2 3\n", 4, "'.I' takes one record number"),
        (".I 1\n.T\nt\n.K\nkeywords\n", 4, "unknown tag '.K'; allowed: .I, .T, .A, .B, .W"),
        ("preamble\n.I 1\n.W\nx\n", 1, "text before the first '.I' record"),
        (".W\nx\n", 1, "'.W' before the first '.I' record"),
        (".I 1\nstray\n.W\nx\n", 2, "text after '.I' before any field tag"),
        (".I 1\n.W\nx\n.I 01\n.W\ny\n", 4, "duplicate document number '1', first at line 1"),
    ],
)
def test_malformed_documents(tmp_path: Path, docs: str, line: int, message: str) -> None:
    src = _collection(tmp_path / "src", docs=docs, qrels="1 1 1\n")
    with pytest.raises(CatalogError) as info:
        convert_smart(src, tmp_path / "out")
    assert info.value.path == str(src / "toy.all.3")
    assert info.value.line == line
    assert message in str(info.value)
    assert str(info.value).startswith(f"{src / 'toy.all.3'}:{line}")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("qrels", "line", "field", "message"),
    [
        ("1 1 2\n3 1 2\n", 2, "query-id", "query '3' is not a query position 1..2"),
        ("1 1 2\n0 1 2\n", 2, "query-id", "query '0' is not a query position 1..2"),
        ("1 9 2\n", 1, "corpus-id", "document '9' is not in the corpus"),
        ("1 1 5\n", 1, "score", "relevance code '5' is not one of -1, 1, 2, 3, 4"),
        ("1 1 high\n", 1, "score", "relevance code 'high'"),
        ("\n1 1 2 0\n", 2, None, "has 4 columns, expected 'query doc [code]'"),
    ],
)
def test_malformed_qrels(
    tmp_path: Path, qrels: str, line: int, field: str | None, message: str
) -> None:
    src = _collection(tmp_path / "src", qrels=qrels)
    with pytest.raises(CatalogError) as info:
        convert_smart(src, tmp_path / "out")
    error = info.value
    assert (error.path, error.line, error.field) == (str(src / "toyqrel"), line, field)
    assert message in error.reason


def test_two_column_qrels_mean_relevant(tmp_path: Path) -> None:
    out = tmp_path / "beir"
    report = convert_smart(_collection(tmp_path / "src", qrels="1 1\n2 3\n"), out)
    assert report.n_qrels == 2
    assert _qrels(out / "qrels" / "test.tsv")[1:] == [["1", "1", "1"], ["2", "3", "1"]]


def test_roles_by_name_and_by_content(tmp_path: Path) -> None:
    src = _collection(tmp_path / "src")
    assert find_roles(src) == (src / "toy.all.3", src / "toy.qry", src / "toyqrel")
    (src / "toy.all.3").rename(src / "documents.txt")
    (src / "tiny.txt").write_text(".I 1\n.W\nx\n")
    (src / "notes.txt").write_text("not smart\n" * 100)
    assert find_roles(src)[0] == src / "documents.txt"  # the largest file of .I records


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda src: (src / "toy.qry").unlink(), "no queries file"),
        (lambda src: (src / "toyqrel").unlink(), "no qrels file"),
        (lambda src: (src / "other.qry").write_text(QUERIES), "ambiguous queries file"),
        (lambda src: (src / "cisi.rel").write_text(QRELS), "ambiguous qrels file"),
        (lambda src: (src / "more.all").write_text(DOCS), "ambiguous documents file"),
    ],
)
def test_missing_or_ambiguous_roles(
    tmp_path: Path, change: Callable[[Path], object], message: str
) -> None:
    src = _collection(tmp_path / "src")
    change(src)
    with pytest.raises(CatalogError, match=message) as info:
        find_roles(src)
    assert info.value.path == str(src)


def test_no_documents_file(tmp_path: Path) -> None:
    src = _collection(tmp_path / "src")
    (src / "toy.all.3").unlink()
    with pytest.raises(CatalogError, match="no documents file"):
        find_roles(src)


def test_source_must_be_a_directory(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="is not a directory"):
        convert_smart(tmp_path / "absent", tmp_path / "out")


def test_read_smart_yields_records_in_order(tmp_path: Path) -> None:
    path = tmp_path / "x.all"
    path.write_text(DOCS)
    records = list(read_smart(path))
    assert [(r.number, r.line) for r in records] == [("1", 1), ("2", 12), ("3", 21)]
    assert records[0].text("W") == "first title . body of the first ."


# --- the real Cranfield collection ---------------------------------------------------------


@pytest.mark.skipif(
    not (CRANFIELD / "cran.all.1400").is_file(),
    reason=f"the shared Cranfield collection is absent ({CRANFIELD})",
)
def test_real_cranfield(tmp_path: Path) -> None:
    out = tmp_path / "cranfield"
    report = convert_smart(CRANFIELD, out)
    # cranqrel: 1,837 lines = 1,612 with codes 1..4 (128 + 387 + 734 + 363) + 225 with -1
    assert report == SmartReport(n_docs=1400, n_queries=225, n_qrels=1612)
    corpus = _jsonl(out / "corpus.jsonl")
    queries = _jsonl(out / "queries.jsonl")
    qrels = _qrels(out / "qrels" / "test.tsv")
    assert len(corpus) == 1400
    assert [q["_id"] for q in queries] == [str(i) for i in range(1, 226)]
    assert qrels[0] == ["query-id", "corpus-id", "score"]
    assert len(qrels) - 1 == 1612
    assert Counter(row[2] for row in qrels[1:]) == {"4": 128, "3": 387, "2": 734, "1": 363}
    assert {row[0] for row in qrels[1:]} <= {str(q["_id"]) for q in queries}
    assert {row[1] for row in qrels[1:]} <= {str(d["_id"]) for d in corpus}
    assert corpus[0]["metadata"] == {
        "author": "brenckman,m.",
        "bibliography": "j. ae. scs. 25, 1958, 324.",
    }
    assert str(queries[0]["text"]).startswith("what similarity laws must be obeyed")
    parsed = list(load_beir(out, load_config().catalog))
    assert [p.result for p in parsed if isinstance(p.result, CatalogError)] == []
    assert len(parsed) == 1400

"""Reading BEIR-layout benchmarks: classes, CRLF qrels, judged queries only, located errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from ltrr.errors import CatalogError
from ltrr.evaluate.beir import read_benchmark, read_qrels, read_queries, splits


def write_benchmark(root: Path, queries: str, qrels: str, split: str = "test") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "corpus.jsonl").write_text('{"_id": "d1", "title": "t", "text": "x"}\n')
    (root / "queries.jsonl").write_text(queries)
    (root / "qrels").mkdir(exist_ok=True)
    (root / "qrels" / f"{split}.tsv").write_bytes(qrels.encode())
    return root


QUERIES = (
    '{"_id": "q1", "text": "tayler swift", "metadata": {"class": "misspelled"}}\n'
    '{"_id": "q2", "text": "love", "metadata": {"13734012": [{"label": "SUPPORT"}]}}\n'
    "\n"
    '{"_id": 3, "text": "unjudged"}\n'
)


def test_reads_judged_queries_classes_and_crlf_qrels(tmp_path: Path) -> None:
    qrels = "query-id\tcorpus-id\tscore\r\nq1\td1\t1\r\nq2\td1\t0\r\nq2\td2\t2\r\nq9\td1\t1\r\n"
    benchmark = read_benchmark(write_benchmark(tmp_path / "b", QUERIES, qrels))
    assert list(benchmark.queries) == ["q1", "q2"]
    assert benchmark.queries["q1"].query_class == "misspelled"
    assert benchmark.queries["q2"].query_class is None  # metadata without a class
    assert benchmark.qrels == {"q1": {"d1": 1}, "q2": {"d1": 0, "d2": 2}}
    assert benchmark.unknown_query_ids == ("q9",)
    assert benchmark.corpus_path == tmp_path / "b" / "corpus.jsonl"
    assert splits(tmp_path / "b") == ["test"]


def test_qrels_lf_without_trailing_newline_trec_columns_and_repeats(tmp_path: Path) -> None:
    path = tmp_path / "qrels.tsv"
    path.write_text("query-id\tcorpus-id\tscore\n1\t31715818\t1\n1\t31715818\t2\n2 0 d7 1")
    assert read_qrels(path) == {"1": {"31715818": 2}, "2": {"d7": 1}}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "must be a JSON object, got list"),
        ('{"text": "no id"}', "field '_id': must be a non-empty string"),
        ('{"_id": "q1"}', "field 'text': must be a string, got None"),
        ('{"_id": "q1", "text": "x", "metadata": {"class": 3}}', "field 'metadata.class'"),
    ],
)
def test_bad_query_lines_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "queries.jsonl"
    path.write_text('{"_id": "q0", "text": "fine"}\n' + line + "\n")
    with pytest.raises(CatalogError, match=message) as info:
        read_queries(path)
    assert (info.value.path, info.value.line) == (str(path), 2)


def test_duplicate_query_id(tmp_path: Path) -> None:
    path = tmp_path / "queries.jsonl"
    path.write_text('{"_id": "q1", "text": "a"}\n{"_id": "q1", "text": "b"}\n')
    with pytest.raises(CatalogError, match="duplicate query id 'q1', first at line 1"):
        read_queries(path)


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        ("query-id\tcorpus-id\tscore\nq1\td1\n", 2, "has 2 columns"),
        ("query-id\tcorpus-id\tscore\nq1\td1\thigh\n", 2, "score 'high' is not an integer"),
        ("q1\td1\t1\n\tq2\t1\n", 2, "field 'query-id': is empty"),
        ("query-id\tcorpus-id\tscore\n", None, "holds no judgements"),
    ],
)
def test_bad_qrels_name_file_and_line(
    tmp_path: Path, body: str, line: int | None, message: str
) -> None:
    path = tmp_path / "test.tsv"
    path.write_text(body)
    with pytest.raises(CatalogError, match=message) as info:
        read_qrels(path)
    assert (info.value.path, info.value.line) == (str(path), line)


def test_missing_split_lists_the_available_ones(tmp_path: Path) -> None:
    root = write_benchmark(tmp_path / "b", QUERIES, "q\td\ts\nq1\td1\t1\n", split="train")
    with pytest.raises(CatalogError, match="no judgements for split 'test'; splits: train"):
        read_benchmark(root, "test")
    with pytest.raises(CatalogError, match="is not a benchmark directory"):
        read_benchmark(tmp_path / "absent")

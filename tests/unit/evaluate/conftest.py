"""The small BEIR-layout benchmark the evaluate tests share (hand-checkable metrics)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

CORPUS: list[dict[str, object]] = [
    {"_id": "d1", "title": "Love Story", "text": "a ballad"},
    {"_id": "d2", "title": "Shake It Off", "text": "dance pop"},
    {"_id": "d3", "title": "Night Shift", "text": "nurses sleep"},
    {"_id": "d4", "title": "Crazy in Love", "text": "popular hit", "popularity": 80},
]
QUERIES: list[dict[str, object]] = [
    {"_id": "q1", "text": "story", "metadata": {"class": "exact"}},  # only d1 matches: relevant
    {"_id": "q2", "text": "sleep", "metadata": {"class": "exact"}},  # finds d3, d2 is relevant
    {"_id": "q3", "text": "dance", "metadata": {"class": "topic"}},  # only d2 matches: relevant
    {"_id": "q4", "text": "love"},  # not judged in test: not counted
]
QRELS = "query-id\tcorpus-id\tscore\r\nq1\td1\t1\r\nq2\td2\t1\r\nq3\td2\t1\r\n"


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> None:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))


@pytest.fixture
def bench(tmp_path: Path) -> Path:
    root = tmp_path / "bench"
    (root / "qrels").mkdir(parents=True)
    write_jsonl(root / "corpus.jsonl", CORPUS)
    write_jsonl(root / "queries.jsonl", QUERIES)
    (root / "qrels" / "test.tsv").write_bytes(QRELS.encode())
    return root

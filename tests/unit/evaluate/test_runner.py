"""``evaluate`` end to end: concrete metrics, per-class report, workspace reuse, real data."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import orjson
import pytest
import typer
from typer.testing import CliRunner

from ltrr.catalog.smart import convert_smart
from ltrr.cli.evaluate import register
from ltrr.config import Config, load_config
from ltrr.errors import CatalogError, UnknownStrategyError
from ltrr.evaluate.runner import evaluate
from ltrr.evaluate.workspace import fingerprint
from ltrr.retrieve.lexical import LexicalParams

DATASETS = Path(__file__).resolve().parents[3] / ".." / "shared" / "datasets"
needs_shared = pytest.mark.skipif(
    not DATASETS.is_dir(), reason=f"real data sets not found at {DATASETS} (../shared is absent)"
)

#: Published and measured SciFact test numbers (EVALUATION.md), kept beside the command
#: that reproduces ltrr's: `ltrr evaluate ../shared/datasets/beir-scifact --strategies lexical`
SCIFACT_REFERENCE = {
    "anserini_bm25_flat": {"ndcg@10": 0.6789, "recall@100": 0.925},
    "anserini_bm25_multifield": {"ndcg@10": 0.6647},
    "beir_paper_bm25": {"ndcg@10": 0.665},
    "acceptance": {"ndcg@10": 0.675},
}


def test_concrete_metrics_fusion_and_classes(bench: Path, tmp_path: Path) -> None:
    stages: set[str] = set()
    report = evaluate(
        bench, ["lexical"], work_dir=tmp_path / "work", on_progress=lambda s, *_: stages.add(s)
    )
    assert report["n_queries"] == 3
    lexical = report["strategies"]["lexical"]
    assert lexical == pytest.approx({"ndcg@10": 2 / 3, "recall@100": 2 / 3, "mrr@10": 2 / 3})
    assert report["strategies"]["fusion"] == pytest.approx(lexical)  # RRF of one list
    assert report["fusion_of"] == {"strategies": ["lexical"], "weights": [1.0], "k": 60}
    assert report["by_class"] == {
        "exact": {s: {"success@10": 0.5, "mrr@10": 0.5} for s in ("lexical", "fusion")},
        "topic": {s: {"success@10": 1.0, "mrr@10": 1.0} for s in ("lexical", "fusion")},
    }
    assert report["n_queries_by_class"] == {"exact": 2, "topic": 1}
    assert report["reused"] == {"understand": False, "lexical": False}
    assert report["build_s"]["lexical"] > 0
    assert set(report["latency_ms"]["lexical"]) == {"p50", "p99", "mean"}
    assert report["n_entities"] == 4
    assert {"ingest", "build lexical", "query lexical"} <= stages
    orjson.dumps(report)  # JSON-ready


def test_second_run_reuses_catalog_and_index(bench: Path, tmp_path: Path) -> None:
    first = evaluate(bench, ["lexical"], work_dir=tmp_path / "work")
    manifest = Path(first["work_dir"]) / "data" / "indexes" / "lexical" / "manifest.json"
    stamp = manifest.stat().st_mtime_ns
    second = evaluate(bench, ["lexical"], work_dir=tmp_path / "work")
    assert second["reused"] == {"understand": True, "lexical": True}
    assert second["ingest_s"] is None
    assert second["build_s"] == first["build_s"]
    assert manifest.stat().st_mtime_ns == stamp
    assert second["strategies"] == first["strategies"]


def test_fingerprint_follows_corpus_and_index_config_only(bench: Path, tmp_path: Path) -> None:
    corpus = bench / "corpus.jsonl"
    base = load_config()
    before = fingerprint(corpus, base)
    lexical = {**asdict(LexicalParams()), "title_boost": 3.0}
    assert fingerprint(corpus, Config({**base.values, "retrieve": {"lexical": lexical}})) != before
    fusion = {"strategies": ["lexical"], "weights": [2.0], "k": 10}
    assert fingerprint(corpus, Config({**base.values, "merge": {"fusion": fusion}})) == before
    first = evaluate(bench, ["lexical"], work_dir=tmp_path / "work")
    with corpus.open("ab") as lines:  # a fifth entity
        lines.write(orjson.dumps({"_id": "d5", "title": "Story of a story", "text": ""}) + b"\n")
    assert fingerprint(corpus, base) != before
    second = evaluate(bench, ["lexical"], work_dir=tmp_path / "work")
    assert second["work_dir"] != first["work_dir"]
    assert second["reused"] == {"understand": False, "lexical": False}
    assert second["n_entities"] == 5
    assert second["strategies"]["lexical"]["mrr@10"] == pytest.approx((0.5 + 0 + 1) / 3)


def test_bad_input_fails_before_work_with_clear_errors(bench: Path, tmp_path: Path) -> None:
    with pytest.raises(UnknownStrategyError, match="'nope'; allowed: lexical"):
        evaluate(bench, ["lexical", "nope"], work_dir=tmp_path / "work")
    with pytest.raises(CatalogError, match="no judgements for split 'train'"):
        evaluate(bench, ["lexical"], split="train", work_dir=tmp_path / "work")
    assert not (tmp_path / "work").exists()
    (bench / "corpus.jsonl").write_text('{"_id": "d1", "title": "ok"}\n{"_id": "d2", "title": \n')
    with pytest.raises(CatalogError) as info:
        evaluate(bench, ["lexical"], work_dir=tmp_path / "work")
    assert (info.value.path, info.value.line) == (str(bench / "corpus.jsonl"), 2)


@needs_shared
def test_cranfield_lexical_sanity(tmp_path: Path) -> None:
    convert_smart(DATASETS / "cranfield", tmp_path / "cranfield")
    report = evaluate(tmp_path / "cranfield", ["lexical"], work_dir=tmp_path / "work")
    assert report["n_queries"] == 225
    assert report["n_entities"] == 1400
    assert 0.30 <= report["strategies"]["lexical"]["ndcg@10"] <= 0.60  # measured 0.380


@pytest.mark.slow
@needs_shared
def test_scifact_lexical_reaches_the_published_bm25(tmp_path: Path) -> None:
    report = evaluate(DATASETS / "beir-scifact", ["lexical"], work_dir=tmp_path / "work")
    lexical = report["strategies"]["lexical"]
    assert report["n_queries"] == 300
    assert lexical["ndcg@10"] >= SCIFACT_REFERENCE["acceptance"]["ndcg@10"]
    assert lexical["recall@100"] >= SCIFACT_REFERENCE["anserini_bm25_flat"]["recall@100"] - 0.01


def test_cli_prints_tables_and_writes_json(bench: Path, tmp_path: Path) -> None:
    app = typer.Typer()
    app.callback()(lambda: None)
    register(app)
    out = tmp_path / "reports" / "scores.json"
    args = ["evaluate", str(bench), "--strategies", "lexical", "--work", str(tmp_path / "w")]
    result = CliRunner().invoke(app, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "fusion (lexical)" in result.output
    assert "per query class" in result.output
    written = orjson.loads(out.read_bytes())
    assert written["strategies"]["lexical"]["mrr@10"] == pytest.approx(2 / 3)
    assert written["command"].split(" ")[0] == "ltrr"  # the argv of the process that ran it
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["reused"] == {"understand": True, "lexical": True}

"""TREC run files: their format, and that ir-measures scores them exactly as ltrr reports.

ir-measures is the oracle (STYLE.md: a maintained library where one exists): it reads the files
back as any other system's runs, so an agreement to 1e-9 shows the files carry ltrr's rankings.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import ir_measures
import numpy as np
import pytest
import typer
from ir_measures import RR, Qrel, R, ScoredDoc, nDCG
from typer.testing import CliRunner

from ltrr.catalog.smart import convert_smart
from ltrr.cli.evaluate import register
from ltrr.config import Config, load_config
from ltrr.errors import CatalogError, ConfigError, StorageError
from ltrr.evaluate.runner import evaluate
from ltrr.evaluate.runs import run_lines, strictly_decreasing, write_runs

DATASETS = Path(__file__).resolve().parents[3] / ".." / "shared" / "datasets"
needs_shared = pytest.mark.skipif(
    not DATASETS.is_dir(), reason=f"real data sets not found at {DATASETS} (../shared is absent)"
)

MAX32 = float(np.finfo(np.float32).max)

#: ltrr metric name -> the same measure in ir-measures (RR@10: reciprocal rank cut at 10).
ORACLE = {"ndcg@10": nDCG @ 10, "recall@100": R @ 100, "mrr@10": RR @ 10}


def trec_qrels(directory: Path, split: str = "test") -> list[Qrel]:
    """A BEIR qrels file as a user converts it for trec_eval: drop the header, add ``0``."""
    lines = (directory / "qrels" / f"{split}.tsv").read_text().splitlines()[1:]
    text = "".join(f"{q} 0 {d} {g}\n" for q, d, g in (line.split("\t") for line in lines))
    return list(ir_measures.read_trec_qrels(text))


def assert_oracle_agrees(report: dict[str, Any], qrels: list[Qrel]) -> None:
    assert set(report["runs"]) == set(report["strategies"])
    for name, path in report["runs"].items():
        run = list(ir_measures.read_trec_run(path))
        oracle = ir_measures.calc_aggregate(list(ORACLE.values()), qrels, run)
        for metric, measure in ORACLE.items():
            expected = report["strategies"][name][metric]
            assert oracle[measure] == pytest.approx(expected, abs=1e-9), (name, metric)


def assert_trec_format(path: Path, name: str, depth: int) -> None:
    """Six columns, ``Q0``, ranks 1.. per query, scores strictly decreasing, tag ``ltrr-<name>``."""
    by_query: dict[str, list[tuple[int, float]]] = {}
    for line in path.read_text().splitlines():
        qid, q0, _doc, rank, score, tag = line.split(" ")
        assert (q0, tag) == ("Q0", f"ltrr-{name}")
        by_query.setdefault(qid, []).append((int(rank), float(score)))
    assert by_query
    for rows in by_query.values():
        assert [r for r, _ in rows] == list(range(1, len(rows) + 1))
        assert len(rows) <= depth
        scores = [s for _, s in rows]
        assert all(a > b for a, b in itertools.pairwise(scores))


def below(score: float) -> float:
    """The float32 just below ``score``: trec_eval's ``float`` cannot tell closer scores apart."""
    return float(np.nextafter(np.float32(score), np.float32(-np.inf)))


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ([], []),
        ([3.0, 2.0, 1.0], [3.0, 2.0, 1.0]),  # already strictly decreasing: unchanged
        ([2.0, 2.0], [2.0, below(2.0)]),  # a tie: the next float32 below
        ([1.0, 1.0 - 1e-12], [1.0, below(1.0)]),  # a tie in float32, as trec_eval reads it
        ([1.0, 5.0, 0.5], [1.0, below(1.0), 0.5]),  # out of order: the same
        ([0.5, 0.4, 0.4, 0.4], [0.5, 0.4, below(0.4), below(below(0.4))]),
        ([math.nan, 1.0], [MAX32, 1.0]),  # NaN is not written
        ([math.inf, 1e300], [MAX32, below(MAX32)]),  # nor infinities, nor beyond float32
        ([0.0, 0.0], [0.0, below(0.0)]),
    ],
)
def test_strictly_decreasing(scores: list[float], expected: list[float]) -> None:
    written = strictly_decreasing(scores)
    assert [float(s) for s in written] == [float(np.float32(e)) for e in expected]
    assert all(a > b for a, b in itertools.pairwise(written))


def test_tied_scores_keep_ltrr_order_in_the_oracle() -> None:
    """trec_eval reads scores as float32 and breaks ties by doc id, descending: raw scores
    would rank b above a."""
    ranking = {"q1": [("a", 1.0), ("b", 1.0 - 1e-12), ("a", 0.5)]}  # a kept once, first
    lines = list(run_lines("lexical", ranking))
    assert lines == ["q1 Q0 a 1 1.0 ltrr-lexical\n", "q1 Q0 b 2 0.99999994 ltrr-lexical\n"]
    qrels = [Qrel("q1", "a", 1)]
    raw = [ScoredDoc("q1", d, s) for d, s in ranking["q1"][:2]]
    assert ir_measures.calc_aggregate([nDCG @ 1], qrels, raw)[nDCG @ 1] == 0.0
    written = list(ir_measures.read_trec_run("".join(lines)))
    assert ir_measures.calc_aggregate([nDCG @ 1], qrels, written)[nDCG @ 1] == 1.0


@pytest.mark.parametrize(
    ("name_to_ranking", "error", "match"),
    [
        ({"lex ical": {"q1": [("a", 1.0)]}}, ConfigError, "not file names"),
        ({"../up": {"q1": [("a", 1.0)]}}, ConfigError, "not file names"),
        ({"lexical": {"q 1": [("a", 1.0)]}}, CatalogError, "query id 'q 1'"),
        ({"lexical": {"q1": [("a\tb", 1.0)]}}, CatalogError, "doc id 'a\\\\tb'"),
        ({"lexical": {"": [("a", 1.0)]}}, CatalogError, "query id ''"),
    ],
)
def test_write_runs_rejects_what_the_format_cannot_carry(
    tmp_path: Path, name_to_ranking: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        write_runs(tmp_path / "runs", name_to_ranking)
    assert not (tmp_path / "runs").exists()  # checked before anything is written


def test_write_runs_replaces_whole_files(tmp_path: Path) -> None:
    first = write_runs(tmp_path / "a" / "runs", {"ranker": {"q1": [("x", 2.0), ("y", 1.0)]}})
    assert first == {"ranker": tmp_path / "a" / "runs" / "ranker.run"}
    write_runs(tmp_path / "a" / "runs", {"ranker": {"q2": [("z", 0.5)]}})
    assert first["ranker"].read_text() == "q2 Q0 z 1 0.5 ltrr-ranker\n"
    assert sorted(p.name for p in (tmp_path / "a" / "runs").iterdir()) == ["ranker.run"]


def test_evaluate_writes_runs_the_oracle_scores_alike(bench: Path, tmp_path: Path) -> None:
    report = evaluate(bench, ["lexical"], work_dir=tmp_path / "work", runs_dir=tmp_path / "runs")
    assert report["runs"] == {
        "lexical": str(tmp_path / "runs" / "lexical.run"),
        "fusion": str(tmp_path / "runs" / "fusion.run"),
    }
    for name, path in report["runs"].items():
        assert_trec_format(Path(path), name, report["depth"])
    assert_oracle_agrees(report, trec_qrels(bench))
    assert "runs" not in evaluate(bench, ["lexical"], work_dir=tmp_path / "work")


def test_bad_runs_path_fails_before_any_work(bench: Path, tmp_path: Path) -> None:
    taken = tmp_path / "taken.txt"
    taken.write_text("not a folder")
    for runs_dir in (taken, taken / "runs"):
        with pytest.raises(StorageError, match="is a file"):
            evaluate(bench, ["lexical"], work_dir=tmp_path / "work", runs_dir=runs_dir)
    assert not (tmp_path / "work").exists()


def test_cli_runs_option(bench: Path, tmp_path: Path) -> None:
    app = typer.Typer()
    app.callback()(lambda: None)
    register(app)
    args = ["evaluate", str(bench), "--strategies", "lexical", "--work", str(tmp_path / "w")]
    taken = tmp_path / "taken.txt"
    taken.write_text("not a folder")
    result = CliRunner().invoke(app, [*args, "--runs", str(taken)])
    assert result.exit_code == 2  # a usage error, printed as such
    assert isinstance(result.exception, SystemExit)
    words = " ".join(result.output.replace("│", " ").split())  # rich wraps the error box
    assert "Invalid value for '--runs'" in words
    assert "is a file; run files need a directory" in words
    assert "Traceback" not in result.output
    assert not (tmp_path / "w").exists()
    result = CliRunner().invoke(app, [*args, "--runs", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    assert f"wrote {tmp_path / 'runs' / 'fusion.run'}" in result.output


@needs_shared
def test_cranfield_runs_score_alike_in_ir_measures(tmp_path: Path) -> None:
    """Real data, with a fusion of two lists, where RRF ties are common."""
    convert_smart(DATASETS / "cranfield", tmp_path / "cranfield")
    base = load_config()
    fusion = {"strategies": ["lexical", "fuzzy"], "weights": [1.0, 1.0], "k": 60}
    config = Config({**base.values, "merge": {**base.values["merge"], "fusion": fusion}})
    report = evaluate(
        tmp_path / "cranfield",
        ["lexical", "fuzzy"],
        work_dir=tmp_path / "work",
        config=config,
        runs_dir=tmp_path / "runs",
    )
    assert report["n_unknown_queries"] == 0
    assert report["depth"] >= 100
    for name, path in report["runs"].items():
        assert_trec_format(Path(path), name, report["depth"])
    assert_oracle_agrees(report, trec_qrels(tmp_path / "cranfield"))

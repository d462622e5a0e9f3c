"""The CLI as a user runs it: a real ``ltrr`` process, its stdout, stderr and exit code."""

from __future__ import annotations

import gzip
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ltrr.storage.sqlite import SCHEMA_VERSION

DATASETS = Path(__file__).resolve().parents[3] / ".." / "shared" / "datasets"
needs_shared = pytest.mark.skipif(
    not DATASETS.is_dir(), reason=f"real data sets not found at {DATASETS} (../shared absent)"
)


def ltrr(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    full_env.pop("LTRR_DATA", None) if env is None or "LTRR_DATA" not in env else None
    return subprocess.run(
        [sys.executable, "-m", "ltrr.cli.app", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _json(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert isinstance(payload, dict)
    return payload


def test_demo_catalog_ingest_and_stats(tmp_path: Path) -> None:
    out = tmp_path / "demo.jsonl"
    _json(
        ltrr(
            "demo-catalog",
            "--size",
            "300",
            "--seed",
            "3",
            "--out",
            str(out),
            "--json",
            cwd=tmp_path,
        )
    )
    report = _json(ltrr("ingest", str(out), "--data", "d", "--json", cwd=tmp_path))
    assert report["n_upserted"] == 300
    assert report["n_errors"] == 0
    stats = _json(ltrr("catalog", "stats", "--data", "d", "--json", cwd=tmp_path))
    by_type = stats["n_entities_by_type"]
    assert isinstance(by_type, dict)
    assert sum(by_type.values()) == 300
    assert {"artist", "track", "album", "playlist", "podcast"} <= set(by_type)
    assert stats["catalog_version"] == 1


def test_demo_command_ingests_generated_catalog(tmp_path: Path) -> None:
    result = _json(
        ltrr("demo", "--size", "200", "--seed", "1", "--data", "d", "--json", cwd=tmp_path)
    )
    assert result["n_entities"] == 200
    assert result["ingest"]["n_errors"] == 0  # type: ignore[index]
    assert result["n_entities_by_attribute"]["genre"] > 0  # type: ignore[index]


def test_default_data_dir_from_environment(tmp_path: Path) -> None:
    src = tmp_path / "c.jsonl"
    src.write_text('{"id": "a", "title": "Love"}\n')
    _json(
        ltrr("ingest", str(src), "--json", cwd=tmp_path, env={"LTRR_DATA": str(tmp_path / "env")})
    )
    assert (tmp_path / "env" / "ltrr.sqlite").exists()
    _json(ltrr("ingest", str(src), "--json", cwd=tmp_path))
    assert (tmp_path / "ltrr-data" / "ltrr.sqlite").exists()


def test_bad_file_is_one_line_error_without_traceback(tmp_path: Path) -> None:
    src = tmp_path / "bad.jsonl"
    src.write_text('{"id": "a"}\n{"id": "b", "title": 5}\n')
    result = ltrr("ingest", str(src), "--data", "d", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"{src}:2, field 'title': must be a string, got number" in result.stderr
    assert result.stdout == ""
    debug = ltrr("--debug", "ingest", str(src), "--data", "d", cwd=tmp_path)
    assert debug.returncode != 0
    assert "Traceback" in debug.stderr


def test_lenient_lists_errors_in_json(tmp_path: Path) -> None:
    src = tmp_path / "mixed.jsonl"
    src.write_text('{"id": "a"}\n{oops\n{"id": "a"}\n')
    report = _json(ltrr("ingest", str(src), "--lenient", "--data", "d", "--json", cwd=tmp_path))
    assert report["n_upserted"] == 1
    assert [e["line"] for e in report["errors"]] == [2, 3]  # type: ignore[index,union-attr]


def test_csv_mapping_from_cli(tmp_path: Path) -> None:
    src = tmp_path / "s.csv"
    src.write_text("tid,name,g\n1,Fire,rock\n")
    args = ["--column", "id=tid", "--column", "title=name", "--column", "attributes.genre=g"]
    report = _json(ltrr("ingest", str(src), *args, "--data", "d", "--json", cwd=tmp_path))
    assert report["n_upserted"] == 1
    wrong = ltrr("ingest", str(src), "--column", "id=track", "--data", "d", cwd=tmp_path)
    assert wrong.returncode == 1
    assert "unknown column: the mapping names 'track'" in wrong.stderr


def test_missing_file_and_missing_catalog(tmp_path: Path) -> None:
    result = ltrr("ingest", "nope.jsonl", "--data", "d", cwd=tmp_path)
    assert (result.returncode, "Traceback" in result.stderr) == (1, False)
    assert "nope.jsonl: file does not exist" in result.stderr
    stats = ltrr("catalog", "stats", "--data", "empty", cwd=tmp_path)
    assert stats.returncode == 1
    assert "no catalog at empty" in stats.stderr


def test_locked_data_dir_names_holder(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import pathlib, time; from ltrr.config import load_config;"
            "from ltrr.storage.datadir import DataDir;"
            f"d = DataDir(pathlib.Path({str(tmp_path / 'd')!r}), load_config(), writer=True);"
            "d.open();"
            "print('locked', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        src = tmp_path / "c.jsonl"
        src.write_text('{"id": "a"}\n')
        result = ltrr("ingest", str(src), "--data", "d", cwd=tmp_path)
        assert result.returncode == 1
        assert f"locked by another writer (pid {holder.pid} on" in result.stderr
    finally:
        holder.kill()
        holder.wait()


def test_migrate_upgrades_what_readers_refuse(tmp_path: Path) -> None:
    """The command the readers' error message names exists and upgrades the database."""
    golden = Path(__file__).resolve().parents[2] / "golden" / "catalog-schema-v1.sql"
    (tmp_path / "d").mkdir()
    conn = sqlite3.connect(tmp_path / "d" / "ltrr.sqlite")
    conn.executescript(golden.read_text())
    conn.close()
    refused = ltrr("catalog", "stats", "--data", "d", cwd=tmp_path)
    assert refused.returncode == 1
    assert "schema version 1; run any writing command once (e.g. 'ltrr catalog migrate')" in (
        refused.stderr
    )
    migrated = _json(ltrr("catalog", "migrate", "--data", "d", "--json", cwd=tmp_path))
    assert migrated["schema_version"] == SCHEMA_VERSION
    assert _json(ltrr("catalog", "stats", "--data", "d", "--json", cwd=tmp_path))["n_entities"] == 2
    missing = ltrr("catalog", "migrate", "--data", "nothing", cwd=tmp_path)
    assert (missing.returncode, "no catalog at nothing" in missing.stderr) == (1, True)
    assert not (tmp_path / "nothing").exists()


def test_delete_by_id(tmp_path: Path) -> None:
    src = tmp_path / "c.jsonl"
    src.write_text('{"id": "a"}\n{"id": "b"}\n')
    _json(ltrr("ingest", str(src), "--data", "d", "--json", cwd=tmp_path))
    result = _json(ltrr("catalog", "delete", "a", "zz", "--data", "d", "--json", cwd=tmp_path))
    assert result == {"n_deleted": 1, "missing": ["zz"]}
    stats = _json(ltrr("catalog", "stats", "--data", "d", "--json", cwd=tmp_path))
    assert stats["n_entities"] == 1


@needs_shared
def test_convert_smart_then_ingest_beir(tmp_path: Path) -> None:
    out = tmp_path / "cran"
    report = _json(
        ltrr("convert", "smart", str(DATASETS / "cranfield"), str(out), "--json", cwd=tmp_path)
    )
    assert (report["n_docs"], report["n_queries"]) == (1400, 225)
    ingested = _json(ltrr("ingest", str(out), "--data", "d", "--json", cwd=tmp_path))
    assert ingested["n_upserted"] == 1400


@needs_shared
def test_import_spotify(tmp_path: Path) -> None:
    csv = DATASETS / "spotify-songs-tidytuesday-2020" / "spotify_songs.csv.gz"
    report = _json(ltrr("import", "spotify", str(csv), "--data", "d", "--json", cwd=tmp_path))
    by_type = report["n_entities_by_type"]
    assert by_type == {"track": 28352, "album": 22543, "artist": 10679, "playlist": 471}
    assert report["n_errors"] == 5
    assert all(e["field"] == "track_name" for e in report["errors"])  # type: ignore[index,union-attr]


def test_gzip_jsonl_and_replace(tmp_path: Path) -> None:
    src = tmp_path / "c.jsonl.gz"
    src.write_bytes(gzip.compress(b'{"id": "a"}\n{"id": "b"}\n'))
    _json(ltrr("ingest", str(src), "--data", "d", "--json", cwd=tmp_path))
    new = tmp_path / "n.jsonl"
    new.write_text('{"id": "c"}\n')
    report = _json(ltrr("ingest", str(new), "--replace", "--data", "d", "--json", cwd=tmp_path))
    assert report["n_deleted"] == 2
    assert report["n_entities_by_type"] == {"document": 1}

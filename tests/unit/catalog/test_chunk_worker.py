"""JSONL lines checked in a worker process: the same catalog, reports and errors as in process.

The files span several of the worker's messages (``_LINES_PER_MESSAGE``) so that a bad line,
a duplicate id and a broken gzip stream each land in a later message than the first.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast

import pytest

from ltrr.catalog import chunk_worker
from ltrr.catalog.demo import generate_demo_catalog
from ltrr.catalog.formats import load
from ltrr.catalog.ingest import CHUNK_LINES, ingest
from ltrr.catalog.jsonl import load_jsonl
from ltrr.catalog.sources import ValidRows
from ltrr.catalog.writer import write_jsonl
from ltrr.config import Config
from ltrr.errors import CatalogError
from ltrr.storage.datadir import DataDir

N_LINES = 2 * chunk_worker._LINES_PER_MESSAGE + 300  # three messages
BAD_AT = chunk_worker._LINES_PER_MESSAGE + 77  # in the second


@pytest.fixture(scope="module")
def demo_lines(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    path = tmp_path_factory.mktemp("demo") / "demo.jsonl"
    write_jsonl(generate_demo_catalog(N_LINES, 5), path)
    return path.read_bytes().splitlines(keepends=True)


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> list[subprocess.Popen[bytes]]:
    """Every worker process started while the test runs."""
    started: list[subprocess.Popen[bytes]] = []
    real = subprocess.Popen

    def popen(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        started.append(real(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(subprocess, "Popen", popen)  # as chunk_worker calls it
    return started


def _write(path: Path, lines: list[bytes]) -> Path:
    data = b"".join(lines)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def _ingest(path: Path, config: Config, root: Path, *, in_worker: bool) -> dict[str, object]:
    """A lenient ingest's report and the catalog's rows after it."""
    name = "worker" if in_worker else "in_process"
    with DataDir(root / name, config, writer=True) as dd:
        records = load_jsonl(path, config.catalog, in_worker=in_worker)
        report = ingest(dd.catalog, records, strict=False, source=str(path)).to_dict()
        report["entities"] = list(dd.catalog.iter_entities())
    report.pop("elapsed_s")
    return report


@pytest.mark.parametrize("name", ["c.jsonl", "c.jsonl.gz"])
def test_worker_and_in_process_build_the_same_catalog(
    tmp_path: Path, demo_lines: list[bytes], config: Config, name: str
) -> None:
    path = _write(tmp_path / name, demo_lines)
    in_worker = _ingest(path, config, tmp_path, in_worker=True)
    assert in_worker == _ingest(path, config, tmp_path, in_worker=False)
    assert (in_worker["n_upserted"], in_worker["n_errors"]) == (N_LINES, 0)


def test_worker_joins_valid_chunks_and_keeps_line_numbers(
    tmp_path: Path, demo_lines: list[bytes], config: Config
) -> None:
    path = _write(tmp_path / "c.jsonl", [b"\n", *demo_lines])  # a blank first line
    pieces = list(load_jsonl(path, config.catalog, in_worker=True).chunks(CHUNK_LINES))
    assert all(isinstance(p, ValidRows) for p in pieces)
    assert len(pieces) == 3  # one per message, not one per chunk
    lines = [n for p in pieces if isinstance(p, ValidRows) for n in p.lines]
    assert lines == list(range(2, N_LINES + 2))


@pytest.mark.parametrize(
    ("line", "field", "reason"),
    [
        (b'{"id": "a",,}', None, "invalid JSON"),
        (b'{"id": "a", "title": "\xff\xfe"}', None, "undecodable bytes (not UTF-8) at byte 22"),
        (b'{"title": "x"}', "id", "missing id"),
        (b'{"id": "x", "popularity": -1}', "popularity", "finite number >= 0, got -1"),
        (b'{"id": "x", "attributes": {"g": {"pop": 2.0}}}', "attributes.g", "in [0, 1], got 2.0"),
    ],
)
def test_bad_line_checked_in_the_worker_is_reported_where_it_is(
    workers: list[subprocess.Popen[bytes]],
    tmp_path: Path,
    demo_lines: list[bytes],
    config: Config,
    line: bytes,
    field: str | None,
    reason: str,
) -> None:
    lines = list(demo_lines)
    lines[BAD_AT - 1] = line + b"\n"
    path = _write(tmp_path / "c.jsonl", lines)
    in_worker = _ingest(path, config, tmp_path, in_worker=True)
    assert in_worker == _ingest(path, config, tmp_path, in_worker=False)
    [error] = cast(list[dict[str, Any]], in_worker["errors"])
    assert (error["path"], error["line"], error["field"]) == (str(path), BAD_AT, field)
    assert reason in error["reason"]
    with DataDir(tmp_path / "strict", config, writer=True) as dd:
        with pytest.raises(CatalogError) as info:
            ingest(dd.catalog, load_jsonl(path, config.catalog, in_worker=True))
        assert (info.value.path, info.value.line, info.value.field) == (str(path), BAD_AT, field)
        assert info.value.message.startswith(f"{path}:{BAD_AT}")
        assert (len(dd.catalog), dd.catalog.version()) == (0, 0)
    assert [w.poll() for w in workers][-1] is not None  # the strict stop ended the worker


def test_duplicate_id_in_a_later_message(
    tmp_path: Path, demo_lines: list[bytes], config: Config
) -> None:
    lines = list(demo_lines)
    lines[BAD_AT - 1] = lines[9]  # the id of line 10, a message earlier
    path = _write(tmp_path / "c.jsonl", lines)
    in_worker = _ingest(path, config, tmp_path, in_worker=True)
    assert in_worker == _ingest(path, config, tmp_path, in_worker=False)
    [error] = cast(list[dict[str, Any]], in_worker["errors"])
    assert (error["line"], error["field"]) == (BAD_AT, "id")
    assert error["reason"].endswith("first seen at line 10")


def _lines_until_error(path: Path, config: Config, *, in_worker: bool) -> list[int]:
    """The line numbers of the valid rows ``chunks`` yields before it raises."""
    lines: list[int] = []
    with pytest.raises(CatalogError, match="not a readable gzip file") as info:
        for piece in load_jsonl(path, config.catalog, in_worker=in_worker).chunks(CHUNK_LINES):
            assert isinstance(piece, ValidRows)
            lines += piece.lines
    assert info.value.path == str(path)
    return lines


def test_broken_gzip_fails_after_the_lines_before_it(
    tmp_path: Path, demo_lines: list[bytes], config: Config
) -> None:
    path = tmp_path / "c.jsonl.gz"
    path.write_bytes(gzip.compress(b"".join(demo_lines))[:-40])
    in_worker = _lines_until_error(path, config, in_worker=True)
    assert in_worker == _lines_until_error(path, config, in_worker=False)
    assert len(in_worker) > chunk_worker._LINES_PER_MESSAGE
    with DataDir(tmp_path / "d", config, writer=True) as dd:
        with pytest.raises(CatalogError, match="not a readable gzip file"):
            ingest(dd.catalog, load_jsonl(path, config.catalog, in_worker=True))
        assert len(dd.catalog) == 0


def test_missing_file_in_the_worker(tmp_path: Path, config: Config) -> None:
    path = tmp_path / "absent.jsonl"
    with pytest.raises(CatalogError, match="file does not exist") as info:
        list(load_jsonl(path, config.catalog, in_worker=True).chunks(CHUNK_LINES))
    assert info.value.path == str(path)


def test_large_files_go_to_the_worker_by_themselves(
    workers: list[subprocess.Popen[bytes]],
    tmp_path: Path,
    demo_lines: list[bytes],
    config: Config,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = _write(tmp_path / "c.jsonl", demo_lines)
    assert not chunk_worker.use_worker(path)  # well under WORKER_MIN_BYTES
    monkeypatch.setattr(chunk_worker, "WORKER_MIN_BYTES", 1)
    if not chunk_worker.use_worker(path):
        pytest.skip("one core: the worker is never used")
    with DataDir(tmp_path / "d", config, writer=True) as dd:
        report = ingest(dd.catalog, load(path, config.catalog))
        assert (report.n_upserted, len(dd.catalog)) == (N_LINES, N_LINES)
    assert [w.returncode for w in workers] == [0]


def test_a_script_without_a_main_guard_runs_once(tmp_path: Path, demo_lines: list[bytes]) -> None:
    """The worker does not run the caller's main script again (as a ``multiprocessing`` spawn
    would), so module-level work in a script that ingests happens once."""
    path = _write(tmp_path / "c.jsonl", demo_lines)
    script = tmp_path / "script.py"
    script.write_text(
        "from pathlib import Path\n"
        "from ltrr.catalog.ingest import ingest\n"
        "from ltrr.catalog.jsonl import load_jsonl\n"
        "from ltrr.config import load_config\n"
        "from ltrr.storage.datadir import DataDir\n"
        "print('side effect', flush=True)\n"
        "config = load_config()\n"
        f"with DataDir(Path({str(tmp_path / 'd')!r}), config, writer=True) as dd:\n"
        f"    records = load_jsonl(Path({str(path)!r}), config.catalog, in_worker=True)\n"
        "    print(ingest(dd.catalog, records).n_upserted)\n"
    )
    run = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=False, timeout=120
    )
    assert (run.returncode, run.stdout) == (0, f"side effect\n{N_LINES}\n"), run.stderr


ORPHAN = """
import os, subprocess, sys
from pathlib import Path
real = subprocess.Popen
def popen(*args, **kwargs):
    worker = real(*args, **kwargs)
    print(worker.pid, flush=True)
    return worker
subprocess.Popen = popen
from ltrr.catalog.chunk_worker import checked_chunks_in_worker
from ltrr.catalog.jsonl import JsonlSource
from ltrr.config import load_config
pieces = checked_chunks_in_worker(JsonlSource(Path(sys.argv[1]), load_config().catalog), 125)
next(pieces)
os._exit(0)  # killed, as it were: no cleanup
"""


def _running(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status  # a zombie has exited


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_worker_exits_when_the_ingesting_process_dies(tmp_path: Path) -> None:
    """A worker whose reader is gone must not wait forever to send its next frame."""
    path = tmp_path / "c.jsonl"
    write_jsonl(generate_demo_catalog(12 * chunk_worker._LINES_PER_MESSAGE, 5), path)
    run = subprocess.run(
        [sys.executable, "-c", ORPHAN, str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    pid = int(run.stdout)
    deadline = time.monotonic() + 30
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _running(pid)

"""A JSONL file read and checked a chunk at a time, in this process or in a worker process.

Ingest spends about half its time reading, parsing and validating lines and encoding storage
rows (orjson, ``columnar``), and the other half in SQLite, which takes one writer. The halves
need not wait for each other: for a large file a worker process does the first (``_work``) and
sends the rows to the ingesting process, which checks duplicate ids and writes them meanwhile.
On two cores a 1M-line file then takes about the time of the slower half, plus the index
builds and the commit at the end, instead of both halves (docs/performance.md, "Catalog
ingestion"). Sending the rows (pickle) adds about 15% CPU, so on a machine whose cores are all
busy with other work the worker was ~10% slower than in process; the choice still goes by file
size and cores only, so that what an ingest does does not depend on the load of the moment.

The worker decides nothing that the in-process path would decide differently: both run
``checked_chunks``. A chunk that does not pass whole comes back as its raw lines
(``Declined``), and the ingesting process validates those line by line itself, so each error
names file, line and field exactly as before. An error reading the file (a broken gzip
stream) is raised in the ingesting process after the lines read before it, as in process.

The worker is a new interpreter (``python -I -c``, the caller's ``sys.path``), not a fork: a fork
would copy the caller's SQLite connection in the middle of its transaction and any lock another
of its threads holds. Nor is it a ``multiprocessing`` spawn, which runs the caller's main
script again in the child: a script without an ``if __name__ == "__main__"`` guard would do
its work twice. The source and chunk size go in on stdin, pickled; the pieces come back on
stdout, pickled in length-prefixed frames.
"""

from __future__ import annotations

import json
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Generator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol, cast

from ltrr.catalog.sources import ValidRows, line_chunks
from ltrr.errors import CatalogError
from ltrr.storage.catalog import EntityRow

#: Files smaller than this are read in process. Starting a worker (a new interpreter that
#: imports orjson and ltrr's catalog modules) takes 0.1-0.3 s of wall time, and on a busy
#: machine a 100,000-line file (36 MB) was still faster in process.
WORKER_MIN_BYTES = 64 * 1024 * 1024

#: Lines per message from the worker (a few MB of rows): large enough that a message's fixed
#: costs do not count, small enough that the ingesting process starts writing at once.
_LINES_PER_MESSAGE = 5000

#: Messages the worker may run ahead of the writer; bounds the memory in flight to ~20 MB.
_MESSAGES_AHEAD = 4

_EXIT_S = 10.0  # how long a worker that sent its last message may take to exit

_HEADER_BYTES = 8  # a frame's length, little-endian, before its pickle

#: The worker's entry (run with ``-I``, so a ``json.py`` in the working directory or a
#: ``PYTHON*`` variable changes nothing): the caller's import path, then ``serve``.
_BOOT = (
    "import json, sys; sys.path[:] = json.loads(sys.argv[1]); "
    "from ltrr.catalog.chunk_worker import serve; serve()"
)


@dataclass(frozen=True, slots=True)
class Declined:
    """A chunk that did not pass the bulk checks: its lines, from line number ``first``."""

    first: int
    raws: list[bytes]


class ChunkChecker(Protocol):
    """What ``checked_chunks`` needs of a source (``jsonl.JsonlSource``); picklable."""

    path: Path

    def valid_rows(self, raws: list[bytes], first: int) -> ValidRows | None: ...


def checked_chunks(source: ChunkChecker, size: int) -> Generator[ValidRows | Declined, None, None]:
    """``size`` lines of ``source.path`` at a time: their rows, or the lines themselves."""
    first = 1
    for raws in line_chunks(source.path, size):
        valid = source.valid_rows(raws, first)
        yield valid if valid is not None else Declined(first, raws)
        first += len(raws)


def use_worker(path: Path) -> bool:
    """Whether a worker pays for ``path``: a large plain or gzip file, a second core and a
    Python executable to start (an embedding application may have none)."""
    try:
        n_bytes = path.stat().st_size
    except OSError:
        return False  # the reader reports it, in process, as it always has
    n_cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (n_cores or 1) > 1 and n_bytes >= WORKER_MIN_BYTES and bool(sys.executable)


def checked_chunks_in_worker(
    source: ChunkChecker, size: int
) -> Generator[ValidRows | Declined, None, None]:
    """``checked_chunks(source, size)`` run in a worker process, read from here as it goes.

    Closing the generator early (a strict ingest that met a bad line) stops the worker.
    """
    worker = subprocess.Popen(
        [sys.executable, "-I", "-c", _BOOT, json.dumps(sys.path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    stdin, stdout = cast(IO[bytes], worker.stdin), cast(IO[bytes], worker.stdout)  # PIPEs
    try:
        with suppress(BrokenPipeError):  # a worker that could not start: _receive says so
            stdin.write(pickle.dumps((source, size)))
            stdin.close()
        while (message := _receive(stdout, worker)) is not None:
            if isinstance(message, _Failure):
                raise message.error()
            yield from message
        worker.wait(timeout=_EXIT_S)  # it has sent everything and is exiting
    finally:
        if worker.poll() is None:  # stopped early, or stuck
            worker.kill()
            worker.wait()
        stdout.close()


@dataclass(frozen=True, slots=True)
class _Failure:
    """An exception raised in the worker, as something that crosses a pipe whole."""

    catalog_error: tuple[str, str | None, int | None, str | None] | None = None
    other: BaseException | None = None

    @classmethod
    def of(cls, exc: BaseException) -> _Failure:
        if isinstance(exc, CatalogError):
            return cls(catalog_error=(exc.reason, exc.path, exc.line, exc.field))
        try:
            pickle.dumps(exc)
        except Exception:
            return cls(other=RuntimeError(f"the JSONL worker failed: {exc!r}"))
        return cls(other=exc)

    def error(self) -> BaseException:
        if self.catalog_error is not None:
            reason, path, line, field = self.catalog_error
            return CatalogError(reason, path=path, line=line, field=field)
        return self.other or RuntimeError("the JSONL worker failed")


#: A batch of pieces, a failure, or ``None`` for the end of the file.
_Message = list[ValidRows | Declined] | _Failure | None


def serve() -> None:
    """The worker's main: read the source from stdin, send its checked chunks to stdout.

    Stdout is kept for the frames (anything printed goes to stderr instead), and Ctrl-C is
    left to the caller, which stops the worker.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    source, size = pickle.loads(sys.stdin.buffer.read())
    frames: queue.Queue[bytes | None] = queue.Queue(maxsize=_MESSAGES_AHEAD)
    writer = threading.Thread(target=_write_frames, args=(frames, out), daemon=True)
    writer.start()
    try:
        _work(source, size, frames)
    finally:
        frames.put(None)
        writer.join()


def _write_frames(frames: queue.Queue[bytes | None], out: IO[bytes]) -> None:
    """Write each frame with its length until ``None`` (a thread, so that the worker goes on
    checking while a write waits for the reader).

    A closed pipe means the ingesting process is gone without stopping the worker (killed):
    the worker exits at once rather than wait forever to hand on its next frame.
    """
    try:
        while (frame := frames.get()) is not None:
            out.write(len(frame).to_bytes(_HEADER_BYTES, "little"))
            out.write(frame)
        out.close()
    except BrokenPipeError:
        os._exit(1)


def _work(source: ChunkChecker, size: int, frames: queue.Queue[bytes | None]) -> None:
    """``checked_chunks`` sent in batches of about ``_LINES_PER_MESSAGE`` lines, then ``None``."""

    def send(message: _Message) -> None:
        frames.put(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))

    batch = _Batch()
    try:
        for piece in checked_chunks(source, size):
            if batch.add(piece) >= _LINES_PER_MESSAGE:
                send(batch.take())
    except Exception as exc:  # sent on, after the lines read before it, then raised there
        send(batch.take())
        send(_Failure.of(exc))
        return
    send(batch.take())
    send(None)


class _Batch:
    """Pieces on their way to the writer, consecutive valid chunks joined into one."""

    def __init__(self) -> None:
        self._pieces: list[ValidRows | Declined] = []
        self._n_lines = 0
        self._lines: list[int] = []
        self._ids: list[str] = []
        self._rows: list[EntityRow] = []

    def add(self, piece: ValidRows | Declined) -> int:
        """Add ``piece``; return the lines held now."""
        if isinstance(piece, Declined):
            self._close_run()
            self._pieces.append(piece)
            self._n_lines += len(piece.raws)
        else:
            self._lines.extend(piece.lines)
            self._ids.extend(piece.ids)
            self._rows.extend(piece.rows)
            self._n_lines += len(piece.lines)
        return self._n_lines

    def take(self) -> list[ValidRows | Declined]:
        """The pieces held, in file order; the batch is empty afterwards."""
        self._close_run()
        pieces, self._pieces, self._n_lines = self._pieces, [], 0
        return pieces

    def _close_run(self) -> None:
        if self._lines:
            self._pieces.append(ValidRows(self._lines, self._ids, self._rows))
            self._lines, self._ids, self._rows = [], [], []


def _receive(stdout: IO[bytes], worker: subprocess.Popen[bytes]) -> _Message:
    """The next message; a worker that died without saying why is an error, not a hang."""
    header = stdout.read(_HEADER_BYTES)
    n_bytes = int.from_bytes(header, "little")
    frame = stdout.read(n_bytes) if len(header) == _HEADER_BYTES else b""
    if not frame or len(frame) < n_bytes:
        raise RuntimeError(
            f"the JSONL worker exited (code {worker.wait()}) before the end of the file"
        )
    message: _Message = pickle.loads(frame)
    return message

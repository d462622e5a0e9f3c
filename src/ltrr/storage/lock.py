"""One writer process per data directory.

An exclusive ``flock`` on ``DATA/writer.lock`` is held for as long as a writer has the directory
open; the kernel drops it when the process dies, so a crash never leaves a stale lock. The file
records who holds it, so a second writer's error can name the holder.
"""

from __future__ import annotations

import fcntl
import os
import socket
import sys
import time
from pathlib import Path
from typing import IO

import orjson

from ltrr.errors import LockedError, StorageError

LOCK_NAME = "writer.lock"


class WriterLock:
    """Hold the writer lock of ``data_dir`` until ``release()``."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_NAME
        self._fh: IO[bytes] | None = None

    def acquire(self) -> None:
        try:
            fh = self.path.open("a+b")
        except OSError as exc:
            raise StorageError(f"cannot open lock file {self.path}: {exc.strerror}") from exc
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = _describe(fh.read())
            fh.close()
            raise LockedError(
                f"data directory {self.path.parent} is locked by another writer ({holder}); "
                "wait for it to finish or use another --data directory"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(
            orjson.dumps(
                {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "command": " ".join(sys.argv[:3]),
                    "since_s": time.time(),
                }
            )
        )
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            self._fh.seek(0)
            self._fh.truncate()
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


def _describe(raw: bytes) -> str:
    try:
        info = orjson.loads(raw)
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(info["since_s"])))
        return f"pid {info['pid']} on {info['host']}, '{info['command']}', since {since}"
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return "holder unknown"

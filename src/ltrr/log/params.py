"""``[log]``: where the event log lives, its group commit and its durability.

Shared by both backends (``log.sqlite_log``, ``log.postgres_log``) and by ``log.open``, so it
lives beside them rather than in either. ``url`` picks the backend; ``$LTRR_LOG_URL``
overrides it (``log_params``), so a deployment can point replicas at a server, and keep the
password out of the settings file, without editing it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from ltrr.config import Config
from ltrr.errors import ConfigError

#: Overrides ``[log] url`` when set and not empty.
LOG_URL_ENV = "LTRR_LOG_URL"
SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")
URL_SCHEMES = ("sqlite", "postgresql", "postgres")


@dataclass(frozen=True, slots=True)
class LogParams:
    """``[log]``: the log's location, group commit and durability.

    Attributes
    ----------
    url
        ``""`` (the default): the data directory's own SQLite database; ``sqlite:///PATH``:
        another SQLite file; ``postgresql://[user[:password]@]host[:port]/database?schema=NAME``:
        a schema of a PostgreSQL database (default schema ``public``), shared by replicas.
    synchronous
        Named after SQLite's ``PRAGMA synchronous``. On SQLite (WAL): ``FULL`` fsyncs the WAL
        at every group commit, so an acknowledged action survives power loss; ``NORMAL``
        survives a crash of the process only; ``OFF`` leaves flushing to the OS (simulations);
        ``EXTRA`` also fsyncs the directory. On PostgreSQL the server owns durability and the
        session has two levels: ``NORMAL``, ``FULL`` and ``EXTRA`` all mean
        ``synchronous_commit = on`` (a commit is acknowledged once the server has flushed its
        WAL: the action survives a crash of the client, the server or its host), ``OFF`` means
        ``synchronous_commit = off`` (acknowledged before the flush: a server crash may lose the
        last few hundred ms of acknowledged events, never corrupting the log).
    """

    url: str = ""
    flush_interval_ms: float = 50.0
    max_batch: int = 1000
    max_queue: int = 100_000
    synchronous: str = "FULL"
    max_id_chars: int = 512
    foreign_wait_ms: float = 2000.0

    def __post_init__(self) -> None:
        if self.synchronous not in SYNCHRONOUS:
            raise ConfigError(
                f"log.synchronous must be one of {', '.join(SYNCHRONOUS)}, got {self.synchronous!r}"
            )
        for name in ("max_batch", "max_queue", "max_id_chars"):
            if getattr(self, name) < 1:
                raise ConfigError(f"log.{name} must be >= 1, got {getattr(self, name)}")
        scheme = urlsplit(self.url).scheme
        if self.url and scheme not in URL_SCHEMES:
            shown = self.url.rsplit("@", 1)[-1]  # never a password
            raise ConfigError(
                f"log.url must be empty (the data directory's SQLite database), "
                f"sqlite:///PATH or postgresql://[user@]host[:port]/database[?schema=NAME]; "
                f"got scheme {scheme!r} in {shown!r}"
            )


def log_params(config: Config, environ: Mapping[str, str] | None = None) -> LogParams:
    """``[log]`` (the defaults while the section is absent from the settings), its ``url``
    replaced by ``$LTRR_LOG_URL`` when that is set and not empty."""
    try:
        config.section("log")
    except ConfigError:
        params = LogParams()
    else:
        params = config.params("log", LogParams)
    url = (os.environ if environ is None else environ).get(LOG_URL_ENV, "").strip()
    return replace(params, url=url) if url else params

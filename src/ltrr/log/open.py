"""Open an event log from a URL: SQLite (embedded, the default) or PostgreSQL (scale-out).

``sqlite:///PATH`` follows SQLAlchemy's spelling: three slashes then a relative path
(``sqlite:///data/ltrr.sqlite``), four for an absolute one (``sqlite:////srv/ltrr.sqlite``);
a path naming a directory means that data directory's ``ltrr.sqlite``.
``postgresql://user@host:5432/db?schema=name`` (or ``postgres://``) opens the log in that
schema (default ``public``). The SQLite path never imports the PostgreSQL driver.
``data_dir_log`` opens a data directory's log where ``[log] url`` (or ``$LTRR_LOG_URL``) says;
empty, the default, is the directory's own ``ltrr.sqlite``.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit, urlunsplit

from ltrr.errors import ConfigError
from ltrr.log.base import ServingLog
from ltrr.log.params import LogParams, log_params
from ltrr.log.rewards import RewardMap
from ltrr.log.sqlite_log import SqliteEventLog
from ltrr.storage.datadir import DataDir
from ltrr.storage.sqlite import DB_NAME
from ltrr.types import EntityId

if TYPE_CHECKING:  # both classes provide the whole serving surface (checked by mypy)
    from ltrr.log.postgres_log import PostgresEventLog

    _SQLITE: type[ServingLog] = SqliteEventLog
    _POSTGRES: type[ServingLog] = PostgresEventLog

SCHEMES = ("sqlite", "postgresql", "postgres")


def sqlite_path(url: str) -> Path:
    """The database file a ``sqlite:///`` URL names."""
    parts = urlsplit(url)
    if parts.scheme != "sqlite" or parts.netloc or not parts.path.startswith("/"):
        raise ConfigError(
            f"a SQLite event-log URL is sqlite:///relative/path or sqlite:////absolute/path, "
            f"got {url!r}"
        )
    path = Path(unquote(parts.path[1:]))
    if not str(path) or str(path) == ".":
        raise ConfigError(f"the SQLite event-log URL {url!r} names no file")
    return path / DB_NAME if path.is_dir() else path


def open_event_log(
    url: str,
    *,
    is_known_entity: Callable[[EntityId], bool] | Container[str] | None = None,
    rewards: RewardMap | None = None,
    params: LogParams | None = None,
    readonly: bool = False,
    schema: str | None = None,
    busy_timeout_ms: int = 5000,
) -> ServingLog:
    """The event log at ``url``: a ``SqliteEventLog`` for ``sqlite:///...``, a
    ``PostgresEventLog`` for ``postgresql://...``.

    ``schema`` (PostgreSQL only) overrides the URL's ``?schema=``; ``busy_timeout_ms`` is
    SQLite's (how long to wait for another process's write lock). Raises ``ConfigError`` for
    any other scheme, ``StorageError`` when the database cannot be opened or reached.
    """
    scheme = urlsplit(url).scheme if isinstance(url, str) else ""
    if scheme == "sqlite":
        if schema is not None:
            raise ConfigError(f"schema={schema!r} applies to PostgreSQL logs only, not {url!r}")
        return SqliteEventLog(
            sqlite_path(url),
            is_known_entity=is_known_entity,
            rewards=rewards,
            params=params,
            busy_timeout_ms=busy_timeout_ms,
            readonly=readonly,
        )
    if scheme in ("postgresql", "postgres"):
        from ltrr.log.postgres_log import PostgresEventLog

        return PostgresEventLog(
            url,
            schema=schema,
            is_known_entity=is_known_entity,
            rewards=rewards,
            params=params,
            readonly=readonly,
        )
    parts = urlsplit(url) if isinstance(url, str) else None
    shown = (  # never a password
        urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1], query=""))
        if parts is not None
        else repr(url)
    )
    raise ConfigError(
        f"unknown event-log URL scheme {scheme!r} in {shown!r}; allowed: "
        "sqlite:///PATH, postgresql://[user@]host[:port]/database[?schema=NAME]"
    )


def log_url(path: Path, params: LogParams) -> str:
    """The URL of the log of the data directory at ``path``: ``[log] url`` (or
    ``$LTRR_LOG_URL``, already in ``params``), else the directory's own SQLite database."""
    return params.url or f"sqlite:///{path.resolve() / DB_NAME}"


def data_dir_log(data_dir: DataDir, *, append: bool | None = None) -> ServingLog:
    """The event log of an open data directory: at its ``[log] url``, with its settings,
    catalog (entities an action may name) and writer mode.

    ``append`` (default: whether the directory was opened as a writer) opens a writer even on
    a reader's directory: service workers, and replicas on a shared PostgreSQL log, read their
    catalog and append to one log, each event's position assigned by the database.
    """
    config = data_dir.config
    params = log_params(config)
    return open_event_log(
        log_url(data_dir.path, params),
        is_known_entity=data_dir.catalog,
        rewards=RewardMap.from_config(config),
        params=params,
        readonly=not (data_dir.writer if append is None else append),
        busy_timeout_ms=config.storage.busy_timeout_ms,
    )

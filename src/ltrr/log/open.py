"""Open an event log from a URL: SQLite (embedded, the default) or PostgreSQL (scale-out).

``sqlite:///PATH`` follows SQLAlchemy's spelling: three slashes then a relative path
(``sqlite:///data/ltrr.sqlite``), four for an absolute one (``sqlite:////srv/ltrr.sqlite``);
a path naming a directory means that data directory's ``ltrr.sqlite``.
``postgresql://user@host:5432/db?schema=name`` (or ``postgres://``) opens the log in that
schema (default ``public``). The SQLite path never imports the PostgreSQL driver.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit, urlunsplit

from ltrr.errors import ConfigError
from ltrr.log.base import ServingLog
from ltrr.log.rewards import RewardMap
from ltrr.log.sqlite_log import LogParams, SqliteEventLog
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
) -> ServingLog:
    """The event log at ``url``: a ``SqliteEventLog`` for ``sqlite:///...``, a
    ``PostgresEventLog`` for ``postgresql://...``.

    ``schema`` (PostgreSQL only) overrides the URL's ``?schema=``. Raises ``ConfigError`` for
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
            readonly=readonly,
        )
    if scheme in ("postgresql", "postgres"):
        from ltrr.log.postgres_log import PostgresEventLog

        return PostgresEventLog.connect(
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

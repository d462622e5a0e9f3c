"""open_event_log: a URL's scheme picks the backend; anything else is a clear ConfigError."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ltrr.errors import ConfigError
from ltrr.log.open import open_event_log, sqlite_path
from ltrr.log.sqlite_log import SqliteEventLog
from ltrr.storage.sqlite import DB_NAME


def test_sqlite_urls_follow_sqlalchemys_slashes(tmp_path: Path) -> None:
    assert sqlite_path("sqlite:///data/ltrr.sqlite") == Path("data/ltrr.sqlite")
    assert sqlite_path(f"sqlite:///{tmp_path}/x.sqlite") == tmp_path / "x.sqlite"
    assert sqlite_path(f"sqlite:///{tmp_path}") == tmp_path / DB_NAME  # a data directory
    for bad in ("sqlite://host/x.sqlite", "sqlite:///", "sqlite:x.sqlite"):
        with pytest.raises(ConfigError, match="SQLite event-log URL"):
            sqlite_path(bad)


def test_a_sqlite_url_opens_the_embedded_log(tmp_path: Path) -> None:
    log = open_event_log(f"sqlite:///{tmp_path / 'ltrr.sqlite'}")
    try:
        assert isinstance(log, SqliteEventLog)
        assert log.path == tmp_path / "ltrr.sqlite"
    finally:
        log.close()


def test_a_relative_sqlite_url_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    open_event_log("sqlite:///here.sqlite").close()
    assert os.path.exists(tmp_path / "here.sqlite")


def test_a_schema_is_for_postgresql_only(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="PostgreSQL logs only"):
        open_event_log(f"sqlite:///{tmp_path / 'x.sqlite'}", schema="logs")


@pytest.mark.parametrize(
    "url", ["mysql://u:s3cret@h/db", "redis://h", "/data/ltrr.sqlite", "ltrr.sqlite", ""]
)
def test_other_schemes_are_a_config_error_listing_the_allowed(url: str) -> None:
    with pytest.raises(ConfigError, match="allowed: sqlite:///PATH, postgresql://") as caught:
        open_event_log(url)
    assert "s3cret" not in str(caught.value)

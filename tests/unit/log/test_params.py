"""``[log]``: the log's URL (setting, ``$LTRR_LOG_URL``), its checks, and the default that needs
no PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ltrr.config import Config, load_config
from ltrr.errors import ConfigError
from ltrr.log.open import data_dir_log, log_url
from ltrr.log.params import LOG_URL_ENV, LogParams, log_params
from ltrr.log.sqlite_log import SqliteEventLog
from ltrr.storage.datadir import DataDir
from ltrr.storage.sqlite import DB_NAME

PG = "postgresql://postgres@db.example:5432/ltrr?schema=replicas"


def _with_url(url: str) -> Config:
    return load_config().replaced("log", url=url)


def test_the_default_url_is_the_data_directorys_own_database(tmp_path: Path) -> None:
    params = log_params(load_config(), environ={})
    assert params.url == ""
    assert log_url(tmp_path, params) == f"sqlite:///{tmp_path.resolve() / DB_NAME}"


def test_the_environment_overrides_the_setting() -> None:
    sqlite = _with_url("sqlite:///elsewhere.sqlite")
    assert log_params(sqlite, environ={LOG_URL_ENV: PG}).url == PG
    assert log_params(sqlite, environ={LOG_URL_ENV: "  "}).url == "sqlite:///elsewhere.sqlite"
    assert log_params(Config({}), environ={LOG_URL_ENV: PG}) == LogParams(url=PG)


@pytest.mark.parametrize("url", ["mysql://u:s3cret@h/db", "ltrr.sqlite", "/srv/ltrr.sqlite"])
def test_a_url_of_another_kind_is_refused_naming_the_allowed(url: str) -> None:
    with pytest.raises(ConfigError, match=r"log\.url must be empty") as caught:
        log_params(_with_url(url), environ={})
    assert "s3cret" not in str(caught.value)
    with pytest.raises(ConfigError, match="postgresql://"):
        log_params(load_config(), environ={LOG_URL_ENV: url})


def test_a_sqlite_url_puts_the_log_in_that_file(tmp_path: Path) -> None:
    other = tmp_path / "events.sqlite"
    config = _with_url(f"sqlite:///{other}")
    with DataDir(tmp_path / "data", config, writer=True) as dd:
        log = data_dir_log(dd)
        try:
            assert isinstance(log, SqliteEventLog)
            assert log.path == other
            assert log.identity == f"sqlite:///{other.resolve()}"
        finally:
            log.close()


def test_the_default_log_never_imports_the_postgresql_driver(tmp_path: Path) -> None:
    """The embedded default runs where psycopg cannot even be imported."""
    script = f"""
import sys
sys.modules["psycopg"] = None  # an import of it would raise ImportError
from pathlib import Path
from ltrr.config import load_config
from ltrr.engine import Engine
from ltrr.storage.datadir import DataDir
from ltrr.types import Entity, EntityId
path = Path({str(tmp_path / "data")!r})
with DataDir(path, load_config(), writer=True) as dd, dd.catalog.change() as change:
    change.upsert([Entity(id=EntityId("t1"), type="track", title="Love Story")])
with Engine.open(path, load_config(), strategies=["lexical"], writer=True) as engine:
    engine.search("love", request_id="r1", event_time_s=1.0)
    assert engine.log is not None and engine.log.impression("r1") is not None
print("ok")
"""
    env = {k: v for k, v in os.environ.items() if k != LOG_URL_ENV}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"

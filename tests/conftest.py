"""Fixtures shared by all tests: settings, a fresh data directory, and the shared data sets."""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ltrr.config import CatalogConfig, Config, load_config
from ltrr.storage.datadir import DataDir

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO / ".." / "shared").resolve()
DATASETS = SHARED / "datasets"

#: The PostgreSQL database tests may create schemas in (trust auth on the local server).
POSTGRES_URL = os.environ.get("LTRR_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")

needs_shared = pytest.mark.skipif(
    not DATASETS.is_dir(),
    reason=f"real data sets not found at {DATASETS} (../shared is absent in this checkout)",
)


@pytest.fixture
def config() -> Config:
    return load_config()


@pytest.fixture
def catalog_config(config: Config) -> CatalogConfig:
    return config.catalog


@pytest.fixture
def data_dir(tmp_path: Path, config: Config) -> Iterator[DataDir]:
    with DataDir(tmp_path / "data", config, writer=True) as dd:
        yield dd


@functools.cache
def _postgres_unreachable() -> str | None:
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - psycopg is a dependency
        return f"psycopg is not installed ({exc})"
    try:
        psycopg.connect(POSTGRES_URL, connect_timeout=3).close()
    except psycopg.Error as exc:
        return f"PostgreSQL not reachable at {POSTGRES_URL.rsplit('@', 1)[-1]}: {exc}".strip()
    return None


@pytest.fixture
def postgres_schema() -> Iterator[str]:
    """A fresh schema name (unique across xdist workers) in the test database at
    ``POSTGRES_URL``, dropped afterwards; the test is skipped, with the reason, when no server
    answers."""
    reason = _postgres_unreachable()
    if reason is not None:
        pytest.skip(reason)
    import psycopg

    schema = f"t_{uuid.uuid4().hex}"
    try:
        yield schema
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture
def postgres_log_url(postgres_schema: str) -> str:
    """An event-log URL naming ``postgres_schema``."""
    return f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}schema={postgres_schema}"


@pytest.fixture
def postgres_catalog_url(postgres_schema: str) -> str:
    """A catalog URL naming ``postgres_schema``."""
    return f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}schema={postgres_schema}"


#: The Redis tests may use; each test works under its own key prefix.
REDIS_URL = os.environ.get("LTRR_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@functools.cache
def _redis_unreachable() -> str | None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        return f"Redis not reachable at {REDIS_URL}: {exc}"
    return None


@pytest.fixture
def redis_url() -> str:
    """``REDIS_URL`` (each test works under a key prefix of its own and deletes it); skipped,
    with the reason, when no server answers."""
    reason = _redis_unreachable()
    if reason is not None:
        pytest.skip(reason)
    return REDIS_URL

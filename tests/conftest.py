"""Fixtures shared by all tests: settings, a fresh data directory, and the shared data sets."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ltrr.config import CatalogConfig, Config, load_config
from ltrr.storage.datadir import DataDir

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO / ".." / "shared").resolve()
DATASETS = SHARED / "datasets"

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

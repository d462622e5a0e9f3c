"""The service's fixtures: a small catalog in a fresh data directory, the app over it (keyless or
with keys), and a client that runs the app's lifespan (so the engine is opened and closed)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ltrr.config import load_config
from ltrr.engine import Engine
from ltrr.service.app import create_app
from ltrr.service.settings import ServiceParams
from ltrr.storage.datadir import DataDir
from ltrr.types import Entity, EntityId

#: Fast strategies only (no dense encoder).
STRATEGIES = ["lexical", "fuzzy", "memory"]
SEARCH_KEY = "search-key-0123456789"
ADMIN_KEY = "admin-key-0123456789ab"
KEYED = ServiceParams(search_keys=(SEARCH_KEY,), admin_keys=(ADMIN_KEY,))

_TITLES = ["Love Story", "Night Drive", "Summer Rain", "Blue Monday", "Hidden Gem"]
_ARTISTS = ["Taylor Swift", "Chromatics", "Carl Thomas", "New Order", "Nobody Knows"]
#: ``t01`` ... ``t20``: four tracks per title, each by another artist.
CATALOG = [
    Entity(
        id=EntityId(f"t{i + 1:02d}"),
        type="track",
        title=f"{_TITLES[i % 5]} {i // 5 + 1}",
        fields={"artist": _ARTISTS[(i + i // 5) % 5]},
        attributes={"genre": {"pop" if i % 2 else "rock": 1.0}},
        popularity=float(i % 7),
    )
    for i in range(20)
]


def build_catalog(path: Path, entities: list[Entity] = CATALOG) -> Path:
    with DataDir(path, load_config(data_dir=path), writer=True) as dd, dd.catalog.change() as c:
        c.upsert(entities)
    return path


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A data directory holding ``CATALOG`` (indexes are built when the app opens it)."""
    return build_catalog(tmp_path / "data")


@pytest.fixture
def app_for(data: Path) -> Callable[[ServiceParams], FastAPI]:
    """Builds the app over ``data`` with the given ``[service]`` parameters."""

    def make(params: ServiceParams) -> FastAPI:
        return create_app(
            lambda: Engine.open(data, load_config(), strategies=STRATEGIES, writer=True), params
        )

    return make


@pytest.fixture
def client(app_for: Callable[[ServiceParams], FastAPI]) -> Iterator[TestClient]:
    """A keyless app (everything open)."""
    with TestClient(app_for(ServiceParams()), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def keyed_client(app_for: Callable[[ServiceParams], FastAPI]) -> Iterator[TestClient]:
    """An app with one search key and one admin key."""
    with TestClient(app_for(KEYED), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def api_keys() -> dict[str, str | None]:
    """The ``X-API-Key`` to send, by name: none, an unknown one, the search and the admin key."""
    return {"none": None, "wrong": "wrong-key-0123456789", "search": SEARCH_KEY, "admin": ADMIN_KEY}

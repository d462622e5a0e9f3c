"""A snapshot records which log it folded (``learn.snapshot.log_record``) and is restored only
against that log; the data directory's own SQLite log is recorded as such, so a moved directory
keeps its snapshots. (The PostgreSQL cases are in tests/unit/test_engine_postgres.py.)"""

from __future__ import annotations

import shutil
from pathlib import Path

import orjson
import pytest

from ltrr.config import Config, load_config
from ltrr.engine import Engine
from ltrr.learn.snapshot import OWN_LOG, fingerprint
from ltrr.log.events import Action
from ltrr.storage.datadir import DataDir
from ltrr.types import Entity, EntityId

STRATEGIES = ["lexical", "memory"]
TITLES = ["Love Story", "Night Drive", "Summer Rain", "Blue Monday"]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    catalog = [Entity(EntityId(f"t{i}"), "track", t, popularity=5) for i, t in enumerate(TITLES)]
    path = tmp_path / "data"
    with DataDir(path, load_config(), writer=True) as dd, dd.catalog.change() as change:
        change.upsert(catalog)
    return path


def _open(path: Path, url: str = "") -> Engine:
    config = load_config().replaced("log", url=url)
    return Engine.open(path, config, strategies=STRATEGIES, writer=True)


def _snapshot_with_traffic(path: Path, url: str = "") -> Path:
    with _open(path, url) as engine:
        for i in range(6):
            engine.search(TITLES[i % 4], request_id=f"r{i}", event_time_s=10.0 * i)
            engine.feedback(
                Action(
                    action_id=f"a{i}", request_id=f"r{i}", user_id="u1",
                    entity_id=EntityId(f"t{i % 4}"), kind="click", event_time_s=10.0 * i + 1,
                )
            )  # fmt: skip
        written = engine.snapshot()
    assert written is not None
    return written


def _manifest(snapshot: Path) -> dict[str, object]:
    loaded: dict[str, object] = orjson.loads((snapshot / "manifest.json").read_bytes())
    return loaded


def test_the_own_log_is_recorded_by_role_and_marks_its_first_and_last_event(data: Path) -> None:
    record = _manifest(_snapshot_with_traffic(data))["log"]
    # 6 impressions and 6 actions, positions 1..12: the first an impression, the last an action
    assert record == {"identity": OWN_LOG, "first": [1, "i:r0"], "at": [12, "a:a5"]}


def test_a_moved_data_directory_keeps_its_snapshot(data: Path, tmp_path: Path) -> None:
    written = _snapshot_with_traffic(data)
    moved = tmp_path / "moved"
    shutil.move(data, moved)
    with _open(moved) as engine:
        assert engine.resume()["snapshot"] == written.name


def test_a_snapshot_from_before_log_records_counts_as_the_own_logs(data: Path) -> None:
    written = _snapshot_with_traffic(data)
    manifest = _manifest(written)
    del manifest["log"]
    (written / "manifest.json").write_bytes(orjson.dumps(manifest))
    with _open(data) as engine:
        assert engine.resume()["snapshot"] == written.name
    with _open(data, f"sqlite:///{data.parent / 'elsewhere.sqlite'}") as engine:
        assert engine.resume()["snapshot"] is None


def test_a_snapshot_of_another_sqlite_log_is_not_used(data: Path, tmp_path: Path) -> None:
    _snapshot_with_traffic(data)
    with _open(data, f"sqlite:///{tmp_path / 'other.sqlite'}") as engine:
        assert engine.resume()["snapshot"] is None
        assert engine.learner.counts.n_actions == 0


def test_the_fingerprint_ignores_the_log_url_only() -> None:
    base = load_config()
    pg = base.replaced("log", url="postgresql://u:secret@db/ltrr?schema=a")
    assert fingerprint(pg) == fingerprint(base)
    assert fingerprint(base.replaced("log", max_batch=7)) != fingerprint(base)
    without_url = {k: v for k, v in base.values["log"].items() if k != "url"}
    assert fingerprint(Config({**base.values, "log": without_url})) == fingerprint(base)

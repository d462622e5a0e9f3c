"""Shared state on a real Redis: leases, position-guarded entries, folders packed and unpacked,
the URL setting, and a clear error when nothing answers."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ltrr.config import load_config
from ltrr.errors import ConfigError, StorageError
from ltrr.storage.redis_state import RedisSharedState
from ltrr.storage.shared import (
    STATE_URL_ENV,
    Published,
    namespace,
    open_shared_state,
    pack_folder,
    state_url,
    unpack_folder,
)


@pytest.fixture
def state(redis_url: str) -> Iterator[RedisSharedState]:
    shared = RedisSharedState(redis_url, namespace(f"test-{uuid.uuid4().hex}"))
    try:
        yield shared
    finally:
        shared.clear()
        shared.close()


def test_a_lease_is_held_by_one_until_released(state: RedisSharedState) -> None:
    first = state.lease("train", ttl_s=5)
    assert first is not None
    assert state.lease("train", ttl_s=5) is None  # held
    assert state.lease("snapshot", ttl_s=5) is not None  # another name is another lease
    first.release()
    second = state.lease("train", ttl_s=5)
    assert second is not None
    second.release()


def test_a_lease_outlives_its_ttl_while_held_and_expires_when_its_holder_stops(
    state: RedisSharedState,
) -> None:
    held = state.lease("train", ttl_s=0.3)
    assert held is not None
    time.sleep(0.8)  # renewed every 0.1 s by the holder's thread
    assert state.lease("train", ttl_s=0.3) is None
    held._stop.set()  # the holder dies without releasing
    time.sleep(0.5)
    assert state.lease("train", ttl_s=0.3) is not None


def test_only_one_of_many_racing_processes_takes_a_lease(state: RedisSharedState) -> None:
    won: list[bool] = []
    barrier = threading.Barrier(8)

    def race() -> None:
        barrier.wait()
        won.append(state.lease("train", ttl_s=5) is not None)

    threads = [threading.Thread(target=race) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(won) == [False] * 7 + [True]


def test_publishing_keeps_the_newest_entry(state: RedisSharedState) -> None:
    assert state.published("ranker") is None and state.fetch("ranker") is None
    assert state.publish("ranker", Published(10, {"version": "a"}, b"model a"))
    assert not state.publish("ranker", Published(7, {"version": "old"}, b"older"))
    assert not state.publish("ranker", Published(10, {"version": "same"}, b"same position"))
    assert state.publish("ranker", Published(12, {"version": "b"}, b"model b"))
    assert state.published("ranker") == Published(12, {"version": "b"}, None)
    assert state.fetch("ranker") == Published(12, {"version": "b"}, b"model b")


def test_two_logs_on_one_redis_never_meet(redis_url: str) -> None:
    a = RedisSharedState(redis_url, namespace(f"log-a-{uuid.uuid4().hex}"))
    b = RedisSharedState(redis_url, namespace(f"log-b-{uuid.uuid4().hex}"))
    try:
        assert a.publish("ranker", Published(1, {}, b"x"))
        assert b.published("ranker") is None
        assert a.lease("train", 5) is not None and b.lease("train", 5) is not None
    finally:
        a.clear(), b.clear()


def test_a_folder_survives_packing(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "memory").mkdir(parents=True)
    (src / "manifest.json").write_text('{"a": 1}')
    (src / "memory" / "keys.npy").write_bytes(bytes(range(256)) * 100)
    into = tmp_path / "into"
    unpack_folder(pack_folder(src), into)
    assert (into / "manifest.json").read_text() == '{"a": 1}'
    assert (into / "memory" / "keys.npy").read_bytes() == bytes(range(256)) * 100


def test_a_damaged_blob_is_a_storage_error(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="could not be unpacked"):
        unpack_folder(b"not a tar", tmp_path / "into")


@pytest.mark.parametrize(
    ("url", "ok"),
    [("", True), ("redis://127.0.0.1:6379/0", True), ("rediss://h:6380", True),
     ("postgresql://h/db", False), ("127.0.0.1:6379", False)],
)  # fmt: skip
def test_the_url_setting_is_checked(url: str, ok: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(STATE_URL_ENV, raising=False)
    config = load_config().replaced("storage", state_url=url)
    if ok:
        assert state_url(config) == url
    else:
        with pytest.raises(ConfigError, match=r"storage\.state_url"):
            state_url(config)
    monkeypatch.setenv(STATE_URL_ENV, url or "redis://other:1")
    if ok:
        assert state_url(config) == (url or "redis://other:1")
    else:
        with pytest.raises(ConfigError, match=r"\$LTRR_STATE_URL"):
            state_url(config)


def test_no_url_no_shared_state_and_no_redis_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(STATE_URL_ENV, raising=False)
    assert open_shared_state(load_config(), "sqlite:data-directory") is None


def test_an_unreachable_redis_is_named_without_its_password() -> None:
    with pytest.raises(StorageError, match=r"Redis at 127\.0\.0\.1:1/0") as caught:
        RedisSharedState("redis://:secret@127.0.0.1:1/0", "ltrr:x:", timeout_s=1)
    assert "secret" not in str(caught.value)


def test_an_entry_of_another_epoch_replaces_the_stored_one(state: RedisSharedState) -> None:
    """A log dropped and recreated at the same address starts its positions again."""
    assert state.publish("ranker", Published(50, {}, b"dropped log", "i:r1"))
    assert state.publish("ranker", Published(3, {}, b"recreated log", "i:r9"))
    assert state.fetch("ranker") == Published(3, {}, b"recreated log", "i:r9")
    assert not state.publish("ranker", Published(2, {}, b"late", "i:r9"))

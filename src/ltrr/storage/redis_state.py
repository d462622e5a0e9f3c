"""``SharedState`` on Redis (redis-py): leases by ``SET NX PX``, entries as position-guarded
hashes written by a Lua script.

A lease is a key holding a random token, set only if absent and with an expiry; a daemon thread
renews it every third of its time to live while the holder lives, and renewing or releasing
checks the token first (a Lua script, so a holder whose lease expired never deletes the next
holder's). A process killed with SIGKILL stops renewing, and the lease expires ``ttl_s`` later.

An entry is one hash, ``position``, ``epoch``, ``meta`` (JSON) and ``blob``. Publishing compares
the stored epoch and position and writes every field in one script, so a reader sees the old
entry or the new one, never a mix, and an entry of the same epoch older than the stored one is
refused (one of another epoch, a recreated log, replaces it). Redis keeps
nothing on disk on these machines: what it holds must be reproducible (a snapshot is a fold of
the log; a model can be trained again), never the only copy of anything acknowledged.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from typing import Any

import orjson
import redis
from redis.exceptions import RedisError

from ltrr.errors import StorageError
from ltrr.storage.shared import Published

_PUBLISH = """
local current = redis.call('HMGET', KEYS[1], 'position', 'epoch')
if current[1] and current[2] == ARGV[4] and tonumber(current[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('HSET', KEYS[1], 'position', ARGV[1], 'meta', ARGV[2], 'blob', ARGV[3], 'epoch', ARGV[4])
return 1
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisLease:
    """A held lease: renewed in the background until ``release``."""

    def __init__(self, state: RedisSharedState, key: str, token: str, ttl_ms: int) -> None:
        self._state, self._key, self._token, self._ttl_ms = state, key, token, ttl_ms
        self._stop, self._lost = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._renew, name="ltrr-lease", daemon=True)
        self._thread.start()

    def _renew(self) -> None:
        while not self._stop.wait(self._ttl_ms / 3000):
            try:
                if not self._state.script(_RENEW, self._key, self._token, self._ttl_ms):
                    self._lost.set()  # expired while this process stalled: nothing to renew
                    return
            except StorageError:
                continue  # Redis unreachable for a moment: try again, the lease may live

    def held(self) -> bool:
        return not self._lost.is_set() and not self._stop.is_set()

    def release(self) -> None:
        self._stop.set()
        with contextlib.suppress(StorageError):  # else it expires on its own
            self._state.script(_RELEASE, self._key, self._token)

    def __enter__(self) -> RedisLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class RedisSharedState:
    """Leases and published entries under ``prefix`` in the Redis at ``url``."""

    def __init__(self, url: str, prefix: str, timeout_s: float = 5.0) -> None:
        self.identity = url.rsplit("@", 1)[-1] if "@" in url else url  # never a password
        self.prefix = prefix
        try:
            self._redis = redis.Redis.from_url(
                url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
            )
            self._redis.ping()
        except (RedisError, ValueError) as exc:
            raise StorageError(
                f"cannot reach the shared state's Redis at {self.identity}: {exc}"
            ) from None
        self._scripts: dict[str, Any] = {}

    def script(self, source: str, key: str, *args: str | int | bytes) -> Any:
        """Run the Lua ``source`` on ``key`` (registered once, then called by its hash)."""
        found = self._scripts.get(source)
        if found is None:
            found = self._scripts[source] = self._redis.register_script(source)
        try:
            return found(keys=[key], args=list(args))
        except RedisError as exc:
            raise self._error(exc) from exc

    def _error(self, exc: BaseException) -> StorageError:
        return StorageError(f"the shared state's Redis at {self.identity} failed: {exc}")

    def lease(self, name: str, ttl_s: float) -> RedisLease | None:
        key, token, ttl_ms = self.prefix + "lease:" + name, secrets.token_hex(16), int(ttl_s * 1000)
        try:
            taken = self._redis.set(key, token, nx=True, px=ttl_ms)
        except RedisError as exc:
            raise self._error(exc) from exc
        return RedisLease(self, key, token, ttl_ms) if taken else None

    def publish(self, name: str, entry: Published) -> bool:
        meta = orjson.dumps(dict(entry.meta))
        blob, key = entry.blob or b"", self.prefix + name
        return bool(self.script(_PUBLISH, key, entry.position, meta, blob, entry.epoch))

    def published(self, name: str) -> Published | None:
        try:
            position, meta, epoch = self._redis.hmget(
                self.prefix + name, ["position", "meta", "epoch"]
            )
        except RedisError as exc:
            raise self._error(exc) from exc
        return _entry(position, meta, None, epoch)

    def fetch(self, name: str) -> Published | None:
        try:
            position, meta, blob, epoch = self._redis.hmget(
                self.prefix + name, ["position", "meta", "blob", "epoch"]
            )
        except RedisError as exc:
            raise self._error(exc) from exc
        return _entry(position, meta, blob, epoch)

    def clear(self) -> int:
        """Delete every key of this namespace (tests, a log dropped); how many."""
        keys = list(self._redis.scan_iter(match=self.prefix + "*", count=1000))
        return int(self._redis.delete(*keys)) if keys else 0

    def close(self) -> None:
        self._redis.close()


def _entry(position: Any, meta: Any, blob: Any, epoch: Any) -> Published | None:
    if position is None or meta is None:
        return None
    blob = None if blob is None else bytes(blob)
    return Published(int(position), orjson.loads(meta), blob, (epoch or b"").decode())

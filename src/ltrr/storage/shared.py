"""State that the replicas of one event log share besides the log: leases and published blobs.

Learned state stays a fold over the event log in every replica (``learn.follow``): the fold is
exact, ordered and local, and a search reads it from memory. What a fold per replica does badly
is *repeated work that yields the same bytes everywhere* and *starting from nothing*:

- **Ranker training.** Each replica retraining LambdaMART on the same log spends the same CPU
  and, trained at slightly different log positions, serves a different model. With shared
  state, one replica at a time holds the ``train`` lease, trains, and publishes the accepted
  model; every replica installs the published model in its own registry and serves it.
- **Snapshots.** A replica on a new host has no snapshot of the shared log, so it would fold
  the whole log before serving. The replica holding the ``snapshot`` lease publishes each
  snapshot it writes; a starting replica fetches the newest published one when it is newer
  than its own, and follows only the log's tail.

``SharedState`` is the contract (``storage.redis_state.RedisSharedState`` implements it on
Redis); ``open_shared_state`` picks it from ``[storage] state_url`` or ``$LTRR_STATE_URL``
(``""``: none, and nothing imports redis). Names are scoped by a namespace, the hash of the
log's identity, so two logs on one Redis never meet. A published entry carries a log
position: publishing refuses an entry older than the one already there, so a late writer never
replaces a newer snapshot or model; and the log's epoch, so that what a dropped log taught is
neither used by nor kept over the log recreated in its place.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ltrr.config import Config, storage_url
from ltrr.errors import StorageError

#: Overrides ``[storage] state_url`` when set and not empty.
STATE_URL_ENV = "LTRR_STATE_URL"


@dataclass(frozen=True, slots=True)
class Published:
    """An entry as published: the log position it reflects, its description, (when fetched)
    its bytes, and the ``epoch`` of the log it came from (its first event's key: a log
    dropped and recreated at the same address is another log, whose positions start again)."""

    position: int
    meta: Mapping[str, Any]
    blob: bytes | None = None
    epoch: str = ""


class Lease(Protocol):
    """A named lock held by one process of the cluster until released or expired."""

    def held(self) -> bool:
        """False once the lease was found expired (the holder stalled past its time to live):
        another process may hold it now."""
        ...

    def release(self) -> None: ...


class SharedState(Protocol):
    """Leases and position-guarded published entries, shared by every replica of one log."""

    identity: str

    def lease(self, name: str, ttl_s: float) -> Lease | None:
        """Take the lease ``name`` if no one holds it (kept alive until released; it expires
        ``ttl_s`` after a holder died); None when another process holds it."""
        ...

    def publish(self, name: str, entry: Published) -> bool:
        """Store ``entry`` (with its blob) unless one of the same epoch at the same or a later
        position is there; whether it was stored."""
        ...

    def published(self, name: str) -> Published | None:
        """The entry's position and meta, without the blob (a cheap poll); None if none."""
        ...

    def fetch(self, name: str) -> Published | None:
        """The entry with its blob; None if none."""
        ...

    def close(self) -> None: ...


def state_url(config: Config, environ: Mapping[str, str] | None = None) -> str:
    """``$LTRR_STATE_URL`` when set and not empty, else ``[storage] state_url``; ``""``: no
    shared state. ``ConfigError`` for another scheme than redis://, rediss:// or unix://."""
    return storage_url(config, "state_url", STATE_URL_ENV, environ)


def namespace(log_identity: str) -> str:
    """The key prefix of one log's shared state."""
    return "ltrr:" + hashlib.sha256(log_identity.encode()).hexdigest()[:16] + ":"


def open_shared_state(config: Config, log_identity: str) -> SharedState | None:
    """The shared state of the log ``log_identity`` named by the settings, or None."""
    url = state_url(config)
    if not url:
        return None
    from ltrr.storage.redis_state import RedisSharedState

    return RedisSharedState(url, namespace(log_identity))


def pack_folder(folder: Path) -> bytes:
    """``folder``'s files as one tar (gzip level 1: npy arrays compress, and speed matters
    more than the last bytes)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as tar:
        for path in sorted(folder.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(folder)), recursive=False)
    return buffer.getvalue()


def unpack_folder(blob: bytes, into: Path) -> None:
    """Extract ``pack_folder``'s bytes into the (new, empty) folder ``into``; a damaged blob or
    a member outside the folder is a ``StorageError``."""
    try:
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
            tar.extractall(into, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise StorageError(f"a published folder could not be unpacked into {into}: {exc}") from exc

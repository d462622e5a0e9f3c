"""How an engine gets its learned state back: a full replay, or a snapshot plus the log tail.

Split from the engine so that it reads as the request and learning paths; these are the
start-up and maintenance paths (``Engine.replay``, ``resume``, ``snapshot``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, MutableMapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ltrr.config import Config
from ltrr.errors import StorageError
from ltrr.learn import snapshot
from ltrr.learn.follow import LogFollower, rebuild
from ltrr.rank.base import Ranker
from ltrr.retrieve.base import Retriever
from ltrr.select.base import Policy
from ltrr.storage.shared import SharedState

logger = logging.getLogger(__name__)


def replay(
    follower: LogFollower,
    retrievers: MutableMapping[str, Retriever],
    policy: Policy,
    ranker: Ranker,
) -> dict[str, Any]:
    """Rebuild every learned state from the log alone, in log order; what was replayed."""
    started = time.perf_counter()
    rebuild(follower, retrievers, policy, ranker)
    return summary(follower, started, None)


def resume(
    path: Path,
    config: Config,
    follower: LogFollower,
    retrievers: dict[str, Retriever],
    catch_up: Callable[[], object],
    full_replay: Callable[[], dict[str, Any]],
    shared: SharedState | None = None,
) -> dict[str, Any]:
    """The newest usable snapshot of this log (the one ``shared`` publishes, if newer than
    this directory's) plus the log after it; ``full_replay`` when there is none or it is
    damaged (a damaged snapshot costs a replay, not the start)."""
    started = time.perf_counter()
    if shared is not None:
        try:
            snapshot.fetch_published(shared, path, config, follower.log)
        except StorageError as exc:  # the local snapshots (or a replay) still serve
            logger.warning("published snapshot not fetched: %s", exc)
    found = snapshot.latest(path, config, follower.log)
    if found is None:
        return full_replay()
    try:
        snapshot.load_snapshot(found, follower, retrievers, config)
    except StorageError as exc:
        logger.warning("snapshot %s not used: %s", found, exc)
        return full_replay()
    catch_up()  # the snapshot's retrievers
    follower.follow()
    return summary(follower, started, found.name)


def summary(follower: LogFollower, started: float, snapshot_name: str | None) -> dict[str, Any]:
    learner = follower.learner
    return {
        **asdict(learner.counts),
        "n_policy_updates": learner.n_policy_updates,
        "log_position": follower.position,
        "snapshot": snapshot_name,
        "seconds": round(time.perf_counter() - started, 3),
    }

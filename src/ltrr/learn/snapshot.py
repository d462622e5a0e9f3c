"""Snapshots of learned state at a log position: start-up reads one and follows only the tail.

Learned state is a fold over the event log (``learn.follow``), so a snapshot is that fold's
value at a position P: the memory and explore retrievers (their own save format, learned
statistics included), the policy, the ranker, and the learner's counters and held lessons.
Loading it and following the log from P gives exactly the state a full replay gives, without
the replay's cost.

Held lessons (requests whose wanted entity has not settled yet) hold understood queries and
strategy lists; rather than a second serialisation of those, a snapshot stores which action
each came from and rebuilds it from the log through the very functions live learning uses
(``Learner.served``, ``lesson_of``), as a replay would.

A snapshot is used only if it was written by this ltrr version with the same learning-related
settings (``fingerprint``); otherwise start-up replays the whole log. Folders are written to
a temporary sibling and renamed into place, and the newest ``keep`` are kept.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson

from ltrr.config import Config, settings_blob
from ltrr.errors import StorageError
from ltrr.learn.follow import LogFollower
from ltrr.learn.learner import LearnCounts, Learner, lesson_of
from ltrr.learn.stats import LearningStats
from ltrr.retrieve.base import Retriever
from ltrr.select import load_policy
from ltrr.storage.folder import new_manifest, read_arrays, staged, write_arrays

logger = logging.getLogger(__name__)

SNAPSHOT_DIR = "snapshots"
FORMAT = "ltrr-snapshot"
FORMAT_VERSION = 1
#: Learned strategies whose state a snapshot carries (the others hold no learned state).
LEARNED = ("memory", "explore")
#: Settings that shape learned state: a snapshot taken under others is not used.
SECTIONS = ("learn", "select", "rank", "log", "search", "retrieve", "understand", "catalog")


def fingerprint(config: Config) -> str:
    return hashlib.sha256(settings_blob(config, SECTIONS)).hexdigest()[:16]


def save_snapshot(
    root: Path,
    follower: LogFollower,
    retrievers: Mapping[str, Retriever],
    config: Config,
    *,
    keep: int = 2,
) -> Path | None:
    """Write the learned state at ``follower.position`` under ``root/snapshots/<position>``;
    the folder, or None when a snapshot of that position exists already."""
    learner = follower.learner
    position = follower.position
    directory = root / SNAPSHOT_DIR / f"{position:016d}"
    if directory.exists():
        return None
    with staged(directory) as tmp:
        for name in LEARNED:
            if name in retrievers:
                retrievers[name].save(tmp / name)
        learner.policy.save(tmp / "policy")
        ranker_meta: dict[str, Any] | None = None
        arrays: dict[str, Any] = {}
        ranker_state = getattr(learner.ranker, "state", None)
        if ranker_state is not None:
            ranker_meta, ranker_arrays = ranker_state()
            arrays = {f"ranker_{k}": v for k, v in ranker_arrays.items()}
        lessons = learner.lessons
        documents = {
            "learner": {
                "counts": asdict(learner.counts),
                "clock_s": lessons.clock_s,
                "n_taught": lessons.n_taught,
                "held": lessons.held(),
                "stats": lessons.stats.state(),
                "ranker": ranker_meta,
            }
        }  # fmt: skip
        manifest = new_manifest(
            FORMAT, FORMAT_VERSION, fingerprint=fingerprint(config), log_position=position,
            learned=[n for n in LEARNED if n in retrievers],
        )  # fmt: skip
        write_arrays(tmp, manifest, arrays, documents)
    _prune(root / SNAPSHOT_DIR, keep)
    return directory


def latest(root: Path, config: Config) -> Path | None:
    """The newest snapshot under ``root`` that this ltrr and ``config`` can use, if any."""
    folder = root / SNAPSHOT_DIR
    if not folder.is_dir():
        return None
    wanted = fingerprint(config)
    for directory in sorted(folder.iterdir(), reverse=True):
        if directory.name.startswith(".") or not (directory / "manifest.json").is_file():
            continue
        manifest = orjson.loads((directory / "manifest.json").read_bytes())
        if (
            manifest.get("format_version") == FORMAT_VERSION
            and manifest.get("fingerprint") == wanted
        ):
            return directory
        logger.info("snapshot %s was taken under other settings; not used", directory.name)
    return None


def load_snapshot(
    directory: Path,
    follower: LogFollower,
    retrievers: dict[str, Retriever],
    config: Config,
) -> int:
    """Replace the learned state by the snapshot in ``directory``; its log position.

    The learned retrievers are put into ``retrievers`` (their catalog version is the
    snapshot's: the caller catches them up with the catalog).
    """
    manifest = orjson.loads((directory / "manifest.json").read_bytes())
    arrays, documents = read_arrays(directory, manifest, "delete the snapshot to replay")
    for name in manifest["learned"]:
        if name in retrievers:
            kind: Any = type(retrievers[name])
            retrievers[name] = kind.load(directory / name, config)
    learner = follower.learner
    ranker = learner.ranker
    state = documents["learner"]
    if state["ranker"] is not None:
        restore = getattr(ranker, "restore", None)
        if restore is None:
            raise StorageError(f"snapshot {directory} holds ranker state {ranker.name} cannot use")
        prefix = "ranker_"
        restore(
            state["ranker"], {k[len(prefix) :]: v for k, v in arrays.items() if k[:7] == prefix}
        )
    learner.reset(load_policy(directory / "policy", config), ranker)
    learner.counts = LearnCounts(**state["counts"])
    held = [_rebuild(follower, learner, *entry) for entry in state["held"]]
    learner.lessons.restore(
        [h for h in held if h is not None],
        float(state["clock_s"]),
        int(state["n_taught"]),
        LearningStats.from_state(state["stats"]),
    )
    follower.reset()
    follower.position = int(manifest["log_position"])
    return follower.position


def _rebuild(
    follower: LogFollower,
    learner: Learner,
    request_id: str,
    action_id: str,
    holds_plan: bool,
    holds_rank: bool,
    settles_at_s: float,
) -> tuple[str, Any, Any, float, str] | None:
    """A held lesson from its request's impression and the action it came from."""
    log = follower.log
    impression = log.impression(request_id)
    action = next((a for a in log.actions_for(request_id) if a.action_id == action_id), None)
    if impression is None or action is None:
        logger.warning("held lesson of %s: its events are not in the log; dropped", request_id)
        return None
    reward = learner.rewards.action_reward(action)
    plan, rank = lesson_of(learner.served(impression), action, reward)
    return (
        request_id,
        plan if holds_plan else None,
        rank if holds_rank else None,
        settles_at_s,
        action_id,
    )


def _prune(folder: Path, keep: int) -> None:
    done = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    for old in done[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)

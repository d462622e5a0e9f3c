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
settings (``fingerprint``) and folded the very log it is restored against (``log_record``: the
log's identity, e.g. a PostgreSQL schema, and its first event and the event at P, so that a
snapshot of the data directory's SQLite log is never mixed with a PostgreSQL log's tail, nor one
schema's with another's, nor one of a log since recreated in the same place); otherwise
start-up replays the whole log. Folders are written to a temporary sibling and renamed into
place, and the newest ``keep`` are kept.

With shared state (``storage.shared``: replicas of one log on several hosts), a snapshot is also
published there (``publish``), and a replica starting without a newer one of its own fetches it
into its snapshots folder first (``fetch_published``): it folds the log's tail, never the whole
log, even on a new host. A fetched snapshot passes the same checks as a local one.
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
from ltrr.log.base import ServingLog
from ltrr.log.events import Action
from ltrr.retrieve.base import Retriever
from ltrr.select import load_policy
from ltrr.storage.folder import new_manifest, read_arrays, staged, write_arrays
from ltrr.storage.shared import Published, SharedState, pack_folder, unpack_folder
from ltrr.storage.sqlite import DB_NAME

logger = logging.getLogger(__name__)

SNAPSHOT_DIR = "snapshots"
FORMAT = "ltrr-snapshot"
FORMAT_VERSION = 1
#: Learned strategies whose state a snapshot carries (the others hold no learned state).
LEARNED = ("memory", "explore")
#: Settings that shape learned state: a snapshot taken under others is not used.
SECTIONS = ("learn", "select", "rank", "log", "search", "retrieve", "understand", "catalog")
#: The identity recorded for the data directory's own SQLite log (wherever the directory is).
OWN_LOG = "sqlite:data-directory"


def fingerprint(config: Config) -> str:
    """The settings that shape learned state, hashed; ``[log] url`` left out (``log_record``
    tells logs apart, and a URL's password or host name may change while its log does not)."""
    log = config.values.get("log")
    if isinstance(log, Mapping) and "url" in log:
        config = Config({**config.values, "log": {k: v for k, v in log.items() if k != "url"}})
    return hashlib.sha256(settings_blob(config, SECTIONS)).hexdigest()[:16]


def log_record(log: ServingLog, root: Path, position: int) -> dict[str, Any]:
    """Which log a fold up to ``position`` came from: its ``identity`` (``OWN_LOG`` for the
    data directory's own SQLite database, so a moved or copied directory keeps its snapshots),
    and ``[position, key]`` of its first event and of the event at ``position`` (``None`` at
    position 0)."""
    identity = log.identity
    if identity == f"sqlite:///{(root / DB_NAME).resolve()}":
        identity = OWN_LOG
    first, at = (_mark(log, 0), _mark(log, position - 1)) if position else (None, None)
    return {"identity": identity, "first": first, "at": at}


def log_epoch(log: ServingLog) -> str:
    """The key of ``log``'s first event (``""`` while it is empty): what tells a log from one
    recreated at the same address, whose positions start again."""
    first = _mark(log, 0)
    return "" if first is None else str(first[1])


def _mark(log: ServingLog, after: int) -> list[Any] | None:
    events = log.events_after(after, 1)
    if not events:
        return None
    seq, event = events[0]
    kind, key = ("a", event.action_id) if isinstance(event, Action) else ("i", event.request_id)
    return [seq, f"{kind}:{key}"]


def same_log(manifest: Mapping[str, Any], log: ServingLog, root: Path) -> bool:
    """Whether the snapshot of ``manifest`` folded ``log`` (a snapshot without a record, from
    before logs could live elsewhere, folded the data directory's own)."""
    recorded = manifest.get("log") or {"identity": OWN_LOG}
    current = log_record(log, root, int(manifest["log_position"]))
    if recorded["identity"] != current["identity"]:
        return False
    return all(recorded.get(k) in (None, current[k]) for k in ("first", "at"))


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
                "evidence": lessons.evidence.state(),
                "ranker": ranker_meta,
            }
        }  # fmt: skip
        manifest = new_manifest(
            FORMAT, FORMAT_VERSION, fingerprint=fingerprint(config), log_position=position,
            learned=[n for n in LEARNED if n in retrievers],
            log=log_record(follower.log, root, position),
        )  # fmt: skip
        write_arrays(tmp, manifest, arrays, documents)
    _prune(root / SNAPSHOT_DIR, keep)
    return directory


def shared_name(config: Config) -> str:
    """The shared entry of snapshots taken under ``config``'s learning settings."""
    return f"snapshot:{fingerprint(config)}"


def publish(shared: SharedState, root: Path, config: Config, position: int) -> bool:
    """Publish the snapshot of ``position`` under ``root``; whether it is now the published
    one (a snapshot of a later position wins). A failure is logged: the local snapshot stands,
    and a replica that starts folds a longer tail."""
    directory = root / SNAPSHOT_DIR / f"{position:016d}"
    if not (directory / "manifest.json").is_file():
        return False
    try:
        first = orjson.loads((directory / "manifest.json").read_bytes()).get("log") or {}
        epoch = (first.get("first") or [0, ""])[1]
        blob = pack_folder(directory)
        meta = {"folder": directory.name, "bytes": len(blob)}
        return shared.publish(shared_name(config), Published(position, meta, blob, epoch))
    except (StorageError, OSError) as exc:
        logger.warning("snapshot at log position %d not published: %s", position, exc)
        return False


def fetch_published(
    shared: SharedState, root: Path, config: Config, log: ServingLog
) -> Path | None:
    """Put the published snapshot into ``root``'s snapshots folder when it is newer than
    every snapshot there that this log and ``config`` can use; the folder, or None."""
    name = shared_name(config)
    head = shared.published(name)
    own = latest(root, config, log)
    if head is None or head.epoch != log_epoch(log):
        return None  # none, or one of a log since dropped and recreated at this address
    if own is not None and int(own.name) >= head.position:
        return None
    entry = shared.fetch(name)
    directory = root / SNAPSHOT_DIR / f"{head.position:016d}"
    if entry is None or entry.blob is None or directory.exists():
        return None
    directory.parent.mkdir(parents=True, exist_ok=True)
    with staged(directory) as tmp:
        unpack_folder(entry.blob, tmp)
    return directory


def latest(root: Path, config: Config, log: ServingLog | None = None) -> Path | None:
    """The newest snapshot under ``root`` that this ltrr and ``config`` can use, if any; with
    ``log``, the newest that folded that log (``same_log``)."""
    folder = root / SNAPSHOT_DIR
    if not folder.is_dir():
        return None
    wanted = fingerprint(config)
    for directory in sorted(folder.iterdir(), reverse=True):
        if directory.name.startswith(".") or not (directory / "manifest.json").is_file():
            continue
        manifest = orjson.loads((directory / "manifest.json").read_bytes())
        if (
            manifest.get("format_version") != FORMAT_VERSION
            or manifest.get("fingerprint") != wanted
        ):
            logger.info("snapshot %s was taken under other settings; not used", directory.name)
        elif log is not None and not same_log(manifest, log, root):
            logger.warning(
                "snapshot %s folded another log than %s; not used", directory.name, log.identity
            )
        else:
            return directory
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
        state.get("evidence", ()),  # snapshots before the click evidence hold none
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

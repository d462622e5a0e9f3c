"""A writer's live learning from its own acknowledged actions, batched, now or in the background.

``Engine.feedback_many`` stores a batch durably, then learns from the new actions in log
order: each action with the impression it answers and the request's actions up to it (what a
replay of the log would give ``Learner.on_action``). ``read_acted`` reads what that needs for
a batch, outside the engine's lock, with one impression read and one actions read per request,
not per action (decoding an impression costs more than the rest of learning from a click);
``learn_read`` applies it under the lock.

``BackgroundLearning`` runs the same fold on a thread of its own, for callers that want the
acknowledgement as soon as the batch is durable (``learn="background"``): the acknowledged
actions are learned a moment later, in acknowledgement order, under the engine's lock. An action
at or before the follower's position when its turn comes was already folded by a replay (a
writer's live learning never moves that position), so it is skipped, never learned twice.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from ltrr.errors import LtrrError, StorageError
from ltrr.learn.learner import Learner
from ltrr.log.base import ServingLog
from ltrr.log.events import Action, Impression
from ltrr.log.group_commit import Job

logger = logging.getLogger(__name__)

#: An acknowledged new action and its log position.
Acted = tuple[Action, int]
#: ``Engine.feedback_many(..., learn=)``: learn before returning, or on a thread after.
LEARN_MODES: tuple[str, ...] = ("now", "background")


@dataclass(frozen=True, slots=True)
class ToLearn:
    """An acknowledged action with what ``Learner.on_action`` needs, read from the log."""

    action: Action
    seq: int
    impression: Impression
    actions: list[Action]


def read_acted(log: ServingLog, acted: Sequence[Acted]) -> list[ToLearn]:
    """What learning from ``acted`` needs, read (outside the engine's lock) with one impression
    and one actions read per request; an action whose impression is gone is left out, as a
    replay leaves it out."""
    last_seq: dict[str, int] = {}
    for action, seq in acted:
        last_seq[action.request_id] = max(seq, last_seq.get(action.request_id, 0))
    impressions: dict[str, Impression | None] = {}
    through: dict[str, list[Action]] = {}
    out = []
    for action, seq in acted:
        rid = action.request_id
        if rid not in impressions:
            impressions[rid] = log.impression(rid)
            through[rid] = log.actions_through(rid, last_seq[rid])
        impression = impressions[rid]
        if impression is not None:
            out.append(ToLearn(action, seq, impression, _upto(through[rid], action, log, seq)))
    return out


def learn_read(learner: Learner, to_learn: Sequence[ToLearn], after: int) -> int:
    """Learn (under the engine's lock) from those of ``to_learn`` past log position ``after``
    (the follower's: a replay since folded the others); the number learned."""
    n = 0
    for x in to_learn:
        if x.seq > after:
            learner.on_action(x.impression, x.actions, x.action)
            n += 1
    return n


def _upto(actions: list[Action], action: Action, log: ServingLog, seq: int) -> list[Action]:
    """The request's actions through ``action`` (at position ``seq``), in log order: a prefix
    of the list read through the batch's last position on the request."""
    for i, a in enumerate(actions):
        if a.action_id == action.action_id:
            return actions[: i + 1]
    return log.actions_through(action.request_id, seq)  # not read with the batch: ask


class LiveLearning:
    """A writer engine's learning from its own acknowledged actions, now or in the background.

    Parameters
    ----------
    apply
        Learns from what ``read_acted`` read from the log (called with ``lock`` held): the
        engine's ``Learner.on_action`` for each, past the follower's position.
    lock
        The engine's lock: learning never runs beside a search or a replay.
    log
        The engine's log, ``None`` once it is closed.
    """

    def __init__(
        self,
        apply: Callable[[ServingLog, list[ToLearn]], None],
        lock: AbstractContextManager[object],
        log: Callable[[], ServingLog | None],
    ) -> None:
        self._apply = apply
        self._lock = lock
        self._log = log
        self._background: BackgroundLearning | None = None
        self._starting = threading.Lock()

    @staticmethod
    def check(mode: str) -> None:
        """Raise ``LtrrError`` unless ``mode`` is one of ``LEARN_MODES`` (before any write)."""
        if mode not in LEARN_MODES:
            raise LtrrError(f"learn must be one of {', '.join(LEARN_MODES)}, got {mode!r}")

    def learn(
        self, actions: Sequence[Action], stored: Sequence[bool], jobs: Sequence[Job[Any] | None],
        mode: str,
    ) -> None:  # fmt: skip
        """Learn from the newly stored ``actions`` (``stored``, ``jobs``: their receipt's)."""
        acted = [
            (action, job.seq)
            for action, new, job in zip(actions, stored, jobs, strict=True)
            if new and job is not None
        ]
        if mode == "now":
            self.wait()  # what was handed to the background first is learned first
            self._learn(acted)
        elif acted:
            with self._starting:
                if self._background is None:
                    self._background = BackgroundLearning(self._learn)
            self._background.hand(acted)

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until every action handed to the background is learned; ``False`` on
        timeout."""
        return self._background is None or self._background.wait(timeout_s)

    def _learn(self, acted: list[Acted]) -> None:
        log = self._log()
        if log is None:
            raise StorageError("the engine is closed")
        to_learn = read_acted(log, acted)  # outside the lock: searches wait for learning only
        with self._lock:
            self._apply(log, to_learn)


class BackgroundLearning:
    """A thread that learns from acknowledged actions, in the order they are handed over.

    ``learn`` learns from a slice of ``(action, position)`` (reading outside the engine's lock,
    applying under it); it is called with at most ``slice_size`` actions at a time, so that
    acknowledgements and searches wait for one slice at most, never for a whole backlog.
    """

    def __init__(self, learn: Callable[[list[Acted]], None], slice_size: int = 200) -> None:
        self._learn = learn
        self._slice_size = slice_size
        self._queue: deque[Acted] = deque()
        self._cond = threading.Condition()
        self._n_handed = 0
        self._n_done = 0
        self._thread = threading.Thread(target=self._run, name="ltrr-live-learning", daemon=True)
        self._thread.start()

    def hand(self, acted: list[Acted]) -> None:
        """Queue ``acted`` (already durable) for learning; returns at once."""
        with self._cond:
            self._queue.extend(acted)
            self._n_handed += len(acted)
            self._cond.notify_all()

    @property
    def n_behind(self) -> int:
        """Actions handed over and not learned yet."""
        with self._cond:
            return self._n_handed - self._n_done

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until every action handed over so far is learned; ``False`` on timeout."""
        with self._cond:
            target = self._n_handed
            return self._cond.wait_for(lambda: self._n_done >= target, timeout_s)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._queue))
                n = min(len(self._queue), self._slice_size)
                acted = [self._queue.popleft() for _ in range(n)]
            try:
                self._learn(acted)
            except StorageError:  # the engine closed: the log keeps them, a reopen replays
                logger.info("live learning stopped: %d actions left to the replay", len(acted))
            except Exception:  # learning must not die silently and leave waiters hanging
                logger.exception("live learning failed on %d actions", len(acted))
            with self._cond:
                self._n_done += len(acted)
                self._cond.notify_all()

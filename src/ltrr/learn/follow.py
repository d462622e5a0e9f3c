"""Learned state as a fold over the event log in log order, for one process or several.

Everything learned (memory statistics, exposure, the policy, the ranker, the learning stats)
is a function of the log's events applied in order. ``LogFollower`` applies them in *log order*
(each event's position, assigned by the database when it was committed) and remembers the last
position applied. A full replay is a follow from position 0; a service worker follows the log a
few times a second and so applies every event, its own and the other workers' alike, in the same
order as every other worker and as a replay: workers learn as one, and a restart (a replay)
rebuilds exactly what they had.

Only the log is shared between processes; there is no second channel whose order could
disagree with it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import MutableMapping
from contextlib import AbstractContextManager

from ltrr.learn.learner import Learner
from ltrr.log.base import ServingLog
from ltrr.log.events import Action, Impression, ImpressionHead
from ltrr.rank.base import Ranker
from ltrr.retrieve.base import Retriever
from ltrr.select.base import Policy

#: Most events applied under one hold of the engine's lock: a search that finds the lock held
#: waits for at most this many events of learning (64 acted-on events: about 20 ms at the
#: fold's 0.3 ms per lesson under load), and taking the lock again costs microseconds.
SLICE = 64


class LogFollower:
    """Applies a log's events after ``position`` to ``learner``, in log order."""

    def __init__(self, log: ServingLog, learner: Learner, cache_size: int = 50_000) -> None:
        self.log = log
        self.learner = learner
        self.position = 0
        self.cache_size = cache_size
        # Acted-on impressions by request id: a request's actions come in runs.
        self._impressions: dict[str, Impression] = {}
        # Recently acted-on requests' actions through ``_read_through``, the last event read
        # in order by the follow call holding ``_reader`` (``_actions_through``).
        self._actions: dict[str, list[Action]] = {}
        self._read_through = 0
        self._reader = threading.Lock()

    def reset(self) -> None:
        self.position = 0
        self._impressions.clear()

    def follow(self, page: int = 5000, lock: AbstractContextManager[object] | None = None) -> int:
        """Apply every committed event after ``position``; how many were applied.

        ``lock`` (the engine's) is held while a slice of ``SLICE`` events is applied, not while
        the log is read: what learning from an action needs (its impression, decoded, and the
        request's actions so far) is read first, so searches and acknowledgements wait for
        one slice of learning, never for the database or a whole page (a PostgreSQL log is a
        network round trip; 5000 events of a busy log are a second of learning). An event at
        or before ``position`` by the time the lock is held (a replay ran in between) is
        skipped.
        """
        guard = lock if lock is not None else contextlib.nullcontext()
        reading = self._reader.acquire(blocking=False)  # else another thread's call reads
        try:
            return self._follow(page, guard, reading)
        finally:
            if reading:
                self._reader.release()

    def _follow(self, page: int, guard: AbstractContextManager[object], reading: bool) -> int:
        n = 0
        while True:
            events = self.log.events_after(self.position, page)
            if reading and self._read_through != self.position:  # not where reading stopped
                self._actions.clear()
            for lo in range(0, len(events), SLICE):
                part = [
                    (seq, event, self._read(seq, event, reading))
                    for seq, event in events[lo : lo + SLICE]
                ]
                with guard:
                    for seq, event, read in part:
                        if seq <= self.position:
                            continue
                        self._apply(event, read)
                        self.position = seq
                        n += 1
            if len(events) < page:
                return n

    def apply(self, seq: int, event: ImpressionHead | Action) -> None:
        """Learn from the event at log position ``seq``."""
        self._apply(event, self._read(seq, event, reading=False))

    def _read(
        self, seq: int, event: ImpressionHead | Action, reading: bool
    ) -> tuple[Impression, list[Action]] | None:
        """What learning from an action needs: its impression and the request's actions
        through ``seq``; ``None`` for an impression, or an action whose impression is gone.
        ``reading``: this call reads the log in order from ``_read_through``."""
        if isinstance(event, ImpressionHead):
            if reading:
                self._read_through = seq
            return None
        if reading:
            actions = self._actions_through(seq, event)
        else:
            actions = self.log.actions_through(event.request_id, seq)
        impression = self._impression(event.request_id)
        return None if impression is None else (impression, actions)

    def _actions_through(self, seq: int, action: Action) -> list[Action]:
        """``log.actions_through(action.request_id, seq)`` for the action just read at ``seq``.

        Reading in order, the follower has seen every event since a request's list was read
        from the log, so the list grows by this action; the log is asked only for a request
        not in the cache. One query per action read the whole list again: quadratic in a
        request's actions, and 36% of a worker's fold under a stream of clicks (py-spy).
        """
        self._read_through = seq
        known = self._actions.get(action.request_id)
        if known is None:
            known = self._actions[action.request_id] = self.log.actions_through(
                action.request_id, seq
            )
            if len(self._actions) > self.cache_size:  # drop the oldest tenth
                for old in list(self._actions)[: self.cache_size // 10]:
                    self._actions.pop(old, None)
        elif known[-1].action_id != action.action_id:
            known.append(action)
        return list(known)  # the learner may keep it; the cached list grows

    def _apply(
        self, event: ImpressionHead | Action, read: tuple[Impression, list[Action]] | None
    ) -> None:
        if isinstance(event, ImpressionHead):
            self.learner.on_impression(event)
        elif read is not None:
            self.learner.on_action(read[0], read[1], event)

    def _impression(self, request_id: str) -> Impression | None:
        """The whole impression an action answers (recent ones kept: actions come in runs)."""
        found = self._impressions.get(request_id)
        if found is None:
            found = self.log.impression(request_id)
            if found is not None:
                self._impressions[request_id] = found
                if len(self._impressions) > self.cache_size:  # drop the oldest tenth
                    for old in list(self._impressions)[: self.cache_size // 10]:
                        self._impressions.pop(old, None)
        return found


def rebuild(
    follower: LogFollower,
    retrievers: MutableMapping[str, Retriever],
    policy: Policy,
    ranker: Ranker,
) -> int:
    """Forget everything learned (memory statistics, exposure, ``policy`` and ``ranker`` fresh)
    and fold the whole log again; the number of events applied."""
    memory = retrievers.get("memory")
    if memory is not None:
        memory.clear_observed()  # type: ignore[attr-defined]
    explore = retrievers.get("explore")
    if explore is not None:
        explore.clear_exposure()  # type: ignore[attr-defined]
    follower.learner.reset(policy, ranker)
    follower.reset()
    return follower.follow()

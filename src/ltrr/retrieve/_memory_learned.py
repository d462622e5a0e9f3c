"""What ``memory`` learns from actions: decayed reward statistics per query key.

``record`` adds an action's reward to the key's statistics, time-decayed with
``half_life_days`` by event timestamps (never the wall clock, so replaying the log rebuilds the
same state); ``withdraw`` takes a reward back. Per key the state is ``N``, the decayed absolute
reward of all actions, and ``R`` per entity, its decayed reward; the retriever turns them into
a score. Learned state, unlike the index: rebuilt by replaying the event log, saved beside the
index only as a snapshot. Kept apart from the index so that the two kinds of state stay apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ltrr.retrieve._index import decay


@dataclass(slots=True)
class KeyStats:
    """Observed statistics of one key, decayed to ``time_s``: N and R per entity."""

    time_s: float
    n: float = 0.0
    rewards: dict[str, float] = field(default_factory=dict)


class Learned:
    """``KeyStats`` per canonical key and ``clock_s``, the latest event time recorded.

    At most ``max_per_key`` entities are kept per key: past it, the weakest (smallest absolute
    reward) is dropped.
    """

    def __init__(self, half_life_days: float, max_per_key: int) -> None:
        self.half_life_days = half_life_days
        self.max_per_key = max_per_key
        self.keys: dict[str, KeyStats] = {}
        self.clock_s = -math.inf

    def record(self, key: str, entity_id: str, reward: float, event_time_s: float) -> bool:
        """Add ``reward`` for ``entity_id`` on ``key`` at ``event_time_s``; whether the key is new.

        Deterministic in its arguments and the previous state.
        """
        self.clock_s = max(self.clock_s, event_time_s)
        stats = self.keys.get(key)
        new = stats is None
        if stats is None:
            stats = self.keys[key] = KeyStats(event_time_s)
        weight = self._weight(stats, event_time_s)
        stats.n += abs(reward) * weight
        stats.rewards[entity_id] = stats.rewards.get(entity_id, 0.0) + reward * weight
        if len(stats.rewards) > self.max_per_key:
            weakest = min(stats.rewards.items(), key=lambda er: (abs(er[1]), er[0]))
            del stats.rewards[weakest[0]]
        return new

    def withdraw(self, key: str, entity_id: str, reward: float, event_time_s: float) -> None:
        """Take back ``reward`` of an earlier ``record``: the entity's and the key's total."""
        stats = self.keys.get(key) if key else None
        if stats is None or entity_id not in stats.rewards or not math.isfinite(reward):
            return
        weight = self._weight(stats, event_time_s)
        stats.n = max(stats.n - abs(reward) * weight, 0.0)
        stats.rewards[entity_id] -= reward * weight

    def clear(self) -> None:
        """Forget every statistic (before replaying the event log)."""
        self.keys.clear()
        self.clock_s = -math.inf

    def decay(self, elapsed_s: float) -> float:
        return decay(elapsed_s, self.half_life_days)

    def _weight(self, stats: KeyStats, event_time_s: float) -> float:
        """The weight of an event on ``stats``: a later event first decays ``stats`` to its time
        (weight 1), an earlier one is itself decayed to the time of ``stats``."""
        if event_time_s >= stats.time_s:
            f = self.decay(event_time_s - stats.time_s)
            if f != 1.0:
                stats.n *= f
                stats.rewards = {e: r * f for e, r in stats.rewards.items()}
            stats.time_s = event_time_s
            return 1.0
        return self.decay(stats.time_s - event_time_s)

    def to_doc(self) -> dict[str, Any]:
        """The statistics as one JSON document (keys sorted, so a save is reproducible)."""
        return {
            "clock_s": self.clock_s if math.isfinite(self.clock_s) else None,
            "keys": {
                key: {"time_s": s.time_s, "n": s.n, "rewards": s.rewards}
                for key, s in sorted(self.keys.items())
            },
        }

    def read_doc(self, doc: dict[str, Any]) -> None:
        """Replace the statistics with those of a ``to_doc`` document."""
        self.clock_s = -math.inf if doc["clock_s"] is None else float(doc["clock_s"])
        self.keys = {
            key: KeyStats(float(s["time_s"]), float(s["n"]), dict(s["rewards"]))
            for key, s in doc["keys"].items()
        }

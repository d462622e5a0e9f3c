"""What the service reports of its learning, folded from the very lessons the policy learns.

``GET /v1/stats`` (and the dashboard built on it) must show the truth of what the engine
learned, so these numbers are not a second computation over the log: ``Lessons`` hands every
plan lesson it teaches to ``LearningStats`` as it teaches the policy, live and in replay alike.
A lesson is a request whose wanted entity is known (EVALUATION.md's live *found*: among requests
with a positive action, was the acted-on entity among the candidates).

Per strategy: how many of those requests ran it, how many it found (the wanted entity within the
depth it ran to) and the reward of those finds. Per time bucket (event time, ``bucket_s``) and
intent: how many requests, how many found, and how often each strategy was in the plan: the
plan mix, which shows the policy changing its plans as it learns.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from ltrr.select.base import PlanFeedback


@dataclass(slots=True)
class StrategyStats:
    """One strategy over the taught requests whose plan ran it."""

    n_runs: int = 0
    n_found: int = 0
    reward: float = 0.0

    def to_dict(self) -> dict[str, float]:
        return {
            "n_runs": self.n_runs,
            "n_found": self.n_found,
            "found_rate": self.n_found / self.n_runs if self.n_runs else 0.0,
            "reward": self.reward,
            "mean_reward": self.reward / self.n_runs if self.n_runs else 0.0,
        }


@dataclass(slots=True)
class Bucket:
    """One (time bucket, intent) cell: requests, finds, and plans per strategy."""

    n_requests: int = 0
    n_found: int = 0
    strategy_to_n_planned: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    strategy_to_n_found: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class LearningStats:
    """Counters over taught plan lessons; ``on_lesson`` is called by ``Lessons``."""

    def __init__(self, bucket_s: float = 60.0, max_buckets: int = 1440) -> None:
        # One-minute buckets, the last day of them: a person watching the dashboard sees the
        # plans change within minutes, and the counters stay bounded.
        self.bucket_s = bucket_s
        self.max_buckets = max_buckets
        self.strategies: dict[str, StrategyStats] = defaultdict(StrategyStats)
        self.buckets: dict[float, dict[str, Bucket]] = defaultdict(lambda: defaultdict(Bucket))
        self.n_lessons = 0
        self.n_found = 0
        self._starts: list[float] = []  # the buckets' starts, a min-heap

    def on_lesson(self, feedback: PlanFeedback) -> None:
        ran = {s: d for s, d in feedback.plan.depths.items() if d > 0}
        found = {s for s in ran if feedback.found_rank.get(s) is not None}
        start = math.floor(feedback.event_time_s / self.bucket_s) * self.bucket_s
        if start not in self.buckets:
            if len(self.buckets) >= self.max_buckets:  # the oldest goes: a heap, not min()
                del self.buckets[heapq.heappop(self._starts)]
            heapq.heappush(self._starts, start)
        cell = self.buckets[start][feedback.request.query.intent]
        cell.n_requests += 1
        cell.n_found += bool(found)
        self.n_lessons += 1
        self.n_found += bool(found)
        for strategy in ran:
            stats = self.strategies[strategy]
            stats.n_runs += 1
            cell.strategy_to_n_planned[strategy] += 1
            if strategy in found:
                stats.n_found += 1
                stats.reward += feedback.reward
                cell.strategy_to_n_found[strategy] += 1

    def to_dict(self, last_buckets: int = 48) -> dict[str, object]:
        """JSON-ready: totals, per strategy, and the last ``last_buckets`` time buckets."""
        starts = sorted(self.buckets)[-last_buckets:]
        return {
            "n_lessons": self.n_lessons,
            "n_found": self.n_found,
            "found_rate": self.n_found / self.n_lessons if self.n_lessons else 0.0,
            "strategies": {s: v.to_dict() for s, v in sorted(self.strategies.items())},
            "bucket_s": self.bucket_s,
            "over_time": [
                {
                    "start_s": start,
                    "by_intent": {
                        intent: {
                            "n_requests": cell.n_requests,
                            "n_found": cell.n_found,
                            "found_rate": cell.n_found / cell.n_requests,
                            "plan_share": {
                                s: n / cell.n_requests
                                for s, n in sorted(cell.strategy_to_n_planned.items())
                            },
                            "found_by": dict(sorted(cell.strategy_to_n_found.items())),
                        }
                        for intent, cell in sorted(self.buckets[start].items())
                    },
                }
                for start in starts
            ],
        }

    def state(self) -> dict[str, object]:
        """Every counter, JSON-ready and exact (``from_state`` inverts it)."""
        return {
            "bucket_s": self.bucket_s,
            "n_lessons": self.n_lessons,
            "n_found": self.n_found,
            "strategies": {s: [v.n_runs, v.n_found, v.reward] for s, v in self.strategies.items()},
            "buckets": [
                [start, intent, c.n_requests, c.n_found,
                 dict(c.strategy_to_n_planned), dict(c.strategy_to_n_found)]
                for start, cells in self.buckets.items()
                for intent, c in cells.items()
            ],
        }  # fmt: skip

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> LearningStats:
        stats = cls(float(state["bucket_s"]))
        stats.n_lessons, stats.n_found = int(state["n_lessons"]), int(state["n_found"])
        for name, (n_runs, n_found, reward) in state["strategies"].items():
            stats.strategies[name] = StrategyStats(int(n_runs), int(n_found), float(reward))
        for start, intent, n_requests, n_found, planned, found in state["buckets"]:
            if float(start) not in stats.buckets:
                heapq.heappush(stats._starts, float(start))
            cell = stats.buckets[float(start)][intent]
            cell.n_requests, cell.n_found = int(n_requests), int(n_found)
            cell.strategy_to_n_planned.update({k: int(v) for k, v in planned.items()})
            cell.strategy_to_n_found.update({k: int(v) for k, v in found.items()})
        return stats

"""From actions to rewards, and from a request's actions to the item the user wanted.

The mapping lives in the config (``[log.rewards]``: action kind -> reward, and
``[log.min_value]``: kind -> the ``value`` an action needs before its reward counts, e.g. a
dwell shorter than 30 s earns nothing). The set of kinds in ``[log.rewards]`` is also the set
the log accepts.

The *wanted item* of a request (DESIGN.md, learning path) is the entity whose actions sum to
the largest positive reward; a request with no positive sum has no wanted item and teaches
the policy nothing (a skip alone says what was not wanted, not what was).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ltrr.config import Config
from ltrr.errors import ConfigError
from ltrr.log.events import Action, EventError
from ltrr.types import EntityId

#: ``[log.rewards]`` defaults: positive engagement 1, a skip -0.5, an explicit dislike -1.
DEFAULT_REWARDS: Mapping[str, float] = {
    "click": 1.0,
    "play": 1.0,
    "like": 1.0,
    "favourite": 1.0,
    "dwell": 1.0,
    "found": 1.0,
    "skip": -0.5,
    "dislike": -1.0,
}
#: ``[log.min_value]`` defaults: a dwell counts from 30 seconds.
DEFAULT_MIN_VALUE: Mapping[str, float] = {"dwell": 30.0}


@dataclass(frozen=True, slots=True)
class RewardMap:
    """Action kind -> reward, with optional per-kind value thresholds.

    >>> rewards = RewardMap({"click": 1.0, "skip": -0.5, "dwell": 1.0}, {"dwell": 30.0})
    >>> rewards.reward("click"), rewards.reward("dwell", 12.0), rewards.reward("dwell", 45.0)
    (1.0, 0.0, 1.0)
    """

    kind_to_reward: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_REWARDS))
    kind_to_min_value: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_MIN_VALUE))

    def __post_init__(self) -> None:
        if not self.kind_to_reward:
            raise ConfigError("[log.rewards] must name at least one action kind")
        for kind, reward in self.kind_to_reward.items():
            if not _finite(reward):
                raise ConfigError(f"log.rewards.{kind} must be a finite number, got {reward!r}")
        for kind, minimum in self.kind_to_min_value.items():
            if kind not in self.kind_to_reward:
                allowed = ", ".join(sorted(self.kind_to_reward))
                raise ConfigError(
                    f"log.min_value.{kind}: unknown action kind {kind!r}; allowed: {allowed}"
                )
            if not _finite(minimum) or minimum < 0:
                raise ConfigError(f"log.min_value.{kind} must be a number >= 0, got {minimum!r}")

    @property
    def kinds(self) -> frozenset[str]:
        """The action kinds the log accepts."""
        return frozenset(self.kind_to_reward)

    def reward(self, kind: str, value: float | None = None) -> float:
        """The reward of one action; 0 when its kind has a threshold that ``value`` misses."""
        minimum = self.kind_to_min_value.get(kind)
        if minimum is not None and (value is None or value < minimum):
            return 0.0
        return float(self.kind_to_reward[kind])

    def action_reward(self, action: Action) -> float:
        return self.reward(action.kind, action.value)

    def entity_rewards(self, actions: Iterable[Action]) -> dict[EntityId, float]:
        """Summed reward per entity, in order of each entity's first action."""
        out: dict[EntityId, float] = {}
        for action in actions:
            out[action.entity_id] = out.get(action.entity_id, 0.0) + self.action_reward(action)
        return out

    def wanted_item(self, actions: Iterable[Action]) -> EntityId | None:
        """The entity of one request with the largest positive summed reward, else ``None``.

        Ties go to the entity acted on first (by event time, then input order).

        >>> a = [Action(action_id="1", request_id="r", user_id=None, entity_id="x",
        ...             kind="skip", event_time_s=1.0),
        ...      Action(action_id="2", request_id="r", user_id=None, entity_id="y",
        ...             kind="click", event_time_s=2.0)]
        >>> RewardMap().wanted_item(a)
        'y'
        >>> RewardMap().wanted_item(a[:1]) is None
        True
        """
        ordered = sorted(actions, key=lambda a: a.event_time_s)
        if len({a.request_id for a in ordered}) > 1:
            raise EventError("request_id", "wanted_item needs the actions of one request")
        best: EntityId | None = None
        best_reward = 0.0
        for entity_id, reward in self.entity_rewards(ordered).items():
            if reward > best_reward:
                best, best_reward = entity_id, reward
        return best

    @classmethod
    def from_config(cls, config: Config) -> RewardMap:
        """``[log.rewards]`` and ``[log.min_value]``; the defaults above where they are absent."""
        try:
            rewards = dict(config.section("log.rewards"))
        except ConfigError:
            rewards = dict(DEFAULT_REWARDS)
        try:
            minimum = dict(config.section("log.min_value"))
        except ConfigError:
            minimum = {k: v for k, v in DEFAULT_MIN_VALUE.items() if k in rewards}
        return cls(rewards, minimum)


def wanted_item(actions: Iterable[Action], rewards: RewardMap | None = None) -> EntityId | None:
    """``RewardMap.wanted_item`` under ``rewards`` (the defaults when ``None``)."""
    return (rewards or RewardMap()).wanted_item(actions)


def _finite(x: object) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)

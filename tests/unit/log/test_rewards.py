"""Reward mapping from action kinds, and the wanted item of a request."""

from __future__ import annotations

import doctest
import math
import tomllib

import pytest

import ltrr.log.rewards
from ltrr.config import Config
from ltrr.errors import ConfigError
from ltrr.log.events import Action, EventError
from ltrr.log.params import LogParams, log_params
from ltrr.log.rewards import DEFAULT_REWARDS, RewardMap, wanted_item
from ltrr.types import EntityId


def _a(entity: str, kind: str, t: float, value: float | None = None, req: str = "r") -> Action:
    return Action(
        action_id=f"{entity}-{kind}-{t}",
        request_id=req,
        user_id=None,
        entity_id=EntityId(entity),
        kind=kind,
        value=value,
        event_time_s=t,
    )


def test_doctests() -> None:
    assert doctest.testmod(ltrr.log.rewards).failed == 0


def test_default_rewards() -> None:
    rewards = RewardMap()
    assert rewards.kinds == frozenset(DEFAULT_REWARDS)
    assert rewards.reward("click") == 1.0
    assert rewards.reward("skip") == -0.5
    assert rewards.reward("dwell", None) == 0.0
    assert rewards.reward("dwell", 29.9) == 0.0
    assert rewards.reward("dwell", 30.0) == 1.0


def test_wanted_item_is_the_largest_positive_sum() -> None:
    actions = [_a("x", "click", 1), _a("y", "click", 2), _a("y", "like", 3)]
    assert wanted_item(actions) == "y"


def test_wanted_item_ties_go_to_the_earliest() -> None:
    # given out of event order: y's click happened first
    assert wanted_item([_a("x", "click", 5), _a("y", "click", 2)]) == "y"


def test_negative_or_thresholded_actions_teach_nothing() -> None:
    assert wanted_item([]) is None
    assert wanted_item([_a("x", "skip", 1)]) is None
    assert wanted_item([_a("x", "dwell", 1, value=3.0)]) is None
    # a click cancelled by two skips on the same entity sums to 0: not wanted
    assert wanted_item([_a("x", "click", 1), _a("x", "skip", 2), _a("x", "skip", 3)]) is None
    assert wanted_item([_a("x", "click", 1), _a("x", "skip", 2)]) == "x"


def test_wanted_item_needs_one_request() -> None:
    with pytest.raises(EventError, match="request_id"):
        wanted_item([_a("x", "click", 1, req="r1"), _a("y", "click", 2, req="r2")])


def test_from_config_reads_both_sections() -> None:
    config = Config(
        {"log": {"rewards": {"click": 1.0, "purchase": 5.0, "skip": -1.0}, "min_value": {}}}
    )
    rewards = RewardMap.from_config(config)
    assert rewards.kinds == {"click", "purchase", "skip"}
    assert rewards.reward("purchase") == 5.0
    assert wanted_item([_a("x", "click", 1), _a("y", "purchase", 2)], rewards) == "y"


def test_from_config_falls_back_to_defaults() -> None:
    assert RewardMap.from_config(Config({})) == RewardMap()
    only_rewards = RewardMap.from_config(Config({"log": {"rewards": {"click": 1.0}}}))
    assert only_rewards.kind_to_min_value == {}


@pytest.mark.parametrize(
    ("rewards", "minimum", "match"),
    [
        ({}, {}, "at least one"),
        ({"click": math.nan}, {}, "log.rewards.click"),
        ({"click": "1"}, {}, "log.rewards.click"),
        ({"click": True}, {}, "log.rewards.click"),
        ({"click": 1.0}, {"dwell": 30.0}, "unknown action kind 'dwell'; allowed: click"),
        ({"dwell": 1.0}, {"dwell": -1.0}, "log.min_value.dwell"),
    ],
)
def test_bad_reward_settings(
    rewards: dict[str, object], minimum: dict[str, object], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        RewardMap(rewards, minimum)  # type: ignore[arg-type]


#: The section proposed for defaults.toml (kept here until it is pasted there).
LOG_TOML = """
[log]
# Where the event log lives; "" = the data directory's own SQLite database.
url = ""
# Longest an impression waits in the group-commit queue before its batch is committed, in ms.
# An action or a flush commits at once; a burst of searches shares one commit.
flush_interval_ms = 50.0
# Most events written in one transaction.
max_batch = 1000
# Most impressions queued; log_impression blocks beyond (back-pressure, bounded memory).
max_queue = 100000
# SQLite synchronous level of the log's connection (WAL). FULL: an acknowledged action survives
# power loss (one fsync per group commit); NORMAL: a process crash only; OFF: simulations.
synchronous = "FULL"
# Longest accepted request, action, user, session and entity id, in characters.
max_id_chars = 512
# How long an action naming an unknown request waits for its impression to be committed by
# another process appending to the same log (service workers), in ms, before it is refused.
foreign_wait_ms = 2000.0

[log.rewards]
# Reward per action kind; feedback may use these kinds only. A request's wanted item is the
# entity whose actions sum to the largest positive reward; no positive sum teaches nothing.
click = 1.0
play = 1.0
like = 1.0
favourite = 1.0
# Time spent on an item (value = seconds); rewarded from log.min_value.dwell on.
dwell = 1.0
# The user reached the item another way for this request (a retrieval miss if none retrieved it).
found = 1.0
# Negative feedback: a skipped result, an explicit dislike.
skip = -0.5
dislike = -1.0

[log.min_value]
# Kinds rewarded only when the action's value reaches this; their actions must carry a value.
dwell = 30.0
"""


def test_proposed_toml_equals_the_dataclass_defaults() -> None:
    config = Config(tomllib.loads(LOG_TOML))
    assert RewardMap.from_config(config) == RewardMap()
    assert log_params(config) == LogParams()

"""Any mix of impressions and (duplicated) actions: each action id is stored once, the first
call wins, and state rebuilt by replaying the log equals the state learned live."""

from __future__ import annotations

import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ltrr.log.events import Action, Impression
from ltrr.log.params import LogParams
from ltrr.log.rewards import RewardMap
from ltrr.log.sqlite_log import SqliteEventLog
from ltrr.select.base import Plan
from ltrr.types import Context, EntityId

PLAN = Plan(depths={"lexical": 3}, greedy={"lexical": 3})
ENTITIES = ["e0", "e1", "e2", "e3"]
REWARDS = RewardMap()
PARAMS = LogParams(synchronous="OFF", flush_interval_ms=1.0)

# one step: ("imp", request index, time) or ("act", action id index, request index, entity,
# kind, time); action ids come from a small pool so duplicates are frequent.
impressions = st.tuples(st.just("imp"), st.integers(0, 3), st.floats(0, 100))
actions = st.tuples(
    st.just("act"),
    st.integers(0, 5),
    st.integers(0, 3),
    st.sampled_from(ENTITIES),
    st.sampled_from(["click", "skip", "like", "dwell"]),
    st.floats(0, 100),
)


def _impression(request: int, time_s: float) -> Impression:
    return Impression(
        request_id=f"r{request}",
        user_id=None,
        session_id=None,
        query="q",
        context=Context(),
        plan=PLAN,
        strategy_results={"lexical": [(EntityId(e), 1.0) for e in ENTITIES[:3]]},
        shown=(EntityId("e0"),),
        catalog_version=0,
        event_time_s=time_s,
    )


LiveState = dict[tuple[str, str], float]


def _learn(state: LiveState, action: Action) -> None:
    """A stand-in learner: summed reward per (request, entity)."""
    key = (action.request_id, action.entity_id)
    state[key] = state.get(key, 0.0) + REWARDS.action_reward(action)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(impressions, actions), max_size=30))
def test_duplicate_action_ids_store_once_and_replay_equals_live(
    steps: list[tuple[Any, ...]],
) -> None:
    live: LiveState = {}
    first: dict[str, Action] = {}
    logged: set[str] = set()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "ltrr.sqlite"
        with SqliteEventLog(db, is_known_entity=set(ENTITIES), params=PARAMS) as log:
            for step in steps:
                if step[0] == "imp":
                    _, request, time_s = step
                    log.log_impression(_impression(int(request), float(time_s)))
                    logged.add(f"r{request}")
                    continue
                _, aid, request, entity, kind, time_s = step
                action = Action(
                    action_id=f"a{aid}",
                    request_id=f"r{request}",
                    user_id=None,
                    entity_id=EntityId(str(entity)),
                    kind=str(kind),
                    value=45.0 if kind == "dwell" else None,
                    event_time_s=float(time_s),
                )
                if action.request_id not in logged:
                    continue  # unknown requests are the unit tests' business
                stored = log.log_action(action)
                assert stored == (action.action_id not in first)
                if stored:
                    first[action.action_id] = action
                    _learn(live, action)
            stats = log.stats()
            assert stats.n_actions == len(first)
            replayed: LiveState = {}
            seen_requests: set[str] = set()
            n_actions: defaultdict[str, int] = defaultdict(int)
            for event in log.replay():
                if isinstance(event, Impression):
                    seen_requests.add(event.request_id)
                else:
                    assert event.request_id in seen_requests  # never before its impression
                    assert event == first[event.action_id]
                    n_actions[event.action_id] += 1
                    _learn(replayed, event)
    assert all(n == 1 for n in n_actions.values())
    assert replayed.keys() == live.keys()
    for key, reward in live.items():
        assert abs(replayed[key] - reward) < 1e-9

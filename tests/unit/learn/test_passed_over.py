"""Skip-above-click evidence: which shown entities a positive action says were passed over."""

from __future__ import annotations

from ltrr.learn.learner import passed_over
from ltrr.log.events import Action
from ltrr.log.rewards import RewardMap
from ltrr.types import EntityId

SHOWN = [EntityId(e) for e in ("a", "b", "c", "d", "e")]
REWARDS = RewardMap()


def _act(entity: str, n: int, kind: str = "click") -> Action:
    return Action(
        action_id=f"x{n}",
        request_id="r1",
        user_id="u1",
        entity_id=EntityId(entity),
        kind=kind,
        event_time_s=float(n),
    )


def test_a_click_passes_over_everything_above_it() -> None:
    assert passed_over(SHOWN, [], _act("c", 1), REWARDS) == (["a", "b"], False)


def test_a_second_click_passes_over_only_what_lies_between() -> None:
    first = _act("b", 1)
    assert passed_over(SHOWN, [first], _act("e", 2), REWARDS) == (["c", "d"], False)


def test_a_click_on_the_top_result_or_off_the_page_passes_over_nothing() -> None:
    assert passed_over(SHOWN, [], _act("a", 1), REWARDS) == ([], False)
    assert passed_over(SHOWN, [], _act("zz", 1, kind="found"), REWARDS) == ([], False)


def test_an_out_of_order_click_takes_its_own_skip_back() -> None:
    # "d" first: a, b, c counted as passed over; then "b": its skip is withdrawn, nothing new
    assert passed_over(SHOWN, [_act("d", 1)], _act("b", 2), REWARDS) == ([], True)
    # a repeated positive action on the same entity is no new evidence either way
    assert passed_over(SHOWN, [_act("d", 1)], _act("d", 2, kind="play"), REWARDS) == ([], False)


def test_non_positive_earlier_actions_do_not_move_the_mark() -> None:
    skip = _act("c", 1, kind="skip")
    assert passed_over(SHOWN, [skip], _act("d", 2), REWARDS) == (["a", "b", "c"], False)

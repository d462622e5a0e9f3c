"""Off-policy estimators: hand-computed values, bad inputs, and coverage of a known truth.

The plan-level tests run a synthetic world whose true found-rates are known in closed form:
two query classes, each search easy or hard, and per (class, difficulty, strategy) a known
distribution of the wanted item's rank over the buckets of the depth grid. An exploring logger
(greedy plan per class, explicit epsilon mixture) writes 10,000-search logs; the estimates
of fixed and policy targets must cover the truth.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import orjson
import pytest
import typer
from typer.testing import CliRunner

from ltrr.cli import ope as ope_cli
from ltrr.config import Config, load_config
from ltrr.engine import Engine
from ltrr.errors import ConfigError, PlanError, UnknownStrategyError
from ltrr.log.events import Action
from ltrr.ope.clicks import relevance
from ltrr.ope.estimators import (
    OpeError,
    OpeParams,
    effective_sample_size,
    estimate_from_weights,
    estimate_policy_value,
    ope_params,
    ratio_estimates,
    resample_counts,
)
from ltrr.ope.plans import (
    LoggedSearch,
    logged_searches_from,
    parse_target,
    plan_ope,
    query_groups,
)
from ltrr.ope.reward_model import cross_fit_action_means
from ltrr.select.base import Plan, PlanFeedback, PlanRequest, plan_from_dict
from ltrr.storage.datadir import DataDir
from ltrr.types import Context, Entity, EntityId
from ltrr.understand.base import plain_query

FAST = OpeParams(n_bootstrap=200, seed=3)


# --- estimators on hand-computed data ---------------------------------------------------------


def _two_arm_log() -> dict[str, np.ndarray]:
    # 4 rounds, 2 actions, 1 slot; the target always plays action 0.
    return {
        "reward": np.array([1.0, 0.0, 1.0, 0.0]),
        "action": np.array([0, 0, 1, 1]),
        "pscore": np.array([0.5, 0.25, 0.5, 0.75]),
        "action_dist": np.tile(np.array([[1.0], [0.0]]), (4, 1, 1)),
    }


def test_ips_and_snips_by_hand() -> None:
    log = _two_arm_log()
    # iw = [2, 4, 0, 0]: IPS = (2 * 1 + 4 * 0) / 4, SNIPS = 2 / (2 + 4)
    est = estimate_policy_value(**log, params=FAST)
    assert est["ips"].value == pytest.approx(0.5)
    assert est["snips"].value == pytest.approx(1 / 3)
    assert est["ips"].ess == pytest.approx(36 / 20)


def test_dr_by_hand() -> None:
    log = _two_arm_log()
    q = np.tile(np.array([[0.4], [0.9]]), (4, 1, 1))
    # per round: q_target = 0.4; rounds 0, 1 add iw * (r - 0.4) = 2 * 0.6 and 4 * -0.4
    expected = (0.4 + 1.2 + 0.4 - 1.6 + 0.4 + 0.4) / 4
    est = estimate_policy_value(**log, estimated_rewards_by_reg_model=q, params=FAST)
    assert est["dr"].value == pytest.approx(expected)


def test_positions_index_the_slot_of_each_round() -> None:
    # 2 actions, 2 slots: the target plays action 1 in slot 0 and action 0 in slot 1.
    dist = np.tile(np.array([[0.0, 1.0], [1.0, 0.0]]), (3, 1, 1))
    est = estimate_policy_value(
        reward=[1.0, 1.0, 1.0],
        action=np.array([1, 1, 0]),
        pscore=[0.5, 0.5, 0.5],
        action_dist=dist,
        position=np.array([0, 1, 1]),
        params=FAST,
    )
    assert est["ips"].value == pytest.approx((2 + 0 + 2) / 3)


def test_effective_sample_size_is_kish() -> None:
    assert effective_sample_size([1.0, 1.0, 1.0]) == pytest.approx(3.0)
    assert effective_sample_size([2.0, 2.0, 0.0, 0.0]) == pytest.approx(2.0)
    assert effective_sample_size([0.0, 0.0]) == 0.0


def test_interval_holds_estimate_and_is_reproducible() -> None:
    rng = np.random.default_rng(0)
    reward, iw = rng.random(500) < 0.3, rng.exponential(size=500)
    a = estimate_from_weights(reward, iw, params=OpeParams(n_bootstrap=300, seed=1))
    b = estimate_from_weights(reward, iw, params=OpeParams(n_bootstrap=300, seed=1))
    c = estimate_from_weights(reward, iw, params=OpeParams(n_bootstrap=300, seed=2))
    for name in ("ips", "snips"):
        assert a[name].low < a[name].value < a[name].high
        assert a[name] == b[name]
        assert a[name].low != c[name].low
    # the bootstrap SE of a mean is close to the textbook one
    on_policy = estimate_from_weights(reward, np.ones(500), params=OpeParams(n_bootstrap=2000))
    p = reward.mean()
    assert on_policy["ips"].se == pytest.approx(math.sqrt(p * (1 - p) / 500), rel=0.1)


def test_no_positive_weight_gives_nan_snips() -> None:
    out = estimate_from_weights([1.0, 0.0], [0.0, 0.0], params=FAST)
    assert out["ips"].value == 0.0
    assert math.isnan(out["snips"].value) and math.isnan(out["snips"].low)
    assert out["snips"].ess == 0.0


def test_ips_is_unbiased_under_a_uniform_logger() -> None:
    """OBP-shaped log: 5 items, 2 slots, uniform logger, known click rates per (item, slot)."""
    rng = np.random.default_rng(11)
    n_rounds, n_actions, len_list = 100_000, 5, 2
    ctr = np.array([[0.1, 0.05], [0.3, 0.2], [0.2, 0.1], [0.05, 0.02], [0.5, 0.3]])
    target = np.array([[0.1, 0.6], [0.5, 0.1], [0.1, 0.1], [0.2, 0.1], [0.1, 0.1]])
    action = rng.integers(0, n_actions, n_rounds)
    position = rng.integers(0, len_list, n_rounds)
    reward = (rng.random(n_rounds) < ctr[action, position]).astype(float)
    dist = np.broadcast_to(target, (n_rounds, n_actions, len_list))
    q = cross_fit_action_means(action, position, reward, n_actions, len_list)
    truth = float((target * ctr).sum(axis=0).mean())  # slots are uniform
    out = estimate_policy_value(
        reward, action, np.full(n_rounds, 1 / n_actions), dist, q, position, FAST
    )
    for name in ("ips", "snips", "dr"):
        assert abs(out[name].value - truth) < 3 * out[name].se, name
        assert out[name].low < truth < out[name].high, name


def test_cross_fit_means_shrink_toward_the_slot_mean() -> None:
    action = np.array([0, 0, 1, 1])
    position = np.array([0, 0, 0, 0])
    reward = np.array([1.0, 1.0, 0.0, 0.0])
    q = cross_fit_action_means(action, position, reward, 3, 1, OpeParams(n_folds=1))
    # slot mean (2 + 1 * 0.5) / (4 + 1); cells shrink toward it by 10 pseudo-rounds
    slot = 2.5 / 5
    assert q[0, 0, 0] == pytest.approx((2 + 10 * slot) / 12)
    assert q[0, 2, 0] == pytest.approx(slot)  # never shown: the prior


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"pscore": np.array([0.5, 0.0, 0.5, 0.75])}, "pscore must be in"),
        ({"pscore": np.array([0.5, 1.5, 0.5, 0.75])}, "pscore must be in"),
        ({"pscore": np.array([0.5, 0.5])}, "pscore has 2 rounds"),
        ({"reward": np.array([1.0, np.nan, 0.0, 0.0])}, "reward must be finite"),
        ({"reward": np.zeros((4, 1))}, "reward must have shape"),
        ({"reward": np.zeros(0)}, "reward is empty"),
        ({"action": np.array([0, 0, 2, 1])}, "action must be in"),
        ({"action": np.array([0.0, 0.0, 1.0, 1.0])}, "action must be integers"),
        ({"action_dist": np.ones((4, 2))}, "action_dist must have shape"),
        ({"action_dist": np.full((4, 2, 1), 0.7)}, "must sum to 1"),
        ({"position": np.array([0, 0, 1, 0])}, "position must be in"),
    ],
)
def test_bad_inputs_are_named(change: dict[str, np.ndarray], message: str) -> None:
    log = {**_two_arm_log(), **change}
    with pytest.raises(OpeError, match=message):
        estimate_policy_value(**log, params=FAST)


def test_negative_weights_and_half_a_reward_model_are_rejected() -> None:
    with pytest.raises(OpeError, match="iw must be >= 0"):
        estimate_from_weights([1.0], [-1.0], params=FAST)
    with pytest.raises(OpeError, match="both q_logged and q_target"):
        estimate_from_weights([1.0], [1.0], q_logged=[0.5], params=FAST)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"n_bootstrap": 1}, "n_bootstrap"),
        ({"alpha": 1.0}, "alpha"),
        ({"n_folds": 0}, "n_folds"),
        ({"prior_weight": -1.0}, "prior_weight"),
        ({"outcome": "clicked"}, "outcome"),
        ({"relevance_threshold": 1.0}, "relevance_threshold"),
        ({"bootstrap_unit": "user"}, "bootstrap_unit"),
    ],
)
def test_bad_params_raise_config_error(values: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        OpeParams(**values)  # type: ignore[arg-type]


def test_params_come_from_config_or_default() -> None:
    assert ope_params(Config({})) == OpeParams()
    section = {
        "n_bootstrap": 50, "alpha": 0.1, "seed": 4, "n_folds": 3, "prior_weight": 2.0,
        "outcome": "wanted", "relevance_threshold": 0.3, "bootstrap_unit": "search",
    }  # fmt: skip
    expected = OpeParams(50, 0.1, 4, 3, 2.0, "wanted", 0.3, "search")
    assert ope_params(Config({"ope": section})) == expected


# --- plans: targets, (de)serialisation, exact weights ---------------------------------------

EXPLORE = {
    "lexical": {0: 0.3, 10: 0.2, 25: 0.2, 50: 0.15, 100: 0.15},
    "dense": {0: 0.3, 10: 0.2, 25: 0.2, 50: 0.15, 100: 0.15},
    "fuzzy": {0: 0.5, 10: 0.25, 25: 0.25},
}
EPSILON = 0.3


@pytest.mark.parametrize(
    ("spec", "depths"),
    [
        ("lexical@50", {"lexical": 50}),
        ("lexical@25+dense@25", {"lexical": 25, "dense": 25}),
        (" lexical@10 + fuzzy@25 ", {"lexical": 10, "fuzzy": 25}),
        ("hybrid@100", {"lexical": 100, "dense": 100}),
    ],
)
def test_parse_target(spec: str, depths: dict[str, int]) -> None:
    assert parse_target(spec) == depths


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ("lexical", ConfigError),
        ("lexical@0", ConfigError),
        ("lexical@-5", ConfigError),
        ("lexical@50+lexical@10", ConfigError),
        ("", ConfigError),
        ("hybrid@50+dense@10", UnknownStrategyError),
        ("bm42@10", UnknownStrategyError),
    ],
)
def test_parse_target_rejects(spec: str, error: type[Exception]) -> None:
    with pytest.raises(error, match=repr(spec).replace("+", r"\+")):
        parse_target(spec)


def test_parse_target_reads_union_from_select() -> None:
    select = {"strategies": ["lexical", "dense"], "depths": [10, 50], "budget": 60}
    assert parse_target("union", Config({"select": select})) == {"lexical": 50, "dense": 50}


def test_plan_round_trips_through_its_dict() -> None:
    plan = Plan(
        depths={"lexical": 25, "dense": 0},
        greedy={"lexical": 100},
        epsilon=EPSILON,
        explore=EXPLORE,
        policy="ltrr",
    )
    back = plan_from_dict(plan.to_dict())
    assert dict(back.depths) == dict(plan.depths) and dict(back.greedy) == dict(plan.greedy)
    assert {s: dict(d) for s, d in back.explore.items()} == EXPLORE
    assert back.probability == pytest.approx(plan.probability)
    assert back.policy == "ltrr" and back.epsilon == EPSILON


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"depths": None}, "plan.depths must be an object"),
        ({"depths": {"lexical": "ten"}}, "plan.depths.lexical must be an integer"),
        ({"depths": {"lexical": 1.5}}, "must be an integer"),
        ({"epsilon": 1.5}, "epsilon must be in"),
        ({"explore": {"lexical": {"0": 0.5}}}, "must sum to 1"),
        ({"explore": {"lexical": {"x": 1.0}}}, "key must be an integer"),
        ({"probability": 0.9}, "inconsistent"),
    ],
)
def test_bad_plan_dicts_are_named(change: dict[str, object], message: str) -> None:
    good = Plan(depths={"lexical": 10}, greedy={"lexical": 10}).to_dict()
    with pytest.raises(PlanError, match=message):
        plan_from_dict({**good, **change})


def _record(rid: str, plan: Plan, lists: dict[str, list[str]], wanted: str | None) -> dict:
    return {
        "request_id": rid,
        "plan": plan.to_dict(),
        "strategy_results": {
            s: [[e, 1.0 / (r + 1)] for r, e in enumerate(v)] for s, v in lists.items()
        },
        "wanted": wanted,
    }


def test_logged_searches_from_records() -> None:
    plan = Plan(depths={"lexical": 2}, greedy={"lexical": 2})
    columns = {"lexical": {"ids": ["a", "b"], "scores": [2.0, 1.0]}}
    records = [
        _record("r1", plan, {"lexical": ["a", "b"]}, "b"),
        {**_record("r2", plan, {"lexical": ["c", "d"]}, None), "query": "Tayler  Swift"},
        {**_record("r3", plan, {}, "a"), "strategy_results": columns},
    ]
    first, second, third = logged_searches_from(records)
    assert third.strategy_results == first.strategy_results
    assert first.strategy_results == {"lexical": ("a", "b")} and first.wanted == "b"
    assert first.request is None
    assert second.wanted is None and second.request is not None
    assert second.request.query.text == "tayler swift"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"request_id": ""}, "request_id"),
        ({"plan": [1]}, "must be objects"),
        ({"wanted": 7}, "wanted must be"),
        ({"strategy_results": {"lexical": "a"}}, "strategy_results.lexical"),
        ({"plan": {"depths": {"lexical": -1}}}, r"record 1 \(request r1\): plan.depths"),
    ],
)
def test_bad_records_are_named(change: dict[str, object], message: str) -> None:
    record = _record("r1", Plan(depths={"lexical": 1}, greedy={"lexical": 1}), {}, "a")
    with pytest.raises(OpeError, match=message):
        logged_searches_from([{**record, **change}])


def test_weights_are_exactly_unbiased_over_every_plan() -> None:
    """Sum over all plans the logger can draw: P(plan) * covered / P(cover) * found = found."""
    greedy = {"dense": 50, "fuzzy": 25}
    lists = {
        "lexical": [f"l{i}" for i in range(100)],
        "dense": [f"d{i}" for i in range(100)],
        "fuzzy": [f"f{i}" for i in range(25)],
    }
    lists["lexical"][17] = "w"  # rank 18: found by lexical@25, not by lexical@10
    target = {"lexical": 25, "dense": 10}
    total = 0.0
    for lex, den, fuz in itertools.product(*(EXPLORE[s] for s in ("lexical", "dense", "fuzzy"))):
        depths = {"lexical": lex, "dense": den, "fuzzy": fuz}
        plan = Plan(depths=depths, greedy=greedy, epsilon=EPSILON, explore=EXPLORE)
        trimmed = {s: lists[s][:d] for s, d in depths.items()}
        search = LoggedSearch("r", plan, trimmed, EntityId("w"))
        out = plan_ope([search], target, FAST)
        total += plan.probability * out["ips"].value
    assert total == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("outcome", "message"),
    [("wanted", "none of 2 logged searches has a wanted item"), ("relevant", "judged relevant")],
)
def test_searches_without_evidence_are_left_out(outcome: str, message: str) -> None:
    """Without their query logged, silent searches have no evidence under either outcome."""
    plan = Plan(depths={"lexical": 10}, greedy={"lexical": 10})
    hit = LoggedSearch("a", plan, {"lexical": ("w",)}, EntityId("w"))
    silent = LoggedSearch("b", plan, {"lexical": ("x",)}, None)
    params = dataclasses.replace(FAST, outcome=outcome)
    out = plan_ope([hit, silent, silent], {"lexical": 10}, params)
    assert out["ips"].value == 1.0 and out["ips"].n_rounds == 1
    with pytest.raises(OpeError, match=message):
        plan_ope([silent, silent], {"lexical": 10}, params)


def _search(
    rid: str, query: str, shown: tuple[str, ...], acted: tuple[str, ...], lexical: tuple[str, ...]
) -> LoggedSearch:
    plan = Plan(depths={"lexical": 10}, greedy={"lexical": 10})
    request = PlanRequest(rid, plain_query(query), Context(), budget=100)
    wanted = EntityId(acted[0]) if acted else None
    ids = tuple(EntityId(e) for e in shown)
    positives = tuple(EntityId(e) for e in acted)
    return LoggedSearch(rid, plan, {"lexical": lexical}, wanted, request, ids, positives)


def test_the_relevant_outcome_counts_silent_searches_of_a_known_query() -> None:
    """A search without an action still has an outcome once its query's relevance is known,
    and a noise click does not make the target's hit."""
    log = [_search(f"c{i}", "q", ("r", "n"), ("r",), ("r", "n")) for i in range(18)]
    log += [_search(f"m{i}", "q", ("r", "n"), (), ("n", "x")) for i in range(2)]  # skipped
    log += [_search("noise", "q", ("n", "r"), ("n",), ("n", "x"))]  # target misses "r"
    log += [_search(f"s{i}", "q", ("n", "r"), (), ("n", "x")) for i in range(19)]  # silent
    relevant = plan_ope(log, {"lexical": 10}, FAST)["ips"]
    assert relevant.n_rounds == 40 and relevant.value == pytest.approx(0.45, abs=0.01)
    wanted = plan_ope(log, {"lexical": 10}, dataclasses.replace(FAST, outcome="wanted"))["ips"]
    assert wanted.n_rounds == 19 and wanted.value == 1.0


def test_unjudged_searches_widen_the_interval_to_what_they_could_be() -> None:
    """A quarter of the searches are of a query nobody ever clicked for: the target's
    found-rate on them is unknown, so the interval spans every value it could take overall
    (0.75 if the target finds nothing there, 1 if it finds everything), while the value is
    the rate over the judged searches."""
    log = [_search(f"c{i}", "q", ("r", "n"), ("r",), ("r", "n")) for i in range(30)]
    log += [_search(f"u{i}", "u", ("a", "b"), (), ("a", "b")) for i in range(10)]
    for name, e in plan_ope(log, {"lexical": 10}, FAST).items():
        assert e.value == pytest.approx(1.0, abs=1e-3), name
        assert e.low == pytest.approx(0.75, abs=1e-3) and e.high == pytest.approx(1.0), name


def test_a_replicate_carries_a_fitted_rewards_uncertainty_into_the_interval() -> None:
    """Rewards that are a model's expectation: when one uncertain judgement decides every
    round, an interval from replicates that redraw it spans what that judgement allows, not
    the rounds' sampling alone; the value is still the expectation's."""
    n = 2000
    reward, iw = np.full(n, 0.5), np.ones(n)

    def shared_coin(rng: np.random.Generator) -> np.ndarray:
        counts = resample_counts(rng, np.arange(n), n)
        return ratio_estimates(np.full(n, float(rng.random() < 0.5)), iw, None, counts)

    fixed = estimate_from_weights(reward, iw, params=FAST)["snips"]
    redrawn = estimate_from_weights(reward, iw, params=FAST, replicate=shared_coin)["snips"]
    assert fixed.value == redrawn.value == 0.5 and fixed.high - fixed.low < 1e-9
    assert (redrawn.low, redrawn.high) == (0.0, 1.0)


def test_cluster_bootstrap_widens_intervals_of_dependent_rounds() -> None:
    """Rounds repeated in clusters carry one cluster's information: resampling clusters gives
    an interval about sqrt(cluster size) wider than resampling rounds, and the same value."""
    rng = np.random.default_rng(0)
    base = rng.binomial(1, 0.6, 200).astype(float)
    reward, groups = np.repeat(base, 16), np.repeat(np.arange(200), 16)
    iw = np.ones_like(reward)
    rounds = estimate_from_weights(reward, iw, params=FAST)["snips"]
    clusters = estimate_from_weights(reward, iw, params=FAST, groups=groups)["snips"]
    assert clusters.value == rounds.value and clusters.n_rounds == rounds.n_rounds == 3200
    ratio = (clusters.high - clusters.low) / (rounds.high - rounds.low)
    assert 3.0 < ratio < 5.5


def test_a_target_strategy_the_log_never_ran_is_an_error() -> None:
    plan = Plan(depths={"lexical": 10}, greedy={"lexical": 10})
    search = LoggedSearch("a", plan, {"lexical": ("w",)}, EntityId("w"))
    with pytest.raises(OpeError, match="dense, which no logged plan could run"):
        plan_ope([search], {"dense": 10}, FAST)


def test_a_list_longer_than_its_depth_counts_only_to_the_depth() -> None:
    plan = Plan(depths={"lexical": 2}, greedy={"lexical": 2})
    search = LoggedSearch("a", plan, {"lexical": ("x", "y", "w")}, EntityId("w"))
    assert plan_ope([search], {"lexical": 2}, FAST)["ips"].value == 0.0


def test_a_policy_target_needs_the_request() -> None:
    plan = Plan(depths={"lexical": 10}, greedy={"lexical": 10})
    search = LoggedSearch("r7", plan, {"lexical": ("w",)}, EntityId("w"))
    with pytest.raises(OpeError, match="request r7 was logged without its request"):
        plan_ope([search], ClassPolicy(), FAST)


def test_cli_log_estimates_targets_from_records(tmp_path: Path) -> None:
    plan = Plan(depths={"lexical": 4}, greedy={"lexical": 4})
    lists = [["w", "a", "b", "c"], ["a", "b", "w", "c"], ["a", "b", "c", "d"]]
    records = [_record(f"r{i}", plan, {"lexical": v}, "w") for i, v in enumerate(lists)]
    records.append(_record("r9", plan, {"lexical": lists[0]}, None))
    path = tmp_path / "searches.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in records) + b"\n")
    app = typer.Typer()
    app.callback()(lambda: None)
    ope_cli.register(app)
    args = ["ope", "log", "--records", str(path), "--target", "lexical@2", "--target", "lexical@4"]
    result = CliRunner().invoke(app, [*args, "--data", str(tmp_path / "data"), "--json"])
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    assert (report["n_searches"], report["n_with_wanted"], report["n_with_outcome"]) == (4, 3, 3)
    assert report["click_model"]["n_pairs"] == 0  # these records hold no shown pages
    assert report["targets"]["lexical@2"]["snips"]["value"] == pytest.approx(1 / 3)
    assert report["targets"]["lexical@4"]["dr"]["value"] == pytest.approx(2 / 3)
    table = CliRunner().invoke(app, args)
    assert table.exit_code == 0 and "lexical@4" in table.stdout
    bad = CliRunner().invoke(app, ["ope", "log", "--records", str(path), "--target", "lex@2"])
    assert isinstance(bad.exception, UnknownStrategyError)


# --- the synthetic world ------------------------------------------------------------------------

STRATEGIES = ("lexical", "dense", "fuzzy")
EDGES = (10, 25, 50, 100)  # rank buckets (0,10], (10,25], (25,50], (50,100], then "not found"
P_CLASS = np.array([0.6, 0.4])
P_HARD = np.array([0.3, 0.45])
#: P_BUCKET[class, hard, strategy] over the 5 buckets.
P_BUCKET = np.array(
    [
        [  # class 0: lexical is good
            [[0.6, 0.15, 0.1, 0.05, 0.1], [0.3, 0.2, 0.1, 0.1, 0.3], [0.2, 0.1, 0.0, 0.0, 0.7]],
            [[0.2, 0.15, 0.15, 0.1, 0.4], [0.1, 0.1, 0.1, 0.1, 0.6], [0.05, 0.05, 0, 0, 0.9]],
        ],
        [  # class 1: dense and fuzzy are good
            [[0.2, 0.1, 0.1, 0.1, 0.5], [0.5, 0.2, 0.1, 0.1, 0.1], [0.5, 0.2, 0.0, 0.0, 0.3]],
            [[0.05, 0.05, 0.1, 0.1, 0.7], [0.2, 0.2, 0.1, 0.1, 0.4], [0.3, 0.1, 0.0, 0.0, 0.6]],
        ],
    ]
)
GREEDY = ({"lexical": 100}, {"dense": 50, "fuzzy": 25})
REQUESTS = tuple(
    PlanRequest(f"class-{c}", plain_query(f"class {c}"), Context(), budget=100) for c in (0, 1)
)
FILLER = {s: [f"{s}-{i}" for i in range(max(EDGES))] for s in STRATEGIES}
BY_CLASS = ({"lexical": 25}, {"dense": 10, "fuzzy": 10})


@dataclass
class ClassPolicy:
    """A target policy: a plan per query class, with exploration that OPE ignores."""

    name: str = "by-class"

    def plan(self, request: PlanRequest) -> Plan:
        depths = BY_CLASS[int(request.query.raw.split()[-1])]
        return Plan(depths=depths, greedy=depths, epsilon=0.2, explore=EXPLORE, policy=self.name)

    def update(self, feedback: PlanFeedback) -> None:
        return None

    def save(self, directory: Path) -> None:
        return None


def _found_probability(cls: int, target: Mapping[str, int]) -> float:
    """P(found | class) = sum_h P(h) (1 - prod_s P(rank_s beyond the target's depth))."""
    total = 0.0
    for hard, p_hard in ((0, 1 - P_HARD[cls]), (1, P_HARD[cls])):
        miss = 1.0
        for s, d in target.items():
            beyond = EDGES.index(d) + 1
            miss *= float(P_BUCKET[cls, hard, STRATEGIES.index(s), beyond:].sum())
        total += p_hard * (1 - miss)
    return total


def true_found_rate(target: Mapping[str, int] | ClassPolicy) -> float:
    plans = BY_CLASS if isinstance(target, ClassPolicy) else (target, target)
    return sum(P_CLASS[c] * _found_probability(c, plans[c]) for c in (0, 1))


def draw_world(n_searches: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per search its class (n,) and the wanted item's rank per strategy (n, 3); 10**9 = absent."""
    cls = (rng.random(n_searches) < P_CLASS[1]).astype(int)
    hard = (rng.random(n_searches) < P_HARD[cls]).astype(int)
    cdf = P_BUCKET[cls, hard].cumsum(axis=2)  # (n, strategies, buckets)
    bucket = (rng.random((n_searches, len(STRATEGIES), 1)) > cdf).sum(axis=2)
    lower = np.array((0, *EDGES))[np.minimum(bucket, len(EDGES))]
    upper = np.array((*EDGES, max(EDGES)))[np.minimum(bucket, len(EDGES) - 1)]
    rank = np.where(
        bucket < len(EDGES), lower + 1 + rng.integers(0, np.maximum(upper - lower, 1)), 10**9
    )
    return cls, rank


def simulate_log(n_searches: int, seed: int) -> list[LoggedSearch]:
    """Searches of the synthetic world, logged by the exploring per-class greedy policy."""
    rng = np.random.default_rng(seed)
    cls, rank = draw_world(n_searches, rng)
    explored = rng.random(n_searches) < EPSILON
    draws = {
        s: rng.choice(list(EXPLORE[s]), size=n_searches, p=list(EXPLORE[s].values()))
        for s in STRATEGIES
    }
    out = []
    for i in range(n_searches):
        greedy = GREEDY[cls[i]]
        depths = {s: int(draws[s][i]) if explored[i] else greedy.get(s, 0) for s in STRATEGIES}
        lists = {}
        for j, s in enumerate(STRATEGIES):
            if depths[s]:
                ids = FILLER[s][: depths[s]]
                if rank[i, j] <= depths[s]:
                    ids = [*ids[: rank[i, j] - 1], "w", *ids[rank[i, j] :]]
                lists[s] = ids
        plan = Plan(depths=depths, greedy=greedy, epsilon=EPSILON, explore=EXPLORE)
        out.append(LoggedSearch(f"q{i}", plan, lists, EntityId("w"), REQUESTS[cls[i]]))
    return out


IID = OpeParams(n_bootstrap=200, seed=7)  # each search draws its ranks afresh

TARGETS: dict[str, Mapping[str, int] | ClassPolicy] = {
    "lexical@50": {"lexical": 50},
    "lexical@25+dense@25": {"lexical": 25, "dense": 25},
    "by-class": ClassPolicy(),
}


def run_replications(
    n_replications: int, n_searches: int, params: OpeParams
) -> dict[str, dict[str, np.ndarray]]:
    """Per target and estimator: (n_replications, 5) rows of value, low, high, ess, se."""
    out: dict[str, dict[str, list[list[float]]]] = {t: {} for t in TARGETS}
    for rep in range(n_replications):
        log = simulate_log(n_searches, seed=1000 + rep)
        for name, target in TARGETS.items():
            for est, e in plan_ope(log, target, params).items():
                out[name].setdefault(est, []).append([e.value, e.low, e.high, e.ess, e.se])
    return {t: {e: np.array(rows) for e, rows in by.items()} for t, by in out.items()}


def test_truth_matches_a_big_on_policy_simulation() -> None:
    """The closed form agrees with running each target on 200,000 fresh searches."""
    n = 200_000
    cls, rank = draw_world(n, np.random.default_rng(5))
    for name, target in TARGETS.items():
        plans = BY_CLASS if isinstance(target, ClassPolicy) else (target, target)
        depth = np.array([[p.get(s, 0) for s in STRATEGIES] for p in plans])[cls]
        found = (rank <= depth).any(axis=1)
        truth = true_found_rate(target)
        assert abs(found.mean() - truth) < 4 * math.sqrt(truth * (1 - truth) / n), name


def test_plan_estimates_are_unbiased_fast() -> None:
    """Four 10,000-search logs: each estimator's mean error is within 3 standard errors."""
    results = run_replications(4, 10_000, IID)
    for name, by_estimator in results.items():
        truth = true_found_rate(TARGETS[name])
        for est, rows in by_estimator.items():
            values = rows[:, 0]
            pooled = math.sqrt(float(np.mean(rows[:, 4] ** 2)) / len(values))
            assert abs(values.mean() - truth) < 3 * pooled, (name, est, values, truth)
            assert (rows[:, 1] <= values).all() and (values <= rows[:, 2]).all()
            assert (rows[:, 3] > 300).all()


@pytest.mark.slow
def test_intervals_cover_the_truth_in_90_percent_of_replications() -> None:
    """The acceptance check: >= 50 replications of 10,000-search logs (about a minute)."""
    results = run_replications(50, 10_000, dataclasses.replace(IID, n_bootstrap=400))
    for name, by_estimator in results.items():
        truth = true_found_rate(TARGETS[name])
        for est in ("snips", "dr"):
            rows = by_estimator[est]
            covered = ((rows[:, 1] <= truth) & (truth <= rows[:, 2])).mean()
            assert covered >= 0.9, (name, est, covered)


# --- the event log as the estimators' source --------------------------------------------------


def test_event_log_records_carry_the_shown_page_and_positive_actions(tmp_path: Path) -> None:
    """Searches served and acted on through the engine come back with what the click model
    needs, and ``ltrr ope log`` estimates a target from the data directory itself."""
    catalog = [
        Entity(id=EntityId(f"t{i}"), type="track", title=title, fields={}, popularity=5)
        for i, title in enumerate(("Love Story", "Love Song", "Night Drive", "Summer Love"))
    ]
    with DataDir(tmp_path, load_config(), writer=True) as dd, dd.catalog.change() as change:
        change.upsert(catalog)
    with Engine.open(tmp_path, load_config(), strategies=["lexical"], writer=True) as engine:
        pages = []
        for n in range(3):
            response = engine.search("love", request_id=f"r{n}", event_time_s=10.0 * n)
            shown = [r.entity.id for r in response.results]
            pages.append(shown)
            if n < 2:  # the third search is silent
                click = Action(
                    action_id=f"a{n}", request_id=f"r{n}", user_id=None,
                    entity_id=shown[1], kind="click", event_time_s=10.0 * n + 1,
                )  # fmt: skip
                assert engine.feedback(click)
    records = list(ope_cli.event_log_records(tmp_path))
    assert [r["request_id"] for r in records] == ["r0", "r1", "r2"]
    assert [r["shown"] for r in records] == pages
    assert records[0]["positives"] == [pages[0][1]] and records[1]["positives"] == [pages[1][1]]
    assert records[2]["positives"] == [] and records[2]["wanted"] is None
    searches = logged_searches_from(records)
    groups, n_groups = query_groups(searches)
    by_group, _ = relevance(searches, groups.tolist(), n_groups)
    examined = {*pages[0][:2], *pages[1][:2], *pages[2]}  # the silent page: all of it
    assert n_groups == 1 and set(by_group[0]) == examined
    app = typer.Typer()
    app.callback()(lambda: None)
    ope_cli.register(app)
    args = ["ope", "log", "--data", str(tmp_path), "--target", "lexical@10", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    assert report["targets"]["lexical@10"]["ips"]["n_rounds"] == 3  # the silent search counts
    assert report["n_with_outcome"] == 3 and report["click_model"]["n_pairs"] == len(examined)

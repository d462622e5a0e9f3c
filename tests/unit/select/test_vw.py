"""The Vowpal Wabbit peer: learns per query class, logs VW's own probabilities, leaves no files.

The contract suite (tests/contracts/test_policies.py) runs ``vw`` with every other policy;
these are the checks particular to it.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from ltrr.config import load_config
from ltrr.errors import ConfigError, MissingDependencyError
from ltrr.select import SelectParams, load_policy, make_policy
from ltrr.select.bandit_params import BanditParams
from ltrr.select.base import PlanFeedback, PlanRequest, plan_from_dict, request_rng
from ltrr.select.plan_set import plan_name
from ltrr.select.vw import VWParams, VWPolicy
from ltrr.types import Context
from ltrr.understand.base import UnderstoodQuery
from ltrr.understand.features import FEATURE_NAMES

TWO = SelectParams(strategies=("lexical", "fuzzy"), depths=(5,), budget=5)
#: Class A's queries are found by lexical only, class B's by fuzzy only.
WINNER = {"A": "lexical", "B": "fuzzy"}


def _request(i: int, cls: str, budget: int = 5) -> PlanRequest:
    """A query of class ``cls``: B's are spelling-corrected, A's are spearfish (own text)."""
    features = [0.0] * len(FEATURE_NAMES)
    features[FEATURE_NAMES.index("has_correction" if cls == "B" else "intent_spearfish")] = 1.0
    text = f"{cls.lower()} query {i}"
    tokens = tuple(text.split())
    query = UnderstoodQuery(
        raw=text,
        tokens=tokens,
        corrected_tokens=tokens,
        features=tuple(features),
        feature_names=FEATURE_NAMES,
    )
    j = i // 2  # the context varies independently of the class (which alternates with i)
    context = Context(user_id=f"u{j % 5}", segment="ab"[j % 2], hour=j % 24)
    return PlanRequest(f"r{cls}{i}", query, context, budget)


def _two(exploration: str, seed: int = 1) -> VWPolicy:
    return VWPolicy(
        TWO, VWParams(exploration=exploration), objective=BanditParams(anchors=()), seed=seed
    )


def _teach(policy: VWPolicy, n: int) -> list[float]:
    """``n`` searches alternating the classes; whether each played plan found the item."""
    found = []
    for i in range(n):
        cls = "AB"[i % 2]
        request = _request(i, cls)
        plan = policy.plan(request)
        ranks = {s: (1 if s == WINNER[cls] else None) for s in plan.strategies}
        policy.update(PlanFeedback(request, plan, ranks))
        found.append(float(WINNER[cls] in plan.strategies))
    return found


@pytest.mark.parametrize("exploration", ["squarecb", "epsilon"])
def test_learns_the_right_strategy_per_class_within_a_few_hundred_updates(
    exploration: str,
) -> None:
    policy = _two(exploration)
    found = _teach(policy, 300)
    assert np.mean(found[-100:]) >= 0.85  # exploring still; epsilon 0.1 misses 5%
    for cls, winner in WINNER.items():
        for i in range(10**6, 10**6 + 20):  # unseen query texts of the class
            request = _request(i, cls)
            assert policy.plan(request).greedy == {winner: 5}
            names = [plan_name(p) for p in policy.plans]
            pmf = dict(zip(names, policy.probabilities(request), strict=True))
            assert pmf[f"{winner}@5"] >= 0.9


def test_the_logged_probability_is_vws_pmf_entry_of_the_drawn_plan() -> None:
    policy = _two("squarecb")
    _teach(policy, 60)
    names = [plan_name(p) for p in policy.plans]
    for i in range(200, 260):
        request = _request(i, "AB"[i % 2])
        plan = policy.plan(request)
        pmf = policy.probabilities(request)
        assert math.fsum(pmf) == pytest.approx(1.0, abs=1e-12)
        assert sum(p for _, p in plan.distribution) == pytest.approx(1.0, abs=1e-12)
        drawn = names.index(plan_name(plan.depths))
        assert plan.probability == pmf[drawn]
        # VW's own numbers (float32), before ltrr normalises their sum to 1
        raw = policy._vw.predict(
            [policy._shared(policy._x(request, _key(request)), _key(request)),
             *policy._action_lines()]
        )  # fmt: skip
        assert plan.probability == pytest.approx(raw[drawn], rel=1e-6)
        # the draw is the request's own: inverse CDF of request_rng(seed, request id)
        u = request_rng(policy.seed, request.request_id).random()
        assert drawn == int(np.searchsorted(np.cumsum(pmf), u, side="right"))
        # marginals and coverage are sums over the distribution
        lexical = plan.marginal("lexical")
        assert lexical == pytest.approx(
            {5: pmf[names.index("lexical@5")], 0: pmf[names.index("fuzzy@5")]}
        )
        assert plan.coverage_probability({"fuzzy": 5}) == pytest.approx(pmf[names.index("fuzzy@5")])
        assert plan_from_dict(plan.to_dict()) == plan


def _key(request: PlanRequest) -> int:
    from ltrr.understand.base import query_key

    return query_key(request.query) or 0


def test_draws_follow_the_probabilities() -> None:
    """Fresh VW gives every plan the same probability: draws over many requests are uniform."""
    policy = _two("squarecb")
    counts = {"lexical": 0, "fuzzy": 0}
    n = 2000
    for i in range(n):
        plan = policy.plan(_request(i, "A"))
        assert plan.probability == pytest.approx(0.5)
        counts[plan.strategies[0]] += 1
    assert abs(counts["lexical"] - n / 2) < 4 * math.sqrt(n / 4)  # 4 sigma


def test_plans_respect_the_budget_and_the_anchors() -> None:
    policy = make_policy("vw", load_config(), seed=3)
    assert isinstance(policy, VWPolicy)
    for budget in (1, 60, 200, 10**6):
        request = _request(1, "A", budget)
        plan = policy.plan(request)
        allowed = max(budget, 20)  # lexical@10 + dense@10 run whatever the budget
        for depths, p in plan.distribution:
            assert sum(depths.values()) <= allowed and p > 0
            assert depths["lexical"] >= 10 and depths["dense"] >= 10
    assert len(policy.plan(_request(1, "A", 10**6)).distribution) == 327


def test_elsewhere_feedback_counts_elsewhere_weight_times() -> None:
    """Like ltrr's update: VW learns an item found elsewhere three times (the default)."""
    learned: list[int] = []
    policy = _two("epsilon")
    real = policy._vw

    class Counting:
        def predict(self, example: list[str]) -> object:
            return real.predict(example)

        def learn(self, example: list[str]) -> None:
            learned.append(len(example))
            real.learn(example)

    policy._vw = Counting()
    request = _request(0, "A")
    plan = policy.plan(request)
    policy.update(PlanFeedback(request, plan, {s: None for s in plan.strategies}, shown=False))
    policy.update(PlanFeedback(request, plan, {s: 1 for s in plan.strategies}))
    policy.update(PlanFeedback(request, plan, {s: 1 for s in plan.strategies}, reward=0.0))
    assert len(learned) == 3 + 1 + 0


def test_save_load_replays_to_the_same_plans_and_leaves_no_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scratch, cwd = tmp_path / "tmp", tmp_path / "cwd"
    scratch.mkdir()
    cwd.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.chdir(cwd)
    policy = _two("squarecb")
    _teach(policy, 80)
    policy.save(tmp_path / "saved")
    loaded = load_policy(tmp_path / "saved")
    assert isinstance(loaded, VWPolicy) and loaded.n_updates == 80
    for i in range(500, 540):
        request = _request(i, "AB"[i % 2])
        assert loaded.plan(request) == policy.plan(request)
    del loaded, policy
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cwd", "saved", "tmp"]
    assert not os.listdir(scratch) and not os.listdir(cwd)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("exploration", "ucb", "squarecb, epsilon"),
        ("gamma_scale", 0.0, "gamma_scale"),
        ("bits", 40, "bits"),
        ("interactions", ("xz",), "x, k, a, c"),
    ],
)
def test_bad_parameters_name_the_allowed_values(field: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        VWParams(**{field: value})  # type: ignore[arg-type]


def test_vw_arguments_are_a_practitioners() -> None:
    args = VWParams().arguments(0.1)
    assert args[:5] == ["--cb_explore_adf", "--cb_type", "mtr", "--epsilon", "0.1"]
    assert " ".join(args).endswith("-q xa -q ka -q aa")
    squarecb = VWParams(exploration="squarecb", gamma_scale=1000.0).arguments(0.1)
    assert squarecb[3:6] == ["--squarecb", "--gamma_scale", "1000"]


def test_without_vowpalwabbit_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "vowpalwabbit", None)
    with pytest.raises(MissingDependencyError, match=r"ltrr\[peers\]"):
        make_policy("vw")

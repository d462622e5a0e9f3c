"""The learned policy on small synthetic problems whose best arm per context is known.

Environment: two contexts. In context 0 (spearfish queries, segment "a") lexical finds the
wanted item at rank 1 + Poisson(4) with probability 0.95 and dense only past rank 100; in
context 1 (topic queries, segment "b") dense finds it at a rank uniform in 26..45 with
probability 0.95 and lexical only past rank 60; fuzzy rarely finds anything. Every search has a
new query text, so only the context model can generalise.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from ltrr.config import Config
from ltrr.errors import ConfigError, StorageError
from ltrr.select import SelectParams, load_policy, make_policy
from ltrr.select.bandit import BanditParams, BanditPolicy
from ltrr.select.base import Plan, PlanFeedback, PlanRequest
from ltrr.select.features import FeatureParams
from ltrr.types import Context
from ltrr.understand.base import UnderstoodQuery
from ltrr.understand.features import FEATURE_NAMES

STRATEGIES = ("lexical", "dense", "fuzzy")
GRID = (10, 25, 50, 100, 200)
MISS = 10**6  # "not within any depth"


def _query(text: str, context: int) -> UnderstoodQuery:
    values = [0.0] * len(FEATURE_NAMES)
    values[FEATURE_NAMES.index("intent_spearfish" if context == 0 else "intent_topic")] = 1.0
    tokens = tuple(text.split())
    return UnderstoodQuery(
        raw=text,
        tokens=tokens,
        corrected_tokens=tokens,
        features=tuple(values),
        feature_names=FEATURE_NAMES,
    )


def _request(request_id: str, text: str, context: int, budget: int = 50) -> PlanRequest:
    ctx = Context(segment="ab"[context], hour=9 + context)
    return PlanRequest(request_id, _query(text, context), ctx, budget)


def _ranks(contexts: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """True 1-based rank of the wanted item per strategy (MISS = nowhere), vectorised."""
    n = len(contexts)
    c1 = contexts == 1
    lexical = np.where(c1, rng.integers(60, 301, n), 1 + rng.poisson(4, n))
    lexical = np.where(rng.random(n) < np.where(c1, 0.3, 0.95), lexical, MISS)
    dense = np.where(c1, rng.integers(26, 46, n), rng.integers(100, 301, n))
    dense = np.where(rng.random(n) < np.where(c1, 0.95, 0.3), dense, MISS)
    fuzzy = np.where(rng.random(n) < 0.02, rng.integers(1, 201, n), MISS)
    return {"lexical": lexical, "dense": dense, "fuzzy": fuzzy}


def _observed(plan: Plan, ranks: Mapping[str, int]) -> dict[str, int | None]:
    return {s: (r if r <= plan.depths.get(s, 0) else None) for s, r in ranks.items()}


def _config(**sections: dict[str, object]) -> Config:
    """A complete ``[select]`` config: the dataclass defaults overridden by ``sections``."""
    select: dict[str, object] = {**asdict(SelectParams()), **sections.get("select", {})}
    select["ltrr"] = {**asdict(BanditParams()), **sections.get("ltrr", {})}
    select["features"] = {**asdict(FeatureParams()), **sections.get("features", {})}
    return Config({"select": select})


def _policy(greedy: str = "mean", epsilon: float = 0.1, seed: int = 0) -> BanditPolicy:
    """A tight budget (50 candidates), and candidates that cost: 25 more must add 0.0125.

    No anchors: the best arm per context is a single strategy, which anchors would forbid.
    """
    return BanditPolicy(
        SelectParams(strategies=STRATEGIES, depths=GRID, budget=50),
        BanditParams(greedy=greedy, epsilon=epsilon, min_gain_per_candidate=0.0005, anchors=()),
        seed=seed,
    )


def _simulate(
    policy: BanditPolicy, n: int, seed: int = 1, learn: bool = True
) -> list[tuple[Plan, dict[str, int], int]]:
    rng = np.random.default_rng(seed)
    contexts = rng.integers(0, 2, n)
    ranks = _ranks(contexts, rng)
    log = []
    for i in range(n):
        request = _request(f"s{seed}-{i}", f"query {seed} {i}", int(contexts[i]))
        plan = policy.plan(request)
        truth = {s: int(ranks[s][i]) for s in STRATEGIES}
        if learn:
            policy.update(PlanFeedback(request, plan, _observed(plan, truth)))
        log.append((plan, truth, int(contexts[i])))
    return log


@pytest.fixture(scope="module")
def trained() -> BanditPolicy:
    policy = _policy("mean")
    _simulate(policy, 1500)
    return policy


@pytest.mark.parametrize("greedy", ["mean", "thompson"])
def test_best_arm_per_context_is_found(greedy: str) -> None:
    policy = _policy(greedy)
    _simulate(policy, 1500)
    plans = {
        c: [policy.plan(_request(f"t{c}-{i}", f"fresh {i}", c)).greedy for i in range(20)]
        for c in (0, 1)
    }
    # Thompson samples may still try the rarely observed fuzzy; never the wrong strategy
    useless = 0 if greedy == "mean" else 200
    spear = Counter(
        p["lexical"] in (10, 25) and p["dense"] == 0 and p["fuzzy"] <= useless for p in plans[0]
    )
    topic = Counter(
        p["dense"] == 50 and p["lexical"] == 0 and p["fuzzy"] <= useless for p in plans[1]
    )
    wanted = 20 if greedy == "mean" else 16
    assert spear[True] >= wanted, plans[0]
    assert topic[True] >= wanted, plans[1]


def test_posterior_mean_matches_the_environment(trained: BanditPolicy) -> None:
    p0 = trained.predict(_request("p0", "fresh", 0))
    p1 = trained.predict(_request("p1", "fresh", 1))
    lexical, dense = STRATEGIES.index("lexical"), STRATEGIES.index("dense")
    assert p0[lexical, 0] > 0.85 and p0[dense, 2] < 0.1
    assert p1[dense, 2] > 0.85 and p1[dense, 0] < 0.1 and p1[lexical, 1] < 0.1
    assert (np.diff(p0, axis=1) >= 0).all() and (np.diff(p1, axis=1) >= 0).all()
    assert trained.found_probability(_request("p2", "fresh", 1), {"dense": 50}) > 0.85


def test_repeated_query_is_planned_from_its_own_history() -> None:
    policy = _policy("mean")
    for i in range(400):
        special = i % 4 == 0
        text = "so what" if special else f"other {i}"
        request = _request(f"h{i}", text, 0)
        plan = policy.plan(request)
        truth = (
            {"lexical": MISS, "dense": 3, "fuzzy": MISS}
            if special
            else {"lexical": 5, "dense": MISS, "fuzzy": MISS}
        )
        policy.update(PlanFeedback(request, plan, _observed(plan, truth)))
    head = policy.plan(_request("x1", "so what", 0)).greedy
    tail = policy.plan(_request("x2", "never seen", 0)).greedy
    assert head == {"lexical": 0, "dense": 10, "fuzzy": 0}
    # an unseen query of the same context: lexical finds 3 in 4 of them, dense the rest
    assert tail["lexical"] in (10, 25) and tail["fuzzy"] == 0


def test_marginals_sum_to_one_and_the_floor_holds(trained: BanditPolicy) -> None:
    floor = trained.floor
    assert floor == pytest.approx(0.1 * 0.8 / 5)
    for i in range(200):
        plan = trained.plan(_request(f"m{i}", f"q {i}", i % 2))
        assert 0.0 < plan.probability <= 1.0
        assert plan.policy == "ltrr" and plan.epsilon == 0.1
        for s in STRATEGIES:
            marginal = plan.marginal(s)
            assert sum(marginal.values()) == pytest.approx(1.0)
            assert all(marginal.get(d, 0.0) >= floor - 1e-12 for d in GRID)
            assert marginal.get(0, 0.0) >= 0.1 * 0.2 - 1e-12
        assert sum(plan.greedy.values()) <= 50


def test_drawn_depths_follow_the_logged_distribution(trained: BanditPolicy) -> None:
    """Chi-square: the depths actually drawn have the frequencies the plans claim."""
    n = 3000
    plans = [trained.plan(_request(f"d{i}", "same query", 1)) for i in range(n)]
    assert len({tuple(p.greedy.items()) for p in plans}) == 1  # "mean": one greedy plan
    for s in STRATEGIES:
        marginal = plans[0].marginal(s)
        depths = sorted(marginal)
        seen = Counter(p.depths[s] for p in plans)
        observed = [seen[d] for d in depths]
        expected = [n * marginal[d] for d in depths]
        assert sum(observed) == n
        assert stats.chisquare(observed, expected).pvalue > 1e-3, (s, observed, expected)


@pytest.fixture(scope="module")
def exploring_log() -> list[tuple[Plan, dict[str, int], int]]:
    """3,000 searches logged by a learning Thompson policy with epsilon 0.5."""
    return _simulate(_policy("thompson", epsilon=0.5, seed=3), 3000, seed=5)


@pytest.mark.parametrize("target", [{"lexical": 25, "dense": 25}, {"dense": 50}, {"fuzzy": 100}])
def test_ips_with_logged_coverage_probabilities_is_unbiased(
    target: dict[str, int], exploring_log: list[tuple[Plan, dict[str, int], int]]
) -> None:
    """The target's found-rate from coverage-weighted IPS vs. the environment's true value."""
    log = exploring_log
    values = np.array(
        [
            any(truth[s] <= d for s, d in target.items()) / plan.coverage_probability(target)
            if plan.covers(target)
            else 0.0
            for plan, truth, _ in log
        ]
    )
    rng = np.random.default_rng(11)
    contexts = rng.integers(0, 2, 1_000_000)
    ranks = _ranks(contexts, rng)
    truth_value = np.logical_or.reduce([ranks[s] <= d for s, d in target.items()]).mean()
    estimate, se = values.mean(), values.std(ddof=1) / np.sqrt(len(values))
    assert abs(estimate - truth_value) < 3 * se + 1e-3, (estimate, truth_value, se)


def test_semi_bandit_labels_are_band_hazards() -> None:
    """Run to 50 and found at 20: band (0, 10] failed, (10, 25] succeeded, deeper bands are
    not at risk any more. Run to 50 and missed: bands to 50 failed, 100 and 200 unobserved
    (censored: counting them would overrate deep arms)."""
    policy = _policy()
    request = _request("r", "love story", 0)
    plan = Plan({"lexical": 50, "dense": 50, "fuzzy": 0}, {"lexical": 50, "dense": 50})
    policy.update(PlanFeedback(request, plan, {"lexical": 20, "dense": None}))
    st = policy._state
    row = np.flatnonzero(st.history.key_hash)[0]
    trials = st.history.trials[row].reshape(3, 5)
    success = st.history.success[row].reshape(3, 5)
    assert trials.tolist() == [[1, 1, 0, 0, 0], [1, 1, 1, 0, 0], [0, 0, 0, 0, 0]]
    assert success.tolist() == [[0, 1, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]]
    prior = BanditParams().prior_precision
    changed = (st.precision != prior).any(axis=1).reshape(3, 5)
    assert changed.tolist() == trials.astype(bool).tolist()
    assert policy.n_updates == 1
    co = st.overlap  # arms: lexical 0-4, dense 5-9; both observed to 50
    assert co.co_seen[0, 5] == 1 and co.co_seen[0, 8] == 0
    assert co.co_missed[5, 1] == 1 and co.co_missed_found[5, 1] == 1  # lexical@25 after dense@10
    assert co.co_missed_found[5, 0] == 0  # lexical@10 missed too (rank 20)
    # an off-grid depth (a fixed plan lexical@30) observes only the bands inside it
    policy.update(PlanFeedback(request, Plan({"lexical": 30}, {"lexical": 30}), {"lexical": 28}))
    assert st.history.trials[row].reshape(3, 5)[0].tolist() == [2, 2, 0, 0, 0]


def test_deep_arms_are_not_overrated_by_censoring() -> None:
    """Greedy runs lexical@10 and finds 94% there; the rest sit at rank 60..300 half the time.

    Truth: P(top 50) = P(top 10) = 0.94, P(top 200) = 0.94 + 0.06 * 0.5 * 141 / 241."""
    policy = _policy("mean")
    rng = np.random.default_rng(2)
    for i in range(1500):
        request = _request(f"c{i}", f"censor {i}", 0)
        plan = policy.plan(request)
        near = rng.random() < 0.94
        far = int(rng.integers(60, 301)) if rng.random() < 0.5 else MISS
        truth = {
            "lexical": int(1 + rng.integers(0, 10)) if near else far,
            "dense": MISS,
            "fuzzy": MISS,
        }
        policy.update(PlanFeedback(request, plan, _observed(plan, truth)))
    p = policy.predict(_request("c", "fresh", 0))[0]
    assert p[0] == pytest.approx(0.94, abs=0.03)
    assert p[2] == pytest.approx(0.94, abs=0.03)
    assert p[4] == pytest.approx(0.94 + 0.06 * 0.5 * 141 / 241, abs=0.04)


@dataclass(frozen=True, slots=True)
class _ShownFeedback(PlanFeedback):
    """PlanFeedback with the ``shown`` flag the policy reads when the engine provides it."""

    shown: bool = True


def test_feedback_counts_reward_times_and_more_when_found_elsewhere() -> None:
    plan = Plan({"lexical": 10}, {"lexical": 10})

    def trials(feedback: PlanFeedback) -> float:
        policy = _policy()
        policy.update(feedback)
        history = policy._state.history
        return float(history.trials[np.flatnonzero(history.key_hash)[0]][0])

    request = _request("w", "love", 0)
    assert trials(PlanFeedback(request, plan, {"lexical": 3})) == 1.0
    assert trials(PlanFeedback(request, plan, {"lexical": 3}, reward=2.0)) == 2.0
    assert trials(_ShownFeedback(request, plan, {"lexical": None}, shown=False)) == 3.0
    assert trials(_ShownFeedback(request, plan, {"lexical": 3}, shown=True)) == 1.0


def test_no_positive_reward_or_nothing_run_teaches_nothing(tmp_path: Path) -> None:
    policy = _policy()
    request = _request("r", "love", 0)
    plan = Plan({"lexical": 50}, {"lexical": 50})
    assert policy.update(PlanFeedback(request, plan, {"lexical": 3}, reward=0.0)) is None
    assert policy.update(PlanFeedback(request, Plan({}, {}), {"lexical": 3})) is None
    assert policy.n_updates == 0
    assert (policy._state.precision == BanditParams().prior_precision).all()


def test_same_seed_and_feedback_give_the_same_state_and_plans(tmp_path: Path) -> None:
    a, b = _policy("thompson", seed=7), _policy("thompson", seed=7)
    _simulate(a, 300)
    _simulate(b, 300)
    a.save(tmp_path / "a")
    b.save(tmp_path / "b")
    for name in ("mean.npy", "precision.npy", "key_hash.npy", "key_trials.npy", "win_found.npy"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    request = _request("same", "fresh", 1)
    assert a.plan(request) == b.plan(request)
    other = _policy("thompson", seed=8)
    _simulate(other, 300)
    assert [other.plan(_request(f"o{i}", "x", 1)).depths for i in range(30)] != [
        a.plan(_request(f"o{i}", "x", 1)).depths for i in range(30)
    ]


def test_plan_does_not_mutate_state(trained: BanditPolicy, tmp_path: Path) -> None:
    trained.save(tmp_path / "before")
    for i in range(50):
        trained.plan(_request(f"pure{i}", f"q {i}", i % 2))
        trained.predict(_request(f"pure{i}", f"q {i}", i % 2))
    trained.save(tmp_path / "after")
    before = (tmp_path / "before" / "manifest.json").read_bytes()
    assert before == (tmp_path / "after" / "manifest.json").read_bytes()


def test_save_load_round_trip(trained: BanditPolicy, tmp_path: Path) -> None:
    trained.save(tmp_path / "p")
    loaded = load_policy(tmp_path / "p")
    assert isinstance(loaded, BanditPolicy) and loaded.n_updates == trained.n_updates
    for i in range(20):
        request = _request(f"rt{i}", "so what" if i % 3 else f"q {i}", i % 2)
        assert loaded.plan(request) == trained.plan(request)
        assert (loaded.predict(request) == trained.predict(request)).all()
    smaller = _config(select={"strategies": STRATEGIES, "budget": 50}, ltrr={"key_buckets": 7})
    assert BanditPolicy.load(tmp_path / "p", smaller, seed=0).n_updates == trained.n_updates
    other = _config(select={"strategies": ("lexical", "dense")})
    with pytest.raises(StorageError, match=r"select\.strategies"):
        BanditPolicy.load(tmp_path / "p", other)


def test_make_policy_reads_the_config() -> None:
    config = _config(
        select={"strategies": ("lexical", "dense"), "depths": (10, 100), "budget": 110},
        ltrr={"epsilon": 0.25, "seed": 4},
        features={"context_buckets": 2},
    )
    policy = make_policy("ltrr", config)
    assert isinstance(policy, BanditPolicy)
    assert policy.seed == 4 and policy.params.epsilon == 0.25
    assert len(policy.features) == 1 + len(FEATURE_NAMES) + 6 + 6 + 7  # 7: the lexical probe
    assert policy.probe is not None and policy.probe.strategy == "lexical"
    assert make_policy("ltrr", config, seed=9).seed == 9  # type: ignore[attr-defined]
    plan = policy.plan(_request("c", "x", 0, budget=110))
    assert set(plan.depths) == {"lexical", "dense"} and set(plan.depths.values()) <= {0, 10, 100}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epsilon": 0.0}, "epsilon must be in \\(0, 1\\], got 0.0"),
        ({"epsilon": 1.5}, "epsilon must be in \\(0, 1\\], got 1.5"),
        ({"explore_off": 1.0}, "explore_off must be in \\[0, 1\\), got 1.0"),
        ({"greedy": "ucb"}, "greedy must be one of thompson, mean, got 'ucb'"),
        ({"prior_precision": 0.0}, "prior_precision must be > 0"),
        ({"key_buckets": 0}, "key_buckets must be >= 1"),
    ],
)
def test_bad_params_are_rejected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        BanditParams(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"strategies": ()}, "must name distinct strategies"),
        ({"strategies": ("lexical", "lexical")}, "must name distinct strategies"),
        ({"depths": (50, 10)}, "strictly ascending, got \\[50, 10\\]"),
        ({"depths": (0, 10)}, "positive"),
        ({"budget": 0}, "budget must be >= 1, got 0"),
    ],
)
def test_bad_select_params_are_rejected(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SelectParams(**kwargs)  # type: ignore[arg-type]


def test_latency_needs_one_value_per_strategy() -> None:
    with pytest.raises(ConfigError, match="latency_ms lists 2 values for 3 strategies"):
        BanditPolicy(SelectParams(strategies=STRATEGIES), BanditParams(latency_ms=(1.0, 2.0)))


@pytest.mark.parametrize("release_gain", [0.0, 0.01])
def test_an_anchor_that_adds_nothing_is_released_once_the_posterior_is_sure(
    release_gain: float,
) -> None:
    """Anchored lexical and dense: in context 0 dense finds only past rank 100, in context 1
    lexical only past 60, so the other's shallowest arm adds no find. With ``release_gain``
    the trained greedy plans drop it (and only it); without, every plan keeps both anchors.
    No probe: a probe is never released (``test_satisfice``), and lexical is the default one."""
    policy = BanditPolicy(
        SelectParams(strategies=STRATEGIES, depths=GRID, budget=50),
        BanditParams(
            greedy="thompson",
            min_gain_per_candidate=0.0005,
            release_gain=release_gain,
            anchors=("lexical", "dense"),
        ),
        FeatureParams(probe=""),
    )
    first = [policy.plan(_request(f"f{i}", f"first {i}", i % 2)).greedy for i in range(20)]
    assert all(p["lexical"] >= 10 and p["dense"] >= 10 for p in first)  # nothing learned yet
    _simulate(policy, 1500)
    plans = {
        c: [policy.plan(_request(f"t{c}-{i}", f"fresh {i}", c)).greedy for i in range(40)]
        for c in (0, 1)
    }
    if release_gain == 0.0:
        assert all(p["lexical"] >= 10 and p["dense"] >= 10 for c in (0, 1) for p in plans[c])
        return
    assert sum(p["dense"] == 0 for p in plans[0]) >= 36, plans[0]
    assert all(p["lexical"] >= 10 for p in plans[0])
    assert sum(p["lexical"] == 0 for p in plans[1]) >= 36, plans[1]
    assert all(p["dense"] >= 25 for p in plans[1])

"""The Open Bandit Dataset sample, and estimating one logged policy's click rate from another's.

The Open Bandit Dataset (Saito, Aihara, Matsutani and Narita, NeurIPS 2021 Datasets and
Benchmarks) logs two policies choosing fashion items for 3 slots of ZOZOTOWN's widget: uniform
``random`` and Bernoulli Thompson sampling, ``bts``, each with the true propensity of every
shown (item, slot). Files follow ``obp/dataset/obd/{policy}/{campaign}/{campaign}.csv[.gz]``
plus ``item_context.csv``.

The experiment (EVALUATION.md section 4): estimate bts's click rate from the random logs with
IPS, SNIPS and DR, and compare with bts's own logged (on-policy) click rate. bts ignores the
user's context, so its ``action_dist`` per slot is estimated from its own logs: by default
the empirical frequency of each (item, slot), the unbiased estimate of its time-averaged
choice distribution; ``source="pscore"`` instead averages its logged ``propensity_score`` per
(item, slot) and normalises per slot (an average over the rounds that showed the item, so it
leans toward the times the item was likely).
"""

from __future__ import annotations

import csv
import gzip
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ltrr.ope.estimators import (
    ESTIMATORS,
    FloatArray,
    IntArray,
    OpeError,
    OpeParams,
    estimate_from_weights,
    estimate_policy_value,
)
from ltrr.ope.reward_model import cross_fit_action_means

POLICIES = ("random", "bts")
CAMPAIGNS = ("all", "men", "women")
ActionDistSource = Literal["frequency", "pscore"]
_REQUIRED = ("item_id", "position", "click", "propensity_score")


@dataclass(frozen=True, slots=True)
class BanditFeedback:
    """One (policy, campaign) log in OBP's shapes.

    ``action``, ``position`` (0-based slot), ``reward`` (click) and ``pscore``: (n_rounds,);
    ``context``: (n_rounds, dim_context), the one-hot user features then the user-item
    affinities; ``action_context``: (n_actions, dim_action_context) from ``item_context.csv``.
    """

    policy: str
    campaign: str
    n_rounds: int
    n_actions: int
    len_list: int
    action: IntArray
    position: IntArray
    reward: FloatArray
    pscore: FloatArray
    context: FloatArray
    action_context: FloatArray


def _read_csv(path: Path) -> tuple[list[str], list[tuple[str, ...]]]:
    """Header and columns (as tuples of strings) of a CSV, plain or gzipped."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise OpeError(f"{path} is empty")
        columns = list(zip(*reader, strict=True))
    if not columns:
        raise OpeError(f"{path} has a header but no rows")
    return header, columns


def _one_hot(values: tuple[str, ...]) -> FloatArray:
    """(n, n_categories) indicators of a categorical column, categories in sorted order."""
    categories, codes = np.unique(np.asarray(values), return_inverse=True)
    return np.eye(len(categories))[codes.ravel()]


def _features(header: list[str], columns: list[tuple[str, ...]], prefix: str) -> FloatArray:
    """Columns named ``prefix*``: numeric ones as floats, the others (hashes) one-hot."""
    parts: list[FloatArray] = []
    for name, values in zip(header, columns, strict=True):
        if not name.startswith(prefix):
            continue
        try:
            parts.append(np.asarray(values, dtype=np.float64)[:, None])
        except ValueError:
            parts.append(_one_hot(values))
    return np.hstack(parts) if parts else np.zeros((len(columns[0]), 0))


def _log_path(root: Path, policy: str, campaign: str) -> Path:
    if policy not in POLICIES:
        raise OpeError(f"unknown Open Bandit policy {policy!r}; allowed: {', '.join(POLICIES)}")
    if campaign not in CAMPAIGNS:
        raise OpeError(
            f"unknown Open Bandit campaign {campaign!r}; allowed: {', '.join(CAMPAIGNS)}"
        )
    folder = root / policy / campaign
    for name in (f"{campaign}.csv.gz", f"{campaign}.csv"):
        if (folder / name).is_file():
            return folder / name
    raise OpeError(f"no Open Bandit log at {folder}/{campaign}.csv[.gz]")


def load_obd(root: str | Path, policy: str = "random", campaign: str = "all") -> BanditFeedback:
    """The ``policy`` log of ``campaign`` under ``root`` (the dataset's top folder)."""
    path = _log_path(Path(root), policy, campaign)
    header, columns = _read_csv(path)
    index = {name: j for j, name in enumerate(header)}
    missing = [c for c in _REQUIRED if c not in index]
    if missing:
        raise OpeError(f"{path} lacks column(s) {', '.join(missing)}; has {', '.join(header)}")
    items_header, items = _read_csv(path.parent / "item_context.csv")
    n_actions = len(items[0])
    try:
        action = np.asarray(columns[index["item_id"]], dtype=np.int64)
        position = np.asarray(columns[index["position"]], dtype=np.int64) - 1
        reward = np.asarray(columns[index["click"]], dtype=np.float64)
        pscore = np.asarray(columns[index["propensity_score"]], dtype=np.float64)
    except ValueError as exc:
        raise OpeError(f"{path}: a required column is not numeric ({exc})") from None
    if action.min() < 0 or action.max() >= n_actions:
        raise OpeError(f"{path}: item_id must be in [0, {n_actions}), got {action.max()}")
    if position.min() < 0:
        raise OpeError(f"{path}: position must be >= 1, got {position.min() + 1}")
    return BanditFeedback(
        policy=policy,
        campaign=campaign,
        n_rounds=len(action),
        n_actions=n_actions,
        len_list=int(position.max()) + 1,
        action=action,
        position=position,
        reward=reward,
        pscore=pscore,
        context=_features(header, columns, "user"),
        action_context=_features(items_header, items, "item_feature"),
    )


def action_dist_of(
    feedback: BanditFeedback, source: ActionDistSource = "frequency", len_list: int = 0
) -> FloatArray:
    """A context-free policy's pi(item | slot) from its own log: (n_actions, len_list).

    Each slot's column sums to 1. ``source`` is ``"frequency"`` (share of the slot's rounds
    that showed the item) or ``"pscore"`` (mean logged propensity of the item in the slot,
    normalised); ``len_list`` pads to more slots than the log has.
    """
    slots = max(len_list, feedback.len_list)
    cells = feedback.action * slots + feedback.position
    counts = np.bincount(cells, minlength=feedback.n_actions * slots).astype(np.float64)
    mass: FloatArray
    if source == "frequency":
        mass = counts
    elif source == "pscore":
        sums = np.bincount(cells, weights=feedback.pscore, minlength=len(counts))
        mass = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    else:
        raise OpeError(f"unknown action_dist source {source!r}; allowed: frequency, pscore")
    table = mass.reshape(feedback.n_actions, slots)
    totals = table.sum(axis=0)
    if (totals == 0).any():
        empty = (np.flatnonzero(totals == 0) + 1).tolist()
        raise OpeError(f"the {feedback.policy} log never fills slot(s) {empty}")
    dist: FloatArray = table / totals
    return dist


def bts_from_random(
    root: str | Path,
    campaign: str = "all",
    params: OpeParams | None = None,
    source: ActionDistSource = "frequency",
) -> dict[str, Any]:
    """bts's click rate estimated from the random log, beside bts's logged click rate.

    Returns a JSON-ready report: the on-policy click rates of both logs with bootstrap
    intervals, and per estimator its estimate, interval, effective sample size, relative error
    ``|estimate - bts| / bts`` and whether its interval holds bts's logged rate. DR's reward
    model is per (item, slot) click rate, cross-fitted (``ope.cross_fit_action_means``).
    """
    params = params or OpeParams()
    logged = load_obd(root, "random", campaign)
    target = load_obd(root, "bts", campaign)
    if target.n_actions != logged.n_actions:
        raise OpeError(
            f"campaign {campaign}: bts has {target.n_actions} items, random {logged.n_actions}"
        )
    len_list = max(logged.len_list, target.len_list)
    dist = action_dist_of(target, source, len_list)
    action_dist = np.broadcast_to(dist, (logged.n_rounds, *dist.shape))
    q = cross_fit_action_means(
        logged.action, logged.position, logged.reward, logged.n_actions, len_list, params
    )
    estimates = estimate_policy_value(
        logged.reward, logged.action, logged.pscore, action_dist, q, logged.position, params
    )
    on_policy = {
        fb.policy: estimate_from_weights(fb.reward, np.ones(fb.n_rounds), params=params)["ips"]
        for fb in (target, logged)
    }
    truth = on_policy["bts"].value
    report: dict[str, Any] = {
        "campaign": campaign,
        "action_dist": source,
        "n_rounds": {"random": logged.n_rounds, "bts": target.n_rounds},
        "n_actions": logged.n_actions,
        "on_policy": {
            name: {"value": e.value, "low": e.low, "high": e.high, "n_clicks": int(n)}
            for (name, e), n in zip(
                on_policy.items(), (target.reward.sum(), logged.reward.sum()), strict=True
            )
        },
        "estimators": {},
        "params": asdict(params),
    }
    for name in ESTIMATORS:
        e = estimates[name]
        report["estimators"][name] = {
            **e.to_dict(),
            "relative_error": abs(e.value - truth) / truth if truth > 0 else float("nan"),
            "covers_on_policy": bool(e.low <= truth <= e.high),
        }
    return report

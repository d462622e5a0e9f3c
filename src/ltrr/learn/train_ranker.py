"""Train the LambdaMART ranker from the event log, validate it, and register it.

``ltrr train`` and the engine's background retrain both call ``train_ranker``: read every
impression with logged features and an action (``ServingLog.acted_features``), label each
logged candidate by whether it was acted on positively, train on the older part of the log
and validate on the most recent ``holdout`` share, which training did not see. The candidate
is compared with what serves now (the current model, else the order the fallback showed) by
the inverse-propensity-weighted DCG@10 of the acted-on items (``rank.training``), and
registered either way; it becomes the served version only if it is not worse.

A model is only ever trained on rows of the serving code's feature set: impressions logged
by another feature set (an older ltrr) are skipped and counted.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ltrr.log.events import Action
from ltrr.log.rewards import RewardMap
from ltrr.log.sqlite_reader import ActedFeatures
from ltrr.rank.lambdamart import LambdaMartParams, RankModel, fit
from ltrr.rank.registry import ModelRegistry
from ltrr.rank.training import (
    TrainingError,
    TrainingGroup,
    compare,
    group_of,
    group_propensities,
    ips_dcg,
    served_scores,
    split_recent,
)


@dataclass(slots=True)
class TrainReport:
    """What one training run did: the version stored, whether it serves, and why."""

    version: str | None = None
    accepted: bool = False
    n_groups: int = 0
    n_skipped: int = 0
    validation: dict[str, Any] = field(default_factory=dict)
    propensities: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    reason: str = ""


def groups_from_log(
    rows: Iterable[ActedFeatures], fingerprint: str, rewards: RewardMap, params: LambdaMartParams
) -> tuple[list[TrainingGroup], int]:
    """Training groups of the impressions whose features are ``fingerprint``'s and that have a
    positively acted-on logged candidate; and how many impressions were of another feature
    set."""
    groups, skipped = [], 0
    for row in rows:
        if row.features.fingerprint != fingerprint:
            skipped += 1
            continue
        n_before = _page_start(row.features.ids, row.shown, row.offset)
        group = acted_group(
            row.request_id, row.query, row.features.ids, row.features.x, n_before,
            len(row.shown), row.actions, rewards, params.beyond,
        )  # fmt: skip
        if group is not None:
            groups.append(group)
    return groups, skipped


def acted_group(
    request_id: str,
    query: str,
    ids: Sequence[str],
    x: NDArray[np.float32],
    n_before: int,
    n_shown: int,
    actions: Sequence[Action],
    rewards: RewardMap,
    beyond: int,
) -> TrainingGroup | None:
    """The training group of one served search (its candidates ``ids`` and rows ``x`` in
    served order, rows ``[n_before, n_before + n_shown)`` on the page), labelled by its
    positive ``actions``; None when none of them is on a candidate: nothing wanted was
    retrieved, a retrieval lesson rather than a ranking one. The log and the simulator both
    build their groups here."""
    wanted = {a.entity_id for a in actions if rewards.action_reward(a) > 0}
    acted = np.fromiter(map(wanted.__contains__, ids), bool, len(ids))
    if not acted.any():
        return None
    return group_of(request_id, x, n_before, n_shown, acted, beyond, query, tuple(ids))


def _page_start(ids: Sequence[str], shown: Sequence[str], offset: int) -> int:
    """Rows before the page: the served list is logged from its top, the page at ``offset``."""
    if shown and offset < len(ids) and ids[offset] == shown[0]:
        return offset
    return 0 if not shown or shown[0] not in ids else list(ids).index(shown[0])


def train_ranker(
    groups: Sequence[TrainingGroup],
    params: LambdaMartParams,
    names: Sequence[str],
    fingerprint: str,
    current: RankModel | None,
    *,
    debias: str | None = None,
) -> tuple[RankModel, TrainReport]:
    """Train a candidate on the older groups, validate it on the recent ones against
    ``current`` (None: the served order). Raises ``TrainingError`` when there is too little."""
    started = time.perf_counter()
    if len(groups) < params.min_groups:
        raise TrainingError(
            f"only {len(groups)} impressions with an acted-on candidate; training needs "
            f"{params.min_groups} ([rank.lambdamart] min_groups); the fallback ranker stays"
        )
    train, valid = split_recent(groups, params.holdout)
    propensities = group_propensities(train, params.beyond, params.min_clicks)
    theta = propensities.theta
    model = fit(train, params, names, fingerprint, theta=theta, debias=debias)
    candidate = ips_dcg(valid, predict_groups(model, valid), theta)
    baseline = _scores(valid, current, fingerprint)
    comparison = compare(candidate, ips_dcg(valid, baseline, theta), seed=params.seed)
    report = TrainReport(
        accepted=comparison.not_worse,
        n_groups=len(groups),
        validation={**comparison.to_dict(), "n_train": len(train)},
        propensities=propensities.to_dict(),
        seconds=round(time.perf_counter() - started, 3),
        reason=""
        if comparison.not_worse
        else "worse than the served ranker on held-out groups "
        "(the 95% interval of the difference is below 0)",
    )
    return model, report


def _scores(
    groups: Sequence[TrainingGroup], current: RankModel | None, fingerprint: str
) -> list[NDArray[np.float64]]:
    if current is None or current.fingerprint != fingerprint:
        return served_scores(groups)
    return predict_groups(current, groups)


def predict_groups(model: RankModel, groups: Sequence[TrainingGroup]) -> list[NDArray[np.float64]]:
    """The model's scores of every group's rows, in one call: per-group calls would hold the
    GIL between them, which a background retrain must not do to the searches beside it."""
    if not groups:
        return []
    scores = model.predict(np.concatenate([g.x for g in groups]))
    return np.split(scores, np.cumsum([len(g.x) for g in groups])[:-1])


def register(registry: ModelRegistry, model: RankModel, report: TrainReport, **fields: Any) -> str:
    """Store ``model`` with ``report`` in its manifest; serve it if it was accepted."""
    version = registry.add(
        model,
        {
            "n_groups": report.n_groups,
            "validation": report.validation,
            "propensities": report.propensities,
            "seconds": report.seconds,
            "reason": report.reason,
            **fields,
        },
        accepted=report.accepted,
    )
    report.version = version
    return version

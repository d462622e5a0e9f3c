"""``lambdamart``: a LightGBM LambdaMART model over the logged features, with a fallback.

LambdaMART (Burges, "From RankNet to LambdaRank to LambdaMART", MSR-TR-2010-82) boosts
regression trees on lambda gradients that optimise nDCG directly; LightGBM's ``lambdarank``
objective is the maintained implementation, with a position-debiased variant (``training``).
The model scores the rows ``rank.features.Featurizer`` computed for the request, so serving
reads exactly the columns training read; a model whose feature fingerprint differs from the
serving code's is refused with an error naming both (``check_features``).

Until a model exists (too little feedback, or every candidate so far was worse than what
users were shown) the ranker is the learned fusion it wraps (``fallback``), which also keeps
learning from feedback: it is the baseline every candidate model is validated against.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ltrr._optional import require
from ltrr.config import Config, section_params
from ltrr.errors import ConfigError, StorageError
from ltrr.merge.rrf import Fused
from ltrr.rank.base import Ranker, RankFeedback
from ltrr.rank.features import CandidateFeatures
from ltrr.rank.forest import Forest
from ltrr.rank.training import (
    DEBIAS,
    Stacked,
    TrainingError,
    TrainingGroup,
    check_debias,
    group_propensities,
    stack,
)
from ltrr.retrieve.base import Candidate
from ltrr.types import Context
from ltrr.understand.base import UnderstoodQuery

logger = logging.getLogger(__name__)
SECTION = "rank.lambdamart"
#: How much each training search weighs: ``none``, all alike (head queries dominate, and their
#: clicks are explained by the memory's features); ``inverse``, 1 / (searches of that query in
#: the training window), so every distinct query weighs the same, as on unseen queries.
QUERY_WEIGHTS: tuple[str, ...] = ("none", "inverse")


@dataclass(frozen=True, slots=True)
class LambdaMartParams:
    """``[rank.lambdamart]``; see ``defaults.toml`` for why each value."""

    n_trees: int = 300
    learning_rate: float = 0.05
    num_leaves: int = 15
    min_data_in_leaf: int = 20
    debias: str = "ipw"
    query_weight: str = "inverse"
    max_position: int = 10
    rerank_depth: int = 50
    feature_memo_rows: int = 200_000
    holdout: float = 0.2
    min_groups: int = 100
    retrain_every: int = 500
    train_window: int = 20_000
    max_weight: float = 20.0
    min_clicks: int = 300
    n_threads: int = 1
    seed: int = 0
    workers: int = 1
    ray_address: str = ""

    def __post_init__(self) -> None:
        check_debias(self.debias)
        if self.query_weight not in QUERY_WEIGHTS:
            raise ConfigError(
                f"{SECTION}.query_weight must be one of {', '.join(QUERY_WEIGHTS)}, "
                f"got {self.query_weight!r}"
            )
        if self.feature_memo_rows < 0:
            rows = self.feature_memo_rows
            raise ConfigError(f"{SECTION}.feature_memo_rows must be >= 0, got {rows}")
        for name in ("n_trees", "num_leaves", "min_data_in_leaf", "max_position", "rerank_depth"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{SECTION}.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("min_groups", "retrain_every", "train_window", "n_threads", "workers"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{SECTION}.{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 < self.holdout < 1.0:
            raise ConfigError(f"{SECTION}.holdout must be in (0, 1), got {self.holdout}")
        if not 0.0 < self.learning_rate <= 1.0:
            raise ConfigError(
                f"{SECTION}.learning_rate must be in (0, 1], got {self.learning_rate}"
            )
        if self.max_weight < 1.0:
            raise ConfigError(f"{SECTION}.max_weight must be >= 1, got {self.max_weight}")

    @property
    def beyond(self) -> int:
        """The position id of a logged candidate that was not on the page."""
        return self.max_position + 1


def lambdamart_params(config: Config) -> LambdaMartParams:
    return section_params(config, SECTION, LambdaMartParams)


def _lightgbm() -> Any:
    return require("lightgbm", "the LambdaMART ranker", "pip install lightgbm==4.7.0")


class RankModel:
    """A trained booster with the feature names it was trained on, served by its compiled flat
    form (``rank.forest``: the same scores, bit for bit, 2x faster) where it has one."""

    def __init__(self, booster: Any, names: Sequence[str], fingerprint: str) -> None:
        self.booster = booster
        self.names = tuple(names)
        self.fingerprint = fingerprint
        self.forest = Forest.from_booster(booster)

    def predict(self, x: NDArray[np.float32]) -> NDArray[np.float64]:
        if len(x) == 0:
            return np.zeros(0)
        if self.forest is not None:
            return self.forest.predict(x)
        out: NDArray[np.float64] = self.booster.predict(x, num_threads=1)
        return out

    def to_string(self) -> str:
        return str(self.booster.model_to_string())

    @classmethod
    def from_string(cls, text: str, names: Sequence[str], fingerprint: str) -> RankModel:
        try:
            booster = _lightgbm().Booster(model_str=text)
        except Exception as exc:  # LightGBMError: a truncated or foreign file
            raise StorageError(f"not a LightGBM model: {exc}") from exc
        return cls(booster, names, fingerprint)

    def check_features(self, fingerprint: str, names: Sequence[str]) -> None:
        """Raise ``StorageError`` unless the serving features are the ones trained on."""
        if fingerprint != self.fingerprint:
            extra = sorted(set(names) - set(self.names))
            missing = sorted(set(self.names) - set(names))
            raise StorageError(
                f"the model was trained on feature set {self.fingerprint} ({len(self.names)} "
                f"features), the serving code computes {fingerprint} ({len(names)}); "
                f"new: {extra or 'none'}, gone: {missing or 'none'}; retrain with ltrr train"
            )


def fit(
    groups: Sequence[TrainingGroup],
    params: LambdaMartParams,
    names: Sequence[str],
    fingerprint: str,
    theta: NDArray[np.float64] | None = None,
    debias: str | None = None,
) -> RankModel:
    """Train a model on ``groups`` with ``debias`` (default ``params.debias``; ``ipw`` uses
    ``theta``, the examination probability per position id, ``theta[p - 1]``, estimated on
    ``groups`` when not given).

    With ``params.workers`` > 1 the groups are sharded over that many Ray workers that train
    one model together through LightGBM's data-parallel learner (``rank.distributed``); the
    rows, labels and weights are the ones prepared here either way."""
    debias = check_debias(debias or params.debias)
    if sum(int(g.label.sum() > 0) for g in groups) == 0:
        raise TrainingError("no group has an acted-on candidate: nothing to learn")
    data, weight = training_rows(groups, params, names, theta, debias)
    if params.workers > 1:
        from ltrr.rank.distributed import fit_data_parallel  # Ray only when asked for

        return fit_data_parallel(data, weight, params, names, fingerprint, debias)
    return RankModel(train_booster(data, weight, params, names, debias), names, fingerprint)


def training_rows(
    groups: Sequence[TrainingGroup],
    params: LambdaMartParams,
    names: Sequence[str],
    theta: NDArray[np.float64] | None,
    debias: str,
) -> tuple[Stacked, NDArray[np.float64] | None]:
    """The groups stacked, and a weight per row (None: all 1): the query weight times, under
    ``ipw``, 1 / pscore of a clicked row; scaled to mean 1 over all rows."""
    data = stack(groups)
    if data.x.shape[1] != len(names):
        raise TrainingError(f"groups have {data.x.shape[1]} features, the names {len(names)}")
    weight = _query_weights(groups, params.query_weight)
    if debias == "ipw":
        if theta is None:  # estimated on the training groups themselves
            theta = group_propensities(groups, params.beyond, params.min_clicks).theta
        pscore = np.maximum(theta[np.minimum(data.position, len(theta)) - 1], 1 / params.max_weight)
        weight = weight * np.where(data.label > 0, 1.0 / pscore, 1.0)
    if params.query_weight == "none" and debias != "ipw":
        return data, None
    # Mean 1 per row: LightGBM's leaf constraints (min_sum_hessian_in_leaf) are absolute.
    return data, weight * (len(weight) / weight.sum())


def train_booster(
    data: Stacked,
    weight: NDArray[np.float64] | None,
    params: LambdaMartParams,
    names: Sequence[str],
    debias: str,
    network: Mapping[str, Any] | None = None,
) -> Any:
    """A LightGBM booster trained on ``data``: all of it, or one worker's shard with
    ``network`` holding LightGBM's data-parallel settings (``rank.distributed``)."""
    lgb = _lightgbm()
    kwargs: dict[str, Any] = {"group": data.group, "free_raw_data": True}
    if debias == "position":
        kwargs["position"] = data.position
    if weight is not None:
        kwargs["weight"] = weight
    # The Dataset's binning runs OpenMP on every core unless told otherwise: a background
    # retrain must leave the searches a core.
    threads = {"num_threads": params.n_threads, "verbosity": -1}
    dataset = lgb.Dataset(
        data.x, label=data.label, feature_name=list(_safe(names)), params=threads, **kwargs
    )
    booster_params = {**_booster_params(params), **(network or {})}
    return lgb.train(booster_params, dataset, num_boost_round=params.n_trees)


def _query_weights(groups: Sequence[TrainingGroup], rule: str) -> NDArray[np.float64]:
    """A weight per row: 1, or 1 / (groups of the row's query) for ``inverse``. A search
    engine's log is mostly its head queries; the ranker that matters is the one that
    generalises to the queries it has not seen, so each distinct query teaches as much."""
    sizes = np.array([len(g.x) for g in groups])
    if rule == "none":
        return np.ones(int(sizes.sum()))
    _, inverse, counts = np.unique(
        np.asarray([g.query for g in groups], dtype=object), return_inverse=True,
        return_counts=True,
    )  # fmt: skip
    return np.repeat(1.0 / counts[inverse], sizes)


def _booster_params(params: LambdaMartParams) -> dict[str, Any]:
    return {
        "objective": "lambdarank",
        "learning_rate": params.learning_rate,
        "num_leaves": params.num_leaves,
        "min_data_in_leaf": params.min_data_in_leaf,
        "lambdarank_truncation_level": 20,
        "num_threads": params.n_threads,
        "deterministic": True,
        "force_row_wise": True,
        "seed": params.seed,
        "verbosity": -1,
    }


def _safe(names: Sequence[str]) -> list[str]:
    """LightGBM's feature names may not hold JSON's special characters; dots are fine."""
    return [n.replace(":", "_") for n in names]


class LambdaMartRanker:
    """The model's order of the candidates when a model is loaded, else ``fallback``'s."""

    name = "lambdamart"

    def __init__(self, fallback: Ranker, model: RankModel | None = None) -> None:
        self.fallback = fallback
        self.model = model
        self.version = ""

    @property
    def n_updates(self) -> int:
        return self.fallback.n_updates

    def swap(self, model: RankModel | None, version: str = "") -> None:
        """Serve ``model`` from the next request on (one reference assignment: atomic)."""
        self.model, self.version = model, version

    def rank(
        self,
        query: UnderstoodQuery,
        context: Context,
        rankings: Mapping[str, Sequence[Candidate]],
        depth: int | None = None,
        features: CandidateFeatures | None = None,
    ) -> list[Fused]:
        if features is None or not self.serves(features):
            return self.fallback.rank(query, context, rankings, depth, features)
        return self.rerank(list(features.fused), features, depth)

    def serves(self, features: CandidateFeatures) -> bool:
        """Whether a model is loaded that reads ``features``' feature set."""
        return self.model is not None and features.fingerprint == self.model.fingerprint

    def rerank(
        self, merged: Sequence[Fused], features: CandidateFeatures | None, depth: int | None
    ) -> list[Fused]:
        """``merged`` (the fallback's complete order) with its top, the candidates whose rows
        ``features`` holds, in the model's order and the rest after them as they were; as it
        is when no model of these features serves. A reranked candidate's score is the
        model's; the rest score below the lowest of those, one apart, so scores stay sorted."""
        model = self.model
        if model is None or features is None or not self.serves(features):
            return list(merged[:depth])
        scores = model.predict(features.x)
        order = np.lexsort((np.arange(len(scores)), -scores))  # ties: merged order
        fused = features.fused
        top = [Fused(fused[i].entity_id, float(scores[i]), fused[i].provenance) for i in order]
        floor = float(scores.min()) - 1.0 if len(scores) else 0.0
        rest = [Fused(f.entity_id, floor - i, f.provenance)
                for i, f in enumerate(merged[len(fused) :])]  # fmt: skip
        return (top + rest)[:depth]

    def update(self, feedback: RankFeedback) -> None:
        self.fallback.update(feedback)

    def describe(self) -> dict[str, Any]:
        return {"model": self.version or None, "fallback": self.fallback.name}


__all__ = ["DEBIAS", "LambdaMartParams", "LambdaMartRanker", "RankModel", "asdict", "fit"]

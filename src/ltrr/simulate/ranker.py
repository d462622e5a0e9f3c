"""The learned ranker in the simulated loop: features logged per search, periodic retraining.

The engine logs each search's feature rows and trains on the log (``learn.train_ranker``);
the simulator has no log, so ``RankerTrainer`` keeps the same rows in memory: per search
with a positive action, the top ``rerank_depth`` served candidates' rows, labelled by the
actions and placed at the positions they were shown (``rank.training.group_of``, the engine's
own code). Every ``retrain_every`` such searches it trains on the most recent ``window``
groups, validates on the newest ``holdout`` share against the model serving (else the order
the fallback served) and swaps the model in only if it is not worse: the engine's
``train_ranker``. The run is a deterministic function of the traffic: training happens at
fixed search counts, LightGBM runs deterministically with one thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ltrr.learn.train_ranker import TrainReport, acted_group, train_ranker
from ltrr.log.events import Action
from ltrr.log.rewards import RewardMap
from ltrr.merge.rrf import Fused
from ltrr.rank.base import Ranker
from ltrr.rank.features import CandidateFeatures, Featurizer
from ltrr.rank.lambdamart import LambdaMartParams, LambdaMartRanker
from ltrr.rank.training import TrainingError, TrainingGroup


@dataclass(slots=True)
class RankerTrainer:
    """Collects training groups from simulated searches and retrains ``ranker``'s model."""

    featurizer: Featurizer
    params: LambdaMartParams
    rewards: RewardMap
    fallback: Ranker
    debias: str | None = None
    groups: list[TrainingGroup] = field(default_factory=list)
    reports: list[TrainReport] = field(default_factory=list)
    ranker: LambdaMartRanker = field(init=False)
    _since: int = 0

    def __post_init__(self) -> None:
        self.ranker = LambdaMartRanker(self.fallback)

    def on_search(
        self,
        request_id: str,
        query: str,
        features: CandidateFeatures | None,
        ranked: Sequence[Fused],
        n_shown: int,
        actions: Sequence[Action],
    ) -> None:
        """Keep the search's group when an action on a logged candidate was positive."""
        if features is None:
            return
        ids, x = features.in_order(ranked[: self.params.rerank_depth])
        group = acted_group(
            request_id, query, ids, x, 0, n_shown, actions, self.rewards, self.params.beyond
        )
        if group is None:
            return
        self.groups.append(group)
        window = self.params.train_window
        if len(self.groups) > window:
            del self.groups[: len(self.groups) - window]
        self._since += 1
        if self._since >= self.params.retrain_every:
            self._since = 0
            self.retrain()

    def retrain(self) -> None:
        names, fingerprint = self.featurizer.names, self.featurizer.fingerprint
        try:
            model, report = train_ranker(
                self.groups,
                self.params,
                names,
                fingerprint,
                self.ranker.model,
                debias=self.debias,
            )
        except TrainingError as exc:
            self.reports.append(TrainReport(n_groups=len(self.groups), reason=str(exc)))
            return
        self.reports.append(report)
        if report.accepted:
            self.ranker.swap(model, f"sim-{len(self.reports)}")

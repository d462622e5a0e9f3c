"""The engine's learned ranking: features for every search, the served model, retraining.

Every search computes the candidates' features (``rank.features``) whether or not a model
serves yet: the log must hold them before the first model can be trained. The served model is
the data directory's current version (``rank.registry``); a process notices a new version
(trained by ``ltrr train``, by another worker, or by its own background retrain) at its next
``refresh`` and swaps it in with one reference assignment, so a search in flight finishes
with the model it started with.

Background retraining (``[rank.lambdamart] retrain_every`` acted-on searches since the last
run) runs on a daemon thread with its own read connection to the log: searches never wait
for it (LightGBM releases the GIL while it builds trees). Only one process of a data
directory trains at a time (a lock file beside the models); the others pick the result up.
With shared state (replicas on several hosts, ``learn.shared_models``), one replica of the log
trains at a time and every replica serves the model it publishes.
"""

from __future__ import annotations

import fcntl
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ltrr.config import strategy_names
from ltrr.errors import StorageError
from ltrr.learn.shared_models import TRAIN_LEASE_S, publish_model, pull_model
from ltrr.learn.snapshot import log_epoch
from ltrr.learn.train_ranker import TrainReport, groups_from_log, register, train_ranker
from ltrr.log.base import ServingLog
from ltrr.log.events import LoggedFeatures
from ltrr.log.rewards import RewardMap
from ltrr.merge.rrf import Fused, fusion_params
from ltrr.rank.base import Ranker
from ltrr.rank.features import CandidateFeatures, Featurizer, Similarities
from ltrr.rank.lambdamart import LambdaMartParams, LambdaMartRanker, RankModel, lambdamart_params
from ltrr.rank.registry import CURRENT, ModelRegistry
from ltrr.rank.rrf import RrfRanker
from ltrr.rank.training import TrainingError, check_debias
from ltrr.retrieve.base import Candidate
from ltrr.retrieve.indexes import IndexSet
from ltrr.storage.datadir import DataDir
from ltrr.storage.shared import SharedState
from ltrr.types import Context
from ltrr.understand.base import UnderstoodQuery

logger = logging.getLogger(__name__)
LOCK_FILE = ".train.lock"
#: Seconds between two polls of the shared state for a newer published model.
SHARED_POLL_S = 1.0


class LearnedRanking:
    """Features, the served model over a fallback ranker, and (re)training for one data dir."""

    def __init__(
        self,
        path: Path,
        featurizer: Featurizer,
        params: LambdaMartParams,
        rewards: RewardMap,
        *,
        enabled: bool = True,
        shared: SharedState | None = None,
        log: ServingLog | None = None,
    ) -> None:
        self.featurizer = featurizer
        self.params = params
        self.rewards = rewards
        self.enabled = enabled
        #: Whether this process retrains in the background (``on_acted``); a worker of
        #: ``ltrr serve`` leaves it to the sidecar process and serves what it trains.
        self.trains = True
        self.registry = ModelRegistry.of(path)
        self._wrapper: LambdaMartRanker | None = None
        self._served: tuple[str | None, float] = (None, -1.0)  # (version, pointer mtime)
        self._thread: threading.Thread | None = None
        self._n_acted_at_train: int | None = None  # set by the first ``on_acted``
        self.last_report: TrainReport | None = None
        self.shared, self.log = shared, log
        self._shared_position, self._shared_polled, self._epoch = -1, -float("inf"), ""
        self.refresh()

    # -- serving ----------------------------------------------------------------------------

    def features(
        self,
        query: UnderstoodQuery,
        context: Context,
        rankings: Mapping[str, Sequence[Candidate]],
        event_time_s: float,
        merged: Sequence[Fused],
    ) -> CandidateFeatures | None:
        """The features of the fallback's top ``rerank_depth`` candidates (``merged`` is its
        complete order), in that order; None when off."""
        if not self.enabled:
            return None
        top = merged[: self.params.rerank_depth]
        return self.featurizer(query, context, rankings, event_time_s, top)

    def rerank(self, merged: Sequence[Fused], features: CandidateFeatures | None) -> list[Fused]:
        """``merged`` with its top (the rows of ``features``) in the served model's order; as
        it is while no model serves."""
        wrapper = self._wrapper
        return list(merged) if wrapper is None else wrapper.rerank(merged, features, None)

    def ranker(self, fallback: Ranker) -> Ranker:
        """The served model over ``fallback`` (the learner's ranker, which replay replaces)."""
        wrapper = self._wrapper
        if wrapper is None or wrapper.model is None:
            return fallback
        if wrapper.fallback is not fallback:
            wrapper.fallback = fallback
        return wrapper

    def logged(
        self, features: CandidateFeatures | None, ranked: Sequence[Fused]
    ) -> LoggedFeatures | None:
        """The rows of the top ``rerank_depth`` served candidates, in served order."""
        if features is None or not len(features.x):
            return None
        ids, x = features.in_order(ranked[: self.params.rerank_depth])
        return LoggedFeatures(features.fingerprint, ids, x)

    def version(self) -> str | None:
        return self._served[0]

    def refresh(self) -> bool:
        """Swap in the registry's current version if it changed (after installing a newer
        published model, with shared state); whether it did."""
        self._pull()
        try:
            mtime = (self.registry.root / CURRENT).stat().st_mtime
        except FileNotFoundError:
            mtime = 0.0
        if mtime == self._served[1]:
            return False
        try:
            version = self.registry.current()
            model = None if version is None else self.registry.load(version)
            if model is not None:
                model.check_features(self.featurizer.fingerprint, self.featurizer.names)
        except StorageError as exc:  # a refused or damaged model: keep serving what serves
            logger.error("ranker model not loaded: %s", exc)
            self._served = (self._served[0], mtime)
            return False
        wrapper = self._wrapper or LambdaMartRanker(RrfRanker())  # fallback set by ``ranker``
        wrapper.swap(model, version or "")
        self._wrapper, self._served = wrapper, (version, mtime)
        return True

    def _pull(self) -> None:
        """Install the shared state's published model if it is newer (at most one poll per
        ``SHARED_POLL_S``; a Redis failure is logged and retried at the next poll)."""
        now = time.monotonic()
        if self.shared is None or not self.enabled or now - self._shared_polled < SHARED_POLL_S:
            return
        self._shared_polled = now
        names, fingerprint = self.featurizer.names, self.featurizer.fingerprint
        try:
            after = (self.epoch(), self._shared_position)
            with _train_lock(self.registry.root, wait=False):  # this directory's workers
                pulled = pull_model(self.shared, self.registry, fingerprint, names, after)
        except BlockingIOError:
            return  # a worker of this directory trains or installs: the next poll retries
        except StorageError as exc:
            logger.warning("published ranker model not read: %s", exc)
            return
        if pulled is not None:
            self._shared_position = pulled

    # -- training ---------------------------------------------------------------------------

    def train(self, log: ServingLog, *, debias: str | None = None) -> TrainReport:
        """Train, validate and register a model from ``log`` now; serve it if accepted."""
        if debias is not None:
            check_debias(debias)  # before reading the log
        with _train_lock(self.registry.root):
            return self._train(log, debias)

    def _train(self, log: ServingLog, debias: str | None) -> TrainReport:
        names, fingerprint = self.featurizer.names, self.featurizer.fingerprint
        groups, skipped = groups_from_log(
            log.acted_features(self.params.train_window), fingerprint, self.rewards, self.params
        )
        current = self._wrapper.model if self._wrapper is not None else None
        try:
            model, report = train_ranker(
                groups, self.params, names, fingerprint, current, debias=debias
            )
        except TrainingError as exc:
            report = TrainReport(n_groups=len(groups), n_skipped=skipped, reason=str(exc))
            self.last_report = report
            return report
        report.n_skipped = skipped
        position = log.last_position()
        debias = debias or self.params.debias
        version = register(self.registry, model, report, debias=debias, log_position=position)
        if report.accepted and self.shared is not None:
            self._publish(self.shared, model, version, position, debias)
        self.refresh()
        self.last_report = report
        return report

    def epoch(self) -> str:
        """The log's epoch (``snapshot.log_epoch``), read once it has events."""
        if not self._epoch and self.log is not None:
            self._epoch = log_epoch(self.log)
        return self._epoch

    def _publish(
        self, shared: SharedState, model: RankModel, version: str, position: int, debias: str
    ) -> None:
        try:
            publish_model(shared, model, version, (self.epoch(), position), debias)
        except StorageError as exc:  # this replica serves it; the others keep theirs
            logger.warning("ranker model %s not published: %s", version, exc)
            return
        self._shared_position = max(self._shared_position, position)

    def on_acted(self, n_acted: int, log: ServingLog) -> None:
        """Start a background retrain when ``retrain_every`` acted-on searches have arrived
        since the last one (``n_acted``: the total so far)."""
        if not (self.enabled and self.trains):
            return
        if self._n_acted_at_train is None:  # opening folded the log: count from there when a
            # model serves already; every process retrained at start-up before, a whole
            # training beside the searches of a service that had just started
            self._n_acted_at_train = n_acted if self.registry.current() is not None else 0
        if n_acted - self._n_acted_at_train < self.params.retrain_every:
            return
        if self._thread is not None and self._thread.is_alive():
            return
        self._n_acted_at_train = n_acted
        self._thread = threading.Thread(
            target=self._background, args=(log,), name="ltrr-ranker-train", daemon=True
        )
        self._thread.start()

    def _background(self, log: ServingLog) -> None:
        lease = None
        try:
            if self.shared is not None:
                lease = self.shared.lease("train", TRAIN_LEASE_S)
                if lease is None:
                    logger.info("another replica is training the ranker")
                    return
            with _train_lock(self.registry.root, wait=False):
                report = self._train(log, None)
                logger.info("ranker retrained: %s", report)
        except BlockingIOError:
            logger.info("another process is training the ranker")
        except Exception:  # a failed retrain must never take the service down
            logger.exception("background ranker training failed")
        finally:
            if lease is not None:
                lease.release()

    def wait(self) -> None:
        """Wait for a running background retrain (tests, shutdown)."""
        if self._thread is not None:
            self._thread.join()

    def describe(self) -> dict[str, Any]:
        """The served model version (None: the fallback ranks), the feature set and the last
        training run's outcome in this process."""
        report = self.last_report
        return {
            "model": self.version(),
            "features": self.featurizer.fingerprint,
            "n_features": len(self.featurizer.names),
            "last_training": None if report is None else {
                "version": report.version, "accepted": report.accepted,
                "n_groups": report.n_groups, "reason": report.reason,
            },
        }  # fmt: skip


class _train_lock:  # noqa: N801 - used as a context manager, read as a phrase
    """An exclusive ``flock`` on ``root/.train.lock`` (``wait=False``: BlockingIOError)."""

    def __init__(self, root: Path, *, wait: bool = True) -> None:
        self.root, self.wait = root, wait

    def __enter__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._fh = (self.root / LOCK_FILE).open("a")
        flags = fcntl.LOCK_EX | (0 if self.wait else fcntl.LOCK_NB)
        try:
            fcntl.flock(self._fh.fileno(), flags)
        except BaseException:
            self._fh.close()
            raise

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
        self._fh.close()


def learned_ranking(
    data_dir: DataDir,
    indexes: IndexSet,
    log: ServingLog | None,
    shared: SharedState | None = None,
) -> LearnedRanking:
    """The learned ranking of an engine over ``indexes`` (on while it has a ``log``): features
    over every configured strategy (not only the open ones, so every process logs the same
    columns)."""
    config = data_dir.config
    dense = indexes.retrievers.get("dense")
    params = lambdamart_params(config)
    featurizer = Featurizer(
        strategy_names(config),
        indexes.text,
        dense if isinstance(dense, Similarities) else None,
        k=fusion_params(config).k,
        memo_rows=params.feature_memo_rows,
    )
    return LearnedRanking(
        data_dir.path, featurizer, params, RewardMap.from_config(config),
        enabled=log is not None, shared=shared, log=log,
    )  # fmt: skip

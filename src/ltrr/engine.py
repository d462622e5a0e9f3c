"""The engine: one object that wires the stages for a data directory.

``Engine.search`` runs understand -> plan (the policy chooses strategies and depths) ->
retrieve -> merge with provenance -> features -> rank (the data directory's LambdaMART model
once one validated, ``learn.ranking``; until then ``[rank] ranker``, by default a fusion whose
weights are learned from feedback) -> log (an impression, with the features, through the
event log's group-commit queue).
``Engine.feedback`` logs an action durably and, once acknowledged, learns from it; a duplicate
action id is acknowledged once and learned once. Everything learned (memory statistics,
exposure, the policy, the ranker) is rebuilt from the log by ``Engine.replay``, which ``open``
runs, so the log stays the source of truth. The CLI and the HTTP service are thin layers.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from pathlib import Path
from typing import Any

from ltrr.catalog.ingest import IngestReport, ingest, parse_records
from ltrr.config import Config, load_config, section_params
from ltrr.engine_lock import EngineLock
from ltrr.errors import LtrrError
from ltrr.learn import restore, snapshot
from ltrr.learn.follow import LogFollower
from ltrr.learn.learner import Learner, LearnParams, query_seen
from ltrr.learn.live import LiveLearning, ToLearn, learn_read
from ltrr.learn.ranking import learned_ranking
from ltrr.learn.train_ranker import TrainReport
from ltrr.log import foreign
from ltrr.log.base import ActionReceipt, ServingLog
from ltrr.log.events import Action, Impression, LoggedFeatures
from ltrr.log.open import data_dir_log
from ltrr.log.rewards import RewardMap
from ltrr.merge.filters import Filters, apply_filters
from ltrr.rank import make_ranker
from ltrr.rank.base import Ranker
from ltrr.response import Result, SearchResponse
from ltrr.retrieve import check_strategies
from ltrr.retrieve.base import Candidate
from ltrr.retrieve.indexes import IndexSet, Probed, Progress
from ltrr.select import SelectParams, make_policy
from ltrr.select.base import Plan, PlanRequest, Policy, policy_probe
from ltrr.select.fixed import manual_plan
from ltrr.storage.datadir import DataDir
from ltrr.storage.entity_cache import EntityCache
from ltrr.storage.shared import SharedState, open_shared_state
from ltrr.types import Context, Entity, EntityId
from ltrr.understand.base import UnderstoodQuery

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SearchParams:
    """``[search]``: defaults of a search request."""

    policy: str = "ltrr"
    seed: int = 0
    depth: int = 100
    max_k: int = 100


class Engine:
    """Search and learn over one data directory. Open with ``Engine.open``; close when done."""

    def __init__(
        self,
        data_dir: DataDir,
        indexes: IndexSet,
        params: SearchParams,
        select: SelectParams,
        log: ServingLog | None,
        *,
        follow: bool = False,
        shared: SharedState | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.indexes = indexes
        self.params = params
        self.select = select
        self.log = log
        self.shared = shared  # what replicas of the log share besides it (storage.shared)
        #: Learn only by following the log (``follow``), never from this process's own calls:
        #: every worker sharing the log then applies the same events in the same order.
        self.following = follow
        #: Serialises the request and learning paths (the service's loop and its follower).
        #: The durable wait of feedback runs outside it, so concurrent actions share a commit.
        self.lock = EngineLock()
        self.learner = Learner(
            indexes.understander.understand,
            indexes.retrievers,
            self._fresh_policy(),
            make_ranker(data_dir.config),
            RewardMap.from_config(data_dir.config),
            select.budget,
            data_dir.config.params("learn", LearnParams),
        )
        self.follower = LogFollower(log, self.learner) if log is not None else None
        self.live = LiveLearning(self._learn_read, self.lock, lambda: self.log)
        self._learned_live = False
        self.ranking = learned_ranking(data_dir, indexes, log, shared)
        self._entities = EntityCache(data_dir.catalog)

    @property
    def policy(self) -> Policy:
        return self.learner.policy

    @property
    def ranker(self) -> Ranker:
        """The served model over the learner's ranker (which replay replaces), or the latter."""
        return self.ranking.ranker(self.learner.ranker)

    def _fresh_policy(self) -> Policy:
        return make_policy(self.params.policy, self.data_dir.config, seed=self.params.seed)

    @classmethod
    def open(
        cls,
        path: Path,
        config: Config | None = None,
        *,
        strategies: Sequence[str] | None = None,
        writer: bool = False,
        serve: bool = False,
        on_progress: Progress | None = None,
    ) -> Engine:
        """Open ``path``, its indexes (built or caught up) and, for a writer, its event log
        (``[log] url``: the directory's SQLite database, or a PostgreSQL schema replicas share).

        A writer replays the log so that learned state equals what the log implies. ``serve``
        opens a service worker: the catalog read-only (written in turns, ``DataDir.writing``),
        the log appended to by every worker, learned state a fold over it (``follow``).
        """
        config = config or load_config(data_dir=path)
        params = config.params("search", SearchParams)
        select = section_params(config, "select", SelectParams)
        names = tuple(strategies or select.strategies)
        check_strategies(names)
        if names != select.strategies:  # the policy plans over the strategies that are open
            config = config.replaced("select", strategies=list(names))
            select = section_params(config, "select", SelectParams)
        data_dir = DataDir(path, config, writer=writer and not serve).open()
        log: ServingLog | None = None
        try:
            indexes = IndexSet.open(data_dir, names, on_progress=on_progress)
            log = data_dir_log(data_dir, append=True) if writer or serve else None
            shared = None if log is None else open_shared_state(config, log.identity)
        except BaseException:
            if log is not None:
                log.close()
            data_dir.close()
            raise
        engine = cls(data_dir, indexes, params, select, log, follow=serve, shared=shared)
        if log is not None:
            engine.resume()
        return engine

    def close(self) -> None:
        """Flush the log and release the data directory."""
        if self.log is not None:
            self.log.close()
            self.log = None
        if self.shared is not None:
            self.shared.close()
        self.data_dir.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the request path -------------------------------------------------------------------

    def search(
        self,
        query: str,
        context: Context | None = None,
        *,
        k: int = 10,
        offset: int = 0,
        filters: Filters | None = None,
        strategies: Sequence[str] | None = None,
        depth: int | None = None,
        request_id: str | None = None,
        event_time_s: float | None = None,
    ) -> SearchResponse:
        """The top ``k`` results after ``offset``, with provenance; logged when writing.

        ``strategies`` bypasses the policy with a fixed plan (each at ``depth``, default
        ``[search] depth``), for debugging and evaluation. Thread-safe.
        """
        with self.lock:
            return self._search(
                query, context, k, offset, filters, strategies, depth, request_id, event_time_s
            )

    def _search(
        self,
        query: str,
        context: Context | None,
        k: int,
        offset: int,
        filters: Filters | None,
        strategies: Sequence[str] | None,
        depth: int | None,
        request_id: str | None,
        event_time_s: float | None,
    ) -> SearchResponse:
        if not 1 <= k <= self.params.max_k:
            raise LtrrError(f"k must be between 1 and {self.params.max_k}, got {k}")
        if offset < 0:
            raise LtrrError(f"offset must be >= 0, got {offset}")
        started = time.perf_counter()
        context = context or Context()
        request_id = request_id or uuid.uuid4().hex
        event_time_s = time.time() if event_time_s is None else event_time_s
        if self.log is not None and not self.following:  # settled by now, as in a replay
            self.learner.settle(event_time_s)
        marks = [started, time.perf_counter()]  # stage boundaries: setup, then one per stage
        understood = self.indexes.understander.understand(query)
        marks.append(time.perf_counter())
        probe = None if strategies else policy_probe(self.policy)  # probe-then-decide
        probed = self.indexes.probe(understood, context, probe) if probe else None
        plan = self._plan(request_id, understood, context, strategies, depth, probed)
        marks.append(time.perf_counter())
        rankings, latency = self.indexes.retrieve(understood, context, plan.depths, probed)
        marks.append(time.perf_counter())
        merged = self.learner.ranker.rank(understood, context, rankings)  # every candidate
        features = self.ranking.features(understood, context, rankings, event_time_s, merged)
        ranked = self.ranking.rerank(merged, features)
        fused = apply_filters(ranked, filters, self.data_dir.catalog)
        page = fused[offset : offset + k]
        ids = [f.entity_id for f in page]
        entities = self._entities.get_many(ids, self.indexes.catalog_version)
        results = tuple(
            Result(entities[f.entity_id], f.score, f.provenance)
            for f in page
            if f.entity_id in entities
        )
        marks.append(time.perf_counter())
        logged = self.ranking.logged(features, ranked) if self.log is not None else None
        self._log(
            request_id, query, context, plan, rankings, results, offset, event_time_s, logged,
            latency,
        )  # fmt: skip
        marks.append(time.perf_counter())
        stages, spans = ("setup", "understand", "plan", "retrieve", "rank", "log"), pairwise(marks)
        stage_ms = {s: (b - a) * 1000 for s, (a, b) in zip(stages, spans, strict=True)}
        return SearchResponse(
            request_id=request_id,
            query=understood,
            plan=plan,
            results=results,
            n_candidates=len(fused),
            model_versions=self.model_versions(plan),
            strategy_latency_ms=latency,
            latency_ms=(marks[-1] - started) * 1000,
            stage_latency_ms=stage_ms,
        )

    def _plan(
        self,
        request_id: str,
        query: UnderstoodQuery,
        context: Context,
        strategies: Sequence[str] | None,
        depth: int | None,
        probed: Probed | None = None,
    ) -> Plan:
        if strategies:
            open_names = list(self.indexes.retrievers)
            return manual_plan(strategies, depth or self.params.depth, open_names)
        scores = None if probed is None else tuple(c.score for c in probed.ranked)
        seen = query_seen(self.indexes.retrievers, query)
        request = PlanRequest(request_id, query, context, self.select.budget, scores, seen)
        plan = self.policy.plan(request)
        depths = {s: d for s, d in plan.depths.items() if s in self.indexes.retrievers}
        return replace(plan, depths=depths)  # keeps how it was drawn (distribution)

    def _log(
        self,
        request_id: str,
        query: str,
        context: Context,
        plan: Plan,
        rankings: Mapping[str, list[Candidate]],
        results: Sequence[Result],
        offset: int,
        event_time_s: float,
        features: LoggedFeatures | None,
        strategy_ms: Mapping[str, float],
    ) -> None:
        if self.log is None:
            return
        lists = {n: [(c.entity_id, c.score) for c in cs] for n, cs in rankings.items()}
        impression = Impression(
            request_id=request_id, user_id=context.user_id, session_id=context.session_id,
            query=query, context=context, plan=plan, strategy_results=lists,
            shown=tuple(r.entity.id for r in results), catalog_version=self.indexes.catalog_version,
            model_versions=self.model_versions(plan), event_time_s=event_time_s, offset=offset,
            features=features, strategy_ms=strategy_ms,
        )  # fmt: skip
        self.log.log_impression(impression)
        if not self.following:
            self.learner.on_impression(impression)
            self._learned_live = True

    def model_versions(self, plan: Plan) -> dict[str, str]:
        """The policy that drew ``plan`` and the ranker, each with its number of updates."""
        return {
            "policy": plan.policy,
            "policy_version": f"{self.policy.name}@{self.learner.n_policy_updates}",
            "ranker": f"{self.ranker.name}@{self.ranking.version() or self.ranker.n_updates}",
        }

    # -- the learning path ------------------------------------------------------------------

    def feedback(self, action: Action, *, learn: str = "now") -> bool:
        """``feedback_many`` of one action (``False``: its id was seen already)."""
        return self.feedback_many([action], learn=learn)[0]

    def feedback_many(self, actions: Sequence[Action], *, learn: str = "now") -> list[bool]:
        """Log ``actions`` durably in one commit, then learn from the new ones, in order; per
        action, ``False`` for an already-seen id. Every action is checked first: an ``EventError``
        (naming the action's index and field) changes nothing. Thread-safe; the fsync runs
        outside the engine's lock. ``learn="background"``: return once durable, learn on a
        thread a moment later (``learn.live``; ``live.wait()`` waits for it)."""
        return self.feedback_learned(self.feedback_submitted(actions, learn), learn)

    def feedback_submitted(
        self, actions: Sequence[Action], learn: str = "now", *, wait: bool = True
    ) -> ActionReceipt:
        """``feedback_many`` up to its durable wait (async callers: ``when_durable``); a request
        not logged yet is awaited outside the lock, or raised (``wait=False``; ``log.foreign``)."""
        if self.log is None:
            raise LtrrError("feedback needs a writer: open the engine with writer=True")
        self.live.check(learn)
        return foreign.submit(self.log, self.lock, actions, wait=wait)

    def feedback_learned(self, receipt: ActionReceipt, learn: str = "now") -> list[bool]:
        """The rest of ``feedback_many``: wait until durable, then learn from the new ones."""
        stored = receipt.wait()
        if not self.following:  # else learned when the log is followed, in log order
            self.live.learn(receipt.actions, stored, receipt.jobs, learn)
        return stored

    def _learn_read(self, log: ServingLog, to_learn: list[ToLearn]) -> None:
        """Learn from acknowledged actions (lock held) that no replay has folded since."""
        if learn_read(self.learner, to_learn, self.follower.position if self.follower else 0):
            self._learned_live = True
        self.ranking.on_acted(self.learner.counts.n_wanted, log)

    # -- the catalog ------------------------------------------------------------------------

    def upsert(self, records: Sequence[Mapping[str, object]]) -> IngestReport:
        """Validate and upsert catalog records (one transaction, all or nothing), then catch
        every index up; a search after this returns sees the change.

        Raises ``CatalogError`` naming the record (``line``: its 1-based position) and field.
        """
        parsed = parse_records(records, self.data_dir.config.catalog)
        with self.lock, self.data_dir.writing() as writer:
            report = ingest(writer.catalog, parsed, strict=True, source="request")
            self._catch_up(writer)
        return report

    def delete(self, ids: Sequence[str]) -> list[EntityId]:
        """Remove entities by id (indexes caught up on return); the ids that were not there."""
        with self.lock, self.data_dir.writing() as writer:
            with writer.catalog.change() as change:
                missing = change.delete([EntityId(i) for i in ids])
            self._catch_up(writer)
        return missing

    def get(self, entity_id: str) -> Entity | None:
        return self.data_dir.catalog.get(entity_id)

    def _catch_up(self, writer: DataDir | None = None) -> None:
        """Catch the indexes up with the catalog; a writer's handle also saves them (the next
        open loads them instead of replaying the changes)."""
        if self.indexes.catch_up(self.data_dir.catalog):
            self.learner.forget_queries()
            if writer is not None and not self.following:  # workers: ltrr serve saves at start
                self.indexes.save(writer.path)

    def replay(self) -> dict[str, Any]:
        """Rebuild every learned state from the event log alone, in log order; what it did."""
        if self.log is None or self.follower is None:
            raise LtrrError("replay needs a writer: open the engine with writer=True")
        with self.lock:
            ranker, policy = make_ranker(self.data_dir.config), self._fresh_policy()
            done = restore.replay(self.follower, self.indexes.retrievers, policy, ranker)
            self._learned_live = False
        return done

    def resume(self) -> dict[str, Any]:
        """Learned state from the newest usable snapshot plus the log after it (a full replay
        when there is none): what opening an engine with a log does."""
        if self.follower is None:
            raise LtrrError("resume needs the event log: open the engine with writer=True")
        with self.lock:
            return restore.resume(
                self.data_dir.path, self.data_dir.config, self.follower, self.indexes.retrievers,
                lambda: self.indexes.catch_up(self.data_dir.catalog), self.replay, self.shared,
            )  # fmt: skip

    def snapshot(self, keep: int = 2) -> Path | None:
        """Write the learned state at the log position applied so far (``learn.snapshot``);
        None when one of that position exists."""
        if self.follower is None:
            raise LtrrError("snapshots need the event log: open the engine with writer=True")
        if self._learned_live:  # live learning does not advance the follower: refold first
            self.replay()
        with self.lock:
            self.follower.follow()
            position, written = self.follower.position, snapshot.save_snapshot(
                self.data_dir.path, self.follower, self.indexes.retrievers,
                self.data_dir.config, keep=keep,
            )  # fmt: skip
        if self.shared is not None:  # packed outside the lock: searches go on
            snapshot.publish(self.shared, self.data_dir.path, self.data_dir.config, position)
        return written

    def follow(self) -> int:
        """Apply the log's new events (every process's) and catch the indexes up with catalog
        changes made elsewhere; the number of events applied. A service worker calls it a few
        times a second."""
        if self.follower is None or not self.following:  # a writer learns live instead
            return 0
        n = self.follower.follow(lock=self.lock)  # the log is read outside the lock
        with self.lock:
            self._catch_up()
        self.ranking.refresh()
        if self.log is not None:
            self.ranking.on_acted(self.learner.counts.n_wanted, self.log)
        return n

    def train(self, debias: str | None = None) -> TrainReport:
        """Train the LambdaMART ranker on the log now (``learn.ranking``); serve it if it is
        not worse than what serves."""
        if self.log is None:
            raise LtrrError("training needs the event log: open the engine with writer=True")
        return self.ranking.train(self.log, debias=debias)

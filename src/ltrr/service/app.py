"""The FastAPI application: the engine opened in its lifespan, routers per resource, and every
error turned into a 4xx JSON body naming the field (``{"error": {"status", "field",
"message"}}``); a 5xx means a bug, never bad input."""

from __future__ import annotations

import fcntl
import gc
import logging
import os
import signal
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from pydantic import BaseModel

from ltrr import __version__
from ltrr.config import Config, load_config
from ltrr.engine import Engine
from ltrr.errors import LtrrError
from ltrr.learn.shared_policy import SharedPolicy
from ltrr.service import (
    routes_catalog,
    routes_feedback,
    routes_ops,
    routes_requests,
    routes_search,
    routes_web,
)
from ltrr.service.encoding import JSON
from ltrr.service.errors import add_error_handlers
from ltrr.service.fast_path import Answer, FastPaths, fast_routes
from ltrr.service.limits import BodyLimit
from ltrr.service.metrics import Metrics, MetricsMiddleware
from ltrr.service.schemas import FeedbackBatch, FeedbackRequest, SearchRequest
from ltrr.service.settings import ServiceParams, service_params

logger = logging.getLogger(__name__)


DATA_ENV = "LTRR_SERVE_DATA"
CONFIG_ENV = "LTRR_SERVE_CONFIG"
SIDECAR_ENV = "LTRR_SERVE_SIDECAR"
PARENT_ENV = "LTRR_SERVE_PARENT"
#: How long a replica that died while snapshotting keeps the others from taking over.
SNAPSHOT_LEASE_S = 300.0

#: Opens the engine the app serves (tests pass their own).
EngineFactory = Callable[[], Engine]


def create_app(
    open_engine: EngineFactory,
    params: ServiceParams,
    *,
    title: str = "ltrr",
    sidecar: bool = False,
    parent: int | None = None,
) -> FastAPI:
    """The service over the engine ``open_engine`` returns (opened at start-up, closed at
    shutdown, so the log is flushed and caught-up indexes saved). ``sidecar``: a
    ``service.sidecar`` process snapshots learned state and retrains the ranker, not this one.
    ``parent``: the ``ltrr serve`` process of a worker (``Follower``)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = open_engine()
        app.state.engine = engine
        engine.ranking.trains = not sidecar
        if engine.log is not None:
            log = engine.log
            app.state.metrics.watch_queue(lambda: float(log.n_queued()))
        app.state.metrics.watch_caches(lambda: cache_counts(engine))
        follower = Follower(
            engine, params.follow_interval_ms / 1000, None if sidecar else params.snapshot_every,
            shared_policy(engine, params.policy_publish_ms / 1000), parent=parent,
        )  # fmt: skip
        follower.start()
        # What opening built (indexes, catalog caches, the replayed state: about 120,000
        # objects at 100k entities) lives as long as the process; a full collection traversed
        # it all, 65 ms at load on this machine, a pause in whichever request triggered it.
        # Frozen, it is left out of every collection (the frozen set is not garbage).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            follower.stop()
            app.state.engine = None
            engine.close()

    app = FastAPI(
        title=title,
        version=__version__,
        description="Learning to rank and retrieve: search, feedback, catalog and stats.",
        lifespan=lifespan,
        default_response_class=JSON,
        telemetry={
            "tracing": params.opentelemetry,
            "metrics": params.opentelemetry,
            "logs": params.opentelemetry,
        },
    )
    app.state.params = params
    app.state.metrics = Metrics()
    app.state.engine = None
    routers = (routes_search, routes_feedback, routes_catalog, routes_requests, routes_ops)
    for module in (*routers, routes_web):
        app.include_router(module.router)
    app.mount("/web", routes_web.static_files(), name="web")
    add_error_handlers(app)
    if params.fast_path:
        hot: dict[str, tuple[type[BaseModel], Answer]] = {
            "/v1/search": (SearchRequest, routes_search.answer),
            "/v1/feedback": (FeedbackRequest, routes_feedback.answer_one),
            "/v1/feedback/batch": (FeedbackBatch, routes_feedback.answer_batch),
        }
        routes = [r for module in (routes_search, routes_feedback) for r in module.router.routes]
        app.add_middleware(FastPaths, routes=fast_routes(routes, hot))
    app.add_middleware(BodyLimit, max_bytes=params.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    return app


def serve_app(
    path: Path,
    config: Config,
    params: ServiceParams,
    *,
    sidecar: bool = False,
    parent: int | None = None,
) -> FastAPI:
    """The app of one service worker over the data directory ``path``: the catalog read (and
    written in turns), the log shared with the other workers and followed."""
    open_engine = lambda: Engine.open(path, config, serve=True)  # noqa: E731
    return create_app(open_engine, params, sidecar=sidecar, parent=parent)


def app_from_env() -> FastAPI:
    """``serve_app`` from ``$LTRR_SERVE_DATA`` and ``$LTRR_SERVE_CONFIG``: what each uvicorn
    worker process builds (``ltrr serve --workers N``); ``$LTRR_SERVE_SIDECAR`` set: a
    sidecar process snapshots and retrains; ``$LTRR_SERVE_PARENT``: the supervising process
    of worker processes, whose death stops them."""
    path = Path(os.environ[DATA_ENV])
    config_path = os.environ.get(CONFIG_ENV)
    config = load_config(Path(config_path) if config_path else None, data_dir=path)
    sidecar = bool(os.environ.get(SIDECAR_ENV))
    parent = int(os.environ[PARENT_ENV]) if os.environ.get(PARENT_ENV) else None
    return serve_app(path, config, service_params(config), sidecar=sidecar, parent=parent)


def shared_policy(engine: Engine, publish_s: float) -> SharedPolicy | None:
    """One policy for every replica of the log, when they share state and ``publish_s`` > 0."""
    if engine.shared is None or engine.follower is None or not publish_s > 0:
        return None
    config = engine.data_dir.config
    return SharedPolicy(engine.shared, engine.follower, config, engine.lock, publish_s)


class Follower:
    """A daemon thread applying the log's new events to the engine every ``interval_s``,
    snapshotting learned state every ``snapshot_every`` events (one process at a time; None:
    never, when ``service.sidecar`` takes them), and publishing or installing the shared
    policy (``learn.shared_policy``)."""

    def __init__(
        self,
        engine: Engine,
        interval_s: float,
        snapshot_every: int | None,
        policy: SharedPolicy | None = None,
        snapshot_at: int | None = None,
        parent: int | None = None,
    ) -> None:
        self.engine = engine
        #: The ``ltrr serve`` process of a worker: a worker whose parent died (kill -9) stops
        #: itself (SIGTERM: a clean shutdown) instead of serving on, orphaned, on its port.
        self.parent = parent
        self.policy = policy
        self.interval_s = interval_s
        self.snapshot_every = snapshot_every
        # The position of the last snapshot (default: where opening the engine got to).
        opened = engine.follower.position if engine.follower else 0
        self._snapshot_at = opened if snapshot_at is None else snapshot_at
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ltrr-follow", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        if self.snapshot_every is not None:
            self.engine.follow()  # the last events, before the last snapshot
        self._snapshot(force=True)
        if self.policy is not None:
            self.policy.close()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            if parent_gone(self.parent):
                logger.warning("ltrr serve (pid %s) is gone: this worker stops", self.parent)
                stop_process()
                return
            try:
                self.engine.follow()
                if self.policy is not None:
                    self.policy.tick()
                self._snapshot(force=False)
            except Exception:  # keep following; the next round retries
                logger.exception("following the log failed")

    def _snapshot(self, *, force: bool) -> None:
        if self.snapshot_every is None:
            return
        position = self.engine.follower.position if self.engine.follower else 0
        due = position - self._snapshot_at >= (1 if force else self.snapshot_every)
        if not due:
            return
        lease = None
        if self.engine.shared is not None and not force:  # one replica of the log at a time
            try:
                lease = self.engine.shared.lease("snapshot", SNAPSHOT_LEASE_S)
            except LtrrError as exc:
                logger.warning("snapshot lease not taken: %s", exc)
            if lease is None:
                self._snapshot_at = position  # another replica snapshots (and publishes) it
                return
        lock = self.engine.data_dir.path / "snapshot.lock"
        try:
            with lock.open("a+b") as fh:
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return  # another worker is writing one
                try:
                    self.engine.snapshot()
                except Exception:
                    logger.exception("snapshot at log position %d failed", position)
                finally:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        finally:
            if lease is not None:
                lease.release()
        self._snapshot_at = position


def parent_gone(parent: int | None) -> bool:
    """Whether ``parent`` (a process that started this one; None: none to watch) is gone:
    this process was handed to another parent."""
    return parent is not None and os.getppid() != parent


def stop_process() -> None:
    """Ask this process to shut down as on Ctrl-C from a supervisor (uvicorn's SIGTERM)."""
    os.kill(os.getpid(), signal.SIGTERM)


def cache_counts(engine: Engine) -> dict[str, tuple[int, int]]:
    """(hits, misses) so far of the engine's repeated-query caches that are on: candidate lists
    (``retrieve.list_cache``) and the ranker's feature rows (``rank.feature_memo``)."""
    out = {}
    if (lists := engine.indexes.cache) is not None:
        out["lists"] = (lists.hits, lists.misses)
    if (rows := engine.ranking.featurizer.memo) is not None:
        out["feature_rows"] = (rows.hits, rows.misses)
    return out

"""Prometheus series of one service (its own registry, so two apps in a process never mix).

Per route: requests by status and a latency histogram; per strategy: retrieve latency; the
time an acknowledged feedback request waited for durability; the log's queue depth and the
repeated-query caches' hits and misses, read at scrape time.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_PID = str(os.getpid()).encode()
_MS_BUCKETS = (0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 1.0, 4.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "ltrr_http_requests", "HTTP requests by route and status", ["route", "status"],
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "ltrr_http_request_seconds", "HTTP request latency by route", ["route"],
            buckets=_MS_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.strategy_latency = Histogram(
            "ltrr_strategy_retrieve_seconds", "Retrieve latency by strategy", ["strategy"],
            buckets=_MS_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.durable = Histogram(
            "ltrr_feedback_durable_seconds", "Feedback: time until the actions were durable",
            buckets=_MS_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.queue_depth = Gauge(
            "ltrr_log_queue_depth", "Impressions queued for the next group commit",
            registry=self.registry,
        )  # fmt: skip

    def watch_queue(self, depth: Callable[[], float]) -> None:
        self.queue_depth.set_function(depth)

    def watch_caches(self, counts: Callable[[], Mapping[str, tuple[int, int]]]) -> None:
        """Serve ``counts()`` (cache name -> (hits, misses) so far) as
        ``ltrr_cache_lookups_total{cache, result}``, read at each scrape."""
        self.registry.register(_CacheLookups(counts))

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def route_latency_ms(self) -> dict[str, dict[str, float]]:
        """p50 and p99 request latency per route (milliseconds), from the histogram's buckets
        as Prometheus' ``histogram_quantile`` computes them; this worker's requests only."""
        route_to_buckets: dict[str, list[tuple[float, float]]] = {}
        for family in self.latency.collect():
            for sample in family.samples:
                if sample.name.endswith("_bucket"):
                    le = float(sample.labels["le"])
                    route_to_buckets.setdefault(sample.labels["route"], []).append(
                        (le, sample.value)
                    )
        out: dict[str, dict[str, float]] = {}
        for route, buckets in sorted(route_to_buckets.items()):
            buckets.sort()
            n = buckets[-1][1]
            if n > 0:
                out[route] = {
                    "n": n,
                    "p50": 1000 * bucket_quantile(0.5, buckets),
                    "p99": 1000 * bucket_quantile(0.99, buckets),
                }
        return out


class _CacheLookups:
    """A collector of counters the engine keeps itself (no per-lookup call into Prometheus)."""

    def __init__(self, counts: Callable[[], Mapping[str, tuple[int, int]]]) -> None:
        self.counts = counts

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "ltrr_cache_lookups", "Repeated-query cache look-ups by cache and result",
            labels=["cache", "result"],
        )  # fmt: skip
        for cache, (hits, misses) in sorted(self.counts().items()):
            family.add_metric([cache, "hit"], hits)
            family.add_metric([cache, "miss"], misses)
        yield family


def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """The ``q``-quantile of a histogram given as sorted (upper bound, cumulative count) pairs,
    the last bound ``+Inf``: linear within the bucket that holds it, as Prometheus'
    ``histogram_quantile`` does (a quantile in the ``+Inf`` bucket is the last finite bound).

    >>> bucket_quantile(0.5, [(1.0, 2.0), (2.0, 4.0), (float("inf"), 4.0)])
    1.0
    >>> bucket_quantile(0.75, [(1.0, 2.0), (2.0, 4.0), (float("inf"), 4.0)])
    1.5
    """
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if upper == float("inf"):
                return lower
            inside = count - below
            return lower + (upper - lower) * ((rank - below) / inside if inside else 0.0)
        lower, below = upper, count
    return lower


class MetricsMiddleware:
    """Counts and times every request under its route template (``/v1/search``) and names the
    worker process that answered (``x-ltrr-worker``)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
                # which worker answered: operators (and benchmarks) can tell workers apart
                message["headers"] = [*message.get("headers", ()), (b"x-ltrr-worker", _PID)]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", "unmatched")
            self.metrics.requests.labels(name, str(status[0])).inc()
            self.metrics.latency.labels(name).observe(time.perf_counter() - started)

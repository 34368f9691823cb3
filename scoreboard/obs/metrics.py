"""Prometheus metrics (prometheus-client).

With ``serve --workers N`` the parent sets ``PROMETHEUS_MULTIPROC_DIR`` for its
children, and every process's ``/metrics`` answers for all of them
(prometheus-client's multiprocess mode). Figures that live in Redis
(persistence lag) are read at scrape time, so they are the same from every
process.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from ..tasks import background, reraise_if_cancelling

REQUESTS = Counter("scoreboard_http_requests_total", "HTTP requests by route and status",
                   ["method", "route", "status"])
LATENCY_BUCKETS = (.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5)
LATENCY = Histogram("scoreboard_http_request_seconds", "HTTP request latency by route",
                    ["method", "route"], buckets=LATENCY_BUCKETS)
UPDATES = Counter("scoreboard_score_updates_total",
                  "Score updates by action and outcome (accepted, replay, or the refusal's "
                  "outcome in the error registry)", ["action", "outcome"])
WS_CLIENTS = Gauge("scoreboard_ws_clients", "Connected WebSocket clients",
                   multiprocess_mode="livesum")
REDIS_REPLICAS = Gauge("scoreboard_redis_replicas",
                       "Redis replicas connected to the master, each of which an update "
                       "waits for (REDIS_WAIT_REPLICAS=connected)", multiprocess_mode="livemin")
WS_SENT = Counter("scoreboard_ws_messages_sent_total", "WebSocket messages written")
WS_DROPPED = Counter("scoreboard_ws_clients_dropped_total",
                     "WebSocket clients dropped for not reading")
CACHE_REFRESHES = Counter("scoreboard_cache_refreshes_total", "Top-10 cache refreshes by Worker 2")
PERSISTED = Counter("scoreboard_events_persisted_total", "Events written to PostgreSQL")
DEAD_LETTERED = Counter("scoreboard_events_dead_lettered_total",
                        "Events moved to the dead-letter stream")
REPLAYED = Counter("scoreboard_events_replayed_total",
                   "Events a PostgreSQL server lacked, written again from the stream's "
                   "retention window after a failover")
DETECTED = Counter("scoreboard_events_detected_total",
                   "Events the anomaly detectors folded into players' sketches")
FLAGS = Counter("scoreboard_flags_total", "Anomaly flags raised, by detector", ["detector"])
WEBHOOK = Counter("scoreboard_flag_webhook_total",
                  "Flag webhook deliveries by outcome (sent, retried, dropped)", ["outcome"])
CONNECTIONS_REFUSED = Counter("scoreboard_http_connections_refused_total",
                              "Connections refused with 503 at HTTP_MAX_CONNECTIONS")
CONNECTIONS_EXPIRED = Counter("scoreboard_http_connections_expired_total",
                              "Connections closed for sending no request head in time, or "
                              "to make room at HTTP_MAX_CONNECTIONS")
BACKEND_ERRORS = Counter("scoreboard_backend_errors_total", "Redis and PostgreSQL errors",
                         ["backend"])



class RequestTally:
    """Every request, and every score update's outcome, counted in plain Python on its
    path, handed to prometheus-client in bulk by ``flush``: at each scrape of this
    process, and every second (for the other processes' scrapes under ``--workers``).

    prometheus-client takes a lock per value and walks the buckets in Python on each
    ``observe``; per request that was about a tenth of the cached top 10's cost. It has
    no public call to add many observations at once, so ``flush`` adds each bucket's
    count and the sum to the histogram child's values (its ``_buckets`` and ``_sum``);
    tests/unit/test_metrics.py holds the result to what ``observe`` gives, so a
    prometheus-client that changes them fails there.
    """

    def __init__(self, requests: Counter, latency: Histogram, bounds: tuple[float, ...],
                 updates: Counter) -> None:
        self.requests = requests
        self.latency = latency
        self.bounds = bounds
        self.update_counter = updates
        # (method, route, status) -> [count, sum of seconds, count per bucket (+Inf last)]
        self._rows: dict[tuple[str, str, int], list[Any]] = {}
        self._updates: dict[tuple[str, str], int] = {}  # (action, outcome) -> count

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        row = self._rows.get((method, route, status))
        if row is None:
            row = self._rows[(method, route, status)] = [0, 0.0, [0] * (len(self.bounds) + 1)]
        row[0] += 1
        row[1] += seconds
        row[2][bisect.bisect_left(self.bounds, seconds)] += 1

    def count_update(self, action: str, outcome: str) -> None:
        key = (action, outcome)
        self._updates[key] = self._updates.get(key, 0) + 1

    def flush(self) -> None:
        updates, self._updates = self._updates, {}
        for (action, outcome), n in updates.items():
            self.update_counter.labels(action, outcome).inc(n)
        rows, self._rows = self._rows, {}
        for (method, route, status), (count, total, buckets) in rows.items():
            self.requests.labels(method, route, str(status)).inc(count)
            child = self.latency.labels(method, route)
            child._sum.inc(total)
            for i, n in enumerate(buckets):
                if n:
                    child._buckets[i].inc(n)


TALLY = RequestTally(REQUESTS, LATENCY, LATENCY_BUCKETS, UPDATES)


def count_update(action: str, outcome: str) -> None:
    """``outcome``: accepted, replay, or ``errors.outcome_of(code)`` for a refusal."""
    TALLY.count_update(action, outcome)


log = logging.getLogger(__name__)
FLUSH_S = 1.0


async def tally_step(app: web.Application) -> AsyncIterator[None]:
    """Hands ``TALLY`` to prometheus-client every ``FLUSH_S``, and once more at the end."""

    async def flushing() -> None:
        while True:
            await asyncio.sleep(FLUSH_S)
            TALLY.flush()

    async with background(flushing()):
        yield
    TALLY.flush()


class LagCollector:
    """Persistence lag, read from Redis when Prometheus scrapes."""

    def __init__(self) -> None:
        self.waiting = 0.0
        self.oldest_age = 0.0

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily("scoreboard_persist_events_waiting",
                                "Accepted events not yet in PostgreSQL", value=self.waiting)
        yield GaugeMetricFamily("scoreboard_persist_oldest_age_seconds",
                                "Age of the oldest event not yet in PostgreSQL",
                                value=self.oldest_age)


def render(lag: LagCollector) -> tuple[bytes, str]:
    TALLY.flush()
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
        registry.register(lag)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    registry.register(lag)
    return generate_latest(REGISTRY) + generate_latest(registry), CONTENT_TYPE_LATEST


async def guarded(what: str, run: Callable[[], Awaitable[Any]]) -> None:
    """A scheduled job's run: an error is counted and logged, and the scheduler keeps
    going (its next run retries)."""
    try:
        await run()
    except Exception as exc:
        reraise_if_cancelling()
        BACKEND_ERRORS.labels(backend_of(exc)).inc()
        log.warning("%s failed: %s: %s", what, exc.__class__.__name__, exc)


def backend_of(exc: BaseException) -> str:
    module = type(exc).__module__
    if module.startswith("redis"):
        return "redis"
    if module.startswith("asyncpg"):
        return "postgres"
    return "other"

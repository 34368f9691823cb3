"""The application factory: no I/O here; every resource is one cleanup_ctx step."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from . import appkeys as keys
from .api.requests import MAX_BATCH_BODY
from .api.routes import setup_routes
from .auth.sessions import SessionChecker
from .auth.tokens import TokenVerifier
from .board.admin import BoardAdmin
from .board.contests import Contests
from .board.history import History
from .board.refresher import CacheRefresher
from .board.registry import Boards
from .board.seasons import Seasons
from .board.views import Views
from .flags.detector import Detector
from .flags.review import Review
from .flags.review import public as flag_public
from .flags.webhook import Webhook
from .live.hub import Hub
from .obs import metrics
from .obs.metrics import LagCollector
from .persist.pool import ServerWatch, create_pool
from .persist.worker import Persister
from .players import users
from .players.moderation import Moderation
from .scoring.service import ScoreService
from .settings import Config, describe_redis, mask_url
from .store.autopipe import wait_ms
from .store.client import Clients, RedisClient, open_clients
from .store.replicas import ReplicaWatch
from .tasks import background
from .trust import admin as key_admin
from .trust.keys import KeyRing

log = logging.getLogger(__name__)
FINAL_FLUSH_S = 5.0
SEASON_CHECK_S = 1.0  # a board's season ends within this of its instant


def create_app(config: Config, *, redis: RedisClient | None = None,
               pg: asyncpg.Pool | None = None,
               scheduler: bool = True) -> web.Application:
    """Build the app. Pass ``redis``/``pg`` to use clients the caller owns (tests)."""
    # the largest body a route takes; each route checks its own (no middleware: see
    # api/middleware.py)
    app = web.Application(client_max_size=MAX_BATCH_BODY)
    app[keys.CONFIG] = config
    app[keys.VERIFIER] = TokenVerifier(config)
    app[keys.LAG] = LagCollector()
    app.cleanup_ctx.append(metrics.tally_step)
    app.cleanup_ctx.append(_redis_step(redis))
    app.cleanup_ctx.append(_pg_step(pg))
    app.cleanup_ctx.append(_services_step)
    app.cleanup_ctx.append(_keys_step)
    app.cleanup_ctx.append(_flags_step)
    app.cleanup_ctx.append(_replicas_step)
    app.cleanup_ctx.append(_hub_step)
    if scheduler:
        app.cleanup_ctx.append(_scheduler_step)
    app.on_shutdown.append(_close_sockets)
    setup_routes(app)
    return app


def redis_clients(config: Config) -> Clients:
    """The process's Redis clients, as the configuration says to find Redis."""
    return open_clients(
        url=config.redis_url or "", cluster=config.redis_cluster,
        sentinels=config.redis_sentinels, master=config.redis_sentinel_master,
        password=config.redis_password, timeout=config.request_timeout_s,
        replicas=config.wait_replicas, follow=config.follow_replicas)


def _redis_step(given: RedisClient | None) -> Any:
    async def step(app: web.Application) -> AsyncIterator[None]:
        config = app[keys.CONFIG]
        if given is not None:
            app[keys.REDIS] = app[keys.REDIS_ONCE] = given
            yield
            return
        if not config.redis_url and not config.redis_sentinels:
            raise RuntimeError("REDIS_URL is not set")
        clients = redis_clients(config)
        app[keys.REDIS], app[keys.REDIS_ONCE] = clients.redis, clients.once
        if clients.pipe is not None:
            app[keys.AUTOPIPE] = clients.pipe
        if clients.sentinels is not None:
            app[keys.SENTINELS] = clients.sentinels
        try:
            await app[keys.REDIS].ping()
            log.info("redis connected: %s", describe_redis(config))
            yield
        finally:
            await clients.aclose()

    return step


def _pg_step(given: asyncpg.Pool | None) -> Any:
    async def step(app: web.Application) -> AsyncIterator[None]:
        config = app[keys.CONFIG]
        if given is not None:
            app[keys.PG] = given
            yield
            return
        if not config.database_url:
            raise RuntimeError("DATABASE_URL is not set")
        watch = app[keys.PG_WATCH] = ServerWatch()
        pool = await create_pool(config.database_url, max_size=config.pg_pool_size, watch=watch)
        app[keys.PG] = pool
        try:
            await pool.fetchval("SELECT 1")
            log.info("postgres connected: %s", mask_url(config.database_url))
            yield
        finally:
            await pool.close()

    return step


async def _services_step(app: web.Application) -> AsyncIterator[None]:
    config = app[keys.CONFIG]
    redis = app[keys.REDIS]
    await users.ensure_profiles(app[keys.PG], redis)
    boards = app[keys.BOARDS] = Boards(redis, app[keys.PG])
    await boards.ensure()
    await boards.load()
    app[keys.SCORES] = ScoreService(config, app[keys.REDIS_ONCE], app[keys.PG], boards,
                                    app.get(keys.AUTOPIPE))
    app[keys.SESSIONS] = SessionChecker(redis, app.get(keys.AUTOPIPE))
    # Each process's hub replaces a board's memo on every change it is told of (and
    # after a Pub/Sub reconnect), so the memo only needs to outlive nothing longer than
    # the Redis copy it mirrors: one refresh interval.
    app[keys.VIEWS] = Views(redis, app.get(keys.AUTOPIPE), ttl_s=config.cache_ttl_s,
                            memo_age_s=config.cache_refresh_interval_s)
    app[keys.BOARD_ADMIN] = BoardAdmin(app[keys.PG], redis, boards, config.actions,
                                       boards_max=config.boards_max)
    app[keys.CONTESTS] = Contests(app[keys.REDIS_ONCE], app.get(keys.AUTOPIPE))
    app[keys.HISTORY] = History(app[keys.PG], redis, app.get(keys.AUTOPIPE),
                                timeout_s=config.request_timeout_s,
                                slots=max(1, config.pg_pool_size // 2))
    app[keys.PERSISTER] = Persister(
        redis, app[keys.PG], batch_size=config.persist_batch_size,
        claim_idle_ms=config.persist_claim_idle_ms, retention_s=config.persist_retention_s,
        replicas=config.wait_replicas, wait_ms=wait_ms(config.request_timeout_s),
        watch=app.get(keys.PG_WATCH))
    app[keys.SEASONS] = Seasons(app[keys.PG], redis, boards,
                                batch=config.persist_mode == "batch",
                                replayed=app[keys.PERSISTER].replayed_here)
    app[keys.REFRESHER] = CacheRefresher(redis, app[keys.PG], boards, app[keys.VIEWS],
                                         interval_s=config.cache_refresh_interval_s)
    app[keys.MODERATION] = Moderation(app[keys.PG], redis)
    yield


async def _keys_step(app: web.Application) -> AsyncIterator[None]:
    """Server keys: Redis's grants refreshed from PostgreSQL (a new or wiped Redis), then
    this process's copy, polled for changes."""
    pool, redis = app[keys.PG], app[keys.REDIS]
    await key_admin.sync(pool, redis)
    ring = app[keys.KEYRING] = KeyRing(redis, pool)
    await ring.load()
    app[keys.KEY_ADMIN] = key_admin.KeyAdmin(pool, redis, app[keys.CONFIG].actions, ring)
    stop = asyncio.Event()
    task = asyncio.create_task(ring.run(stop), name="server-keys")
    try:
        yield
    finally:
        stop.set()  # ends between polls; cancelled only if a poll hangs
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(task, app[keys.CONFIG].request_timeout_s * 2)


async def _flags_step(app: web.Application) -> AsyncIterator[None]:
    """The anomaly detectors (their passes are a scheduled job), the review queue, and
    the webhook's sender when FLAG_WEBHOOK_URL is set."""
    config = app[keys.CONFIG]
    app[keys.REVIEW] = Review(app[keys.PG], app[keys.REDIS], app[keys.MODERATION],
                              timeout_s=config.request_timeout_s)
    hook = Webhook(config.flag_webhook_url) if config.flag_webhook_url else None
    app[keys.DETECTOR] = Detector(app[keys.REDIS], app[keys.PG], config,
                                  on_flag=(lambda row: hook.offer(flag_public(row)))
                                  if hook is not None else None)
    if hook is None:
        yield
        return
    app[keys.WEBHOOK] = hook
    async with background(hook.run(), name="flag-webhook"):
        yield


async def _replicas_step(app: web.Application) -> AsyncIterator[None]:
    """With REDIS_WAIT_REPLICAS=connected: updates and Worker 1 wait for the replicas the
    master has connected (store/replicas.py)."""
    pipe = app.get(keys.AUTOPIPE)
    if not app[keys.CONFIG].follow_replicas or pipe is None:
        yield
        return
    watch = app[keys.REPLICAS] = ReplicaWatch(pipe, [app[keys.PERSISTER]],
                                              report=metrics.REDIS_REPLICAS.set)
    async with watch.running():
        yield


async def _hub_step(app: web.Application) -> AsyncIterator[None]:
    sentinels = app.get(keys.SENTINELS)
    hub = Hub(app[keys.CONFIG], app[keys.REDIS], app[keys.BOARDS], app[keys.VIEWS],
              locate=sentinels.address if sentinels else None, contests=app[keys.CONTESTS])
    app[keys.HUB] = hub
    await hub.start()
    try:
        yield
    finally:
        await hub.stop()


async def _close_sockets(app: web.Application) -> None:
    await app[keys.HUB].close_all()


class RunningJobs:
    """Counts the scheduled jobs in flight, so a stop can let them finish
    instead of cancelling them mid-transaction."""

    def __init__(self) -> None:
        self.running = 0
        self.idle = asyncio.Event()
        self.idle.set()

    def wrap(self, fn: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        @functools.wraps(fn)
        async def run() -> None:
            self.running += 1
            self.idle.clear()
            try:
                await fn()
            finally:
                self.running -= 1
                if not self.running:
                    self.idle.set()

        return run


async def _scheduler_step(app: web.Application) -> AsyncIterator[None]:
    config = app[keys.CONFIG]
    sched = AsyncIOScheduler()
    jobs = RunningJobs()
    opts: dict[str, Any] = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
    sched.add_job(jobs.wrap(app[keys.REFRESHER].job), "interval",
                  seconds=config.cache_refresh_interval_s, id="cache_top10", **opts)
    sched.add_job(jobs.wrap(app[keys.SEASONS].job), "interval", seconds=SEASON_CHECK_S,
                  id="seasons", **opts)
    if config.persist_mode == "batch":
        sched.add_job(jobs.wrap(app[keys.PERSISTER].job), "interval",
                      seconds=config.persist_interval_s, id="persist_events", **opts)
    if config.detect_interval_s > 0:
        sched.add_job(jobs.wrap(app[keys.DETECTOR].job), "interval",
                      seconds=config.detect_interval_s, id="detect", **opts)
    sched.start()
    try:
        yield
    finally:
        sched.pause()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(jobs.idle.wait(), FINAL_FLUSH_S)
        sched.shutdown(wait=False)
        if config.persist_mode == "batch":
            # one last flush, bounded: what is left stays pending in the stream and
            # another process (or this one's successor) claims it
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(app[keys.PERSISTER].job(), FINAL_FLUSH_S)

"""Worker 2: keeps every live board's cached top 10 fresh (`global`'s is the seed's
``leaderboard:top10``); one process at a time holds the lock."""

from __future__ import annotations

import logging
import uuid

import asyncpg

from ..obs import metrics
from ..players import users
from ..store import keys, scripts
from ..store.client import RedisClient
from .registry import Boards
from .top10 import Top10Cache
from .views import Views

log = logging.getLogger(__name__)


class CacheRefresher:
    def __init__(self, redis: RedisClient, pool: asyncpg.Pool, boards: Boards, views: Views, *,
                 interval_s: float) -> None:
        self.redis = redis
        self.pool = pool
        self.boards = boards
        self.views = views
        self.lock_ms = max(1000, int(interval_s * 3000))
        self.owner = uuid.uuid4().hex
        self._renew = scripts.load("renew_lock", redis)
        self.refreshes = 0

    async def holds_lock(self) -> bool:
        reply = await self._renew(keys=scripts.RenewLockKeys(lock=keys.TOP10_LOCK),
                                  args=scripts.RenewLockArgs(owner=self.owner,
                                                             ttl_ms=self.lock_ms))
        return bool(reply)

    async def _refresh(self, cache: Top10Cache) -> None:
        entries = await cache.reader.top()
        if entries:
            # profiles may have changed in PostgreSQL: re-read the ten shown
            await users.load_profiles(self.pool, self.redis, [e["user_id"] for e in entries])
            entries = await cache.reader.top()
        await cache.publish(entries)

    async def run(self) -> bool:
        """One refresh if this process holds (or takes) the lock. Returns whether it ran."""
        if not await self.holds_lock():
            return False
        await users.ensure_profiles(self.pool, self.redis)  # a wiped Redis gets them back
        await self._refresh(self.views.of(self.boards.global_board).top10)  # the seed's first
        await self.boards.ensure()  # a wiped Redis gets the definitions back too
        await self.boards.load()
        for board in self.boards.live():
            if board.id != keys.GLOBAL:
                await self._refresh(self.views.of(board).top10)
        self.refreshes += 1
        metrics.CACHE_REFRESHES.inc()
        return True

    async def job(self) -> None:
        await metrics.guarded("top-10 refresh", self.run)

"""Worker 2: keeps ``leaderboard:top10`` fresh; one process at a time holds the lock."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import asyncpg

from . import metrics, store, users
from .leaderboard import Reader, store_top10

log = logging.getLogger(__name__)

# Renew the lock only if we still hold it; a dead holder's lock simply expires.
_RENEW = """
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0
"""


class CacheRefresher:
    def __init__(self, redis: Any, pool: asyncpg.Pool, *, interval_s: float, ttl_s: int) -> None:
        self.redis = redis
        self.pool = pool
        self.ttl_s = ttl_s
        self.lock_ms = max(1000, int(interval_s * 3000))
        self.owner = uuid.uuid4().hex
        self.reader = Reader(redis)
        self._renew = redis.register_script(_RENEW)
        self.refreshes = 0

    async def holds_lock(self) -> bool:
        return bool(await self._renew(keys=[store.TOP10_LOCK], args=[self.owner, self.lock_ms]))

    async def run(self) -> bool:
        """One refresh if this process holds (or takes) the lock. Returns whether it ran."""
        if not await self.holds_lock():
            return False
        await users.ensure_profiles(self.pool, self.redis)  # a wiped Redis gets them back
        entries = (await self.reader.page(0, store.TOP_N)).entries
        if entries:
            # profiles may have changed in PostgreSQL: re-read the ten shown
            await users.load_profiles(self.pool, self.redis, [e["user_id"] for e in entries])
            entries = (await self.reader.page(0, store.TOP_N)).entries
        await store_top10(self.redis, entries, self.ttl_s)
        self.refreshes += 1
        metrics.CACHE_REFRESHES.inc()
        return True

    async def job(self) -> None:
        try:
            await self.run()
        except Exception as exc:  # the scheduler keeps going; the next run retries
            store.reraise_if_cancelling()
            metrics.BACKEND_ERRORS.labels(metrics.backend_of(exc)).inc()
            log.warning("top-10 refresh failed: %s: %s", exc.__class__.__name__, exc)

"""Rebuild Redis from PostgreSQL: scores with their tie order, profiles, bans.

Built aside under temporary keys, then swapped in with RENAME inside one
MULTI, so a running service sees the old board or the new one, never half.
"""

from __future__ import annotations

import asyncpg
from redis.typing import EncodableT

from ..players import users
from ..store import keys
from ..store.client import RedisClient

CHUNK = 5000
TMP_SCORES = keys.RESEED_SCORES
TMP_MEMBER = keys.RESEED_MEMBER


async def reseed(pool: asyncpg.Pool, redis: RedisClient) -> dict[str, int]:
    await redis.delete(TMP_SCORES, TMP_MEMBER)
    count, max_seq = 0, 0
    hidden: dict[str, float] = {}
    async with pool.acquire() as conn, conn.transaction():
        rows = conn.cursor(
            "SELECT s.user_id, s.total_score, s.reached_seq, u.banned_at IS NOT NULL AS banned"
            " FROM scores s JOIN users u ON u.id = s.user_id WHERE s.total_score > 0"
        )
        zbatch: dict[str, int] = {}
        hbatch: dict[EncodableT, EncodableT] = {}
        async for row in rows:
            uid = str(row["user_id"])
            member = keys.member_for(row["reached_seq"], uid)
            max_seq = max(max_seq, row["reached_seq"])
            hbatch[uid] = member
            if row["banned"]:
                hidden[member] = row["total_score"]
            else:
                zbatch[member] = row["total_score"]
            if len(hbatch) >= CHUNK:
                await _flush(redis, zbatch, hbatch)
                count += len(hbatch)
                zbatch, hbatch = {}, {}
        if hbatch:
            await _flush(redis, zbatch, hbatch)
            count += len(hbatch)
    built = {tmp: bool(await redis.exists(tmp)) for tmp in (TMP_SCORES, TMP_MEMBER)}
    seq = max(max_seq, int(await redis.get(keys.SEQ) or 0))
    async with redis.pipeline(transaction=True) as pipe:  # the swap: one MULTI/EXEC
        for tmp, key in ((TMP_SCORES, keys.SCORES), (TMP_MEMBER, keys.MEMBER)):
            if built[tmp]:
                pipe.rename(tmp, key)
            else:
                pipe.delete(key)
        pipe.delete(keys.HIDDEN)
        if hidden:
            pipe.zadd(keys.HIDDEN, hidden)
        pipe.set(keys.SEQ, seq)
        await pipe.execute()
    await redis.delete(keys.PROFILES, keys.BANNED)
    await users.ensure_profiles(pool, redis)
    return {"players": count, "hidden": len(hidden)}


async def _flush(redis: RedisClient, zbatch: dict[str, int],
                 hbatch: dict[EncodableT, EncodableT]) -> None:
    async with redis.pipeline(transaction=False) as pipe:
        if zbatch:
            pipe.zadd(TMP_SCORES, zbatch)
        pipe.hset(TMP_MEMBER, mapping=hbatch)
        await pipe.execute()

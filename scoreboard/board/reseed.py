"""Rebuild Redis from PostgreSQL: every live board's scores with their tie order and
metadata, the board definitions, profiles, bans, league tiers.

Each board is built aside under temporary keys, then swapped in with RENAME inside
one MULTI, so a running service sees the old board or the new one, never half.
"""

from __future__ import annotations

import asyncpg
from redis.typing import EncodableT

from ..players import users
from ..store import keys
from ..store.client import RedisClient
from . import league
from .registry import Boards

CHUNK = 5000
TMP_SCORES = keys.RESEED_SCORES
TMP_MEMBER = keys.RESEED_MEMBER
TMP_META = keys.RESEED_META

GLOBAL_ROWS = (
    "SELECT s.user_id, s.total_score AS score, s.reached_seq, s.metadata::text AS metadata,"
    " u.banned_at IS NOT NULL AS banned"
    " FROM scores s JOIN users u ON u.id = s.user_id WHERE s.total_score > 0")
BOARD_ROWS = (
    "SELECT s.user_id, s.score, s.reached_seq, s.metadata::text AS metadata,"
    " u.banned_at IS NOT NULL AS banned"
    " FROM board_scores s JOIN users u ON u.id = s.user_id"
    " WHERE s.board_id = $1 AND s.season = $2")


async def reseed(pool: asyncpg.Pool, redis: RedisClient) -> dict[str, int]:
    """Returns the players and hidden (banned) players restored, over every board."""
    live = await pool.fetch("SELECT id, sort_order, season FROM boards WHERE retired_at IS NULL"
                            " ORDER BY id")
    await redis.delete(keys.BOARDS)
    await Boards(redis, pool).ensure()  # the definitions first: update.lua checks them
    count = hidden = max_seq = 0
    for board in live:
        args: tuple[object, ...] = ()
        if board["id"] == keys.GLOBAL:
            query = GLOBAL_ROWS
        else:
            query, args = BOARD_ROWS, (board["id"], board["season"])
        sign = -1 if board["sort_order"] == "asc" else 1
        board_keys = keys.board_keys(board["id"], board["season"])
        n, h, seq = await _rebuild(pool, redis, board_keys, sign, query, args)
        count, hidden, max_seq = count + n, hidden + h, max(max_seq, seq)
    seq = max(max_seq, int(await redis.get(keys.SEQ) or 0))
    await redis.set(keys.SEQ, seq)
    await redis.delete(keys.PROFILES, keys.BANNED)
    await users.ensure_profiles(pool, redis)
    await league.restore(pool, redis)  # each league player's tier (their buckets this
    # season live in Redis only: players are placed anew on their next score)
    return {"players": count, "hidden": hidden}


async def _rebuild(pool: asyncpg.Pool, redis: RedisClient, board: keys.BoardKeys, sign: int,
                   query: str, args: tuple[object, ...]) -> tuple[int, int, int]:
    await redis.delete(TMP_SCORES, TMP_MEMBER, TMP_META)
    count, max_seq = 0, 0
    hidden: dict[str, float] = {}
    async with pool.acquire() as conn, conn.transaction():
        zbatch: dict[str, int] = {}
        hbatch: dict[EncodableT, EncodableT] = {}
        mbatch: dict[EncodableT, EncodableT] = {}
        async for row in conn.cursor(query, *args):
            uid = str(row["user_id"])
            member = keys.member_for(row["reached_seq"], uid)
            max_seq = max(max_seq, row["reached_seq"])
            hbatch[uid] = member
            if row["metadata"] is not None:
                mbatch[uid] = row["metadata"]
            if row["banned"]:
                hidden[member] = row["score"] * sign
            else:
                zbatch[member] = row["score"] * sign
            if len(hbatch) >= CHUNK:
                await _flush(redis, zbatch, hbatch, mbatch)
                count += len(hbatch)
                zbatch, hbatch, mbatch = {}, {}, {}
        if hbatch:
            await _flush(redis, zbatch, hbatch, mbatch)
            count += len(hbatch)
    swaps = ((TMP_SCORES, board.scores), (TMP_MEMBER, board.member), (TMP_META, board.meta))
    built = {tmp: bool(await redis.exists(tmp)) for tmp, _ in swaps}
    async with redis.pipeline(transaction=True) as pipe:  # the swap: one MULTI/EXEC
        for tmp, key in swaps:
            if built[tmp]:
                pipe.rename(tmp, key)
            else:
                pipe.delete(key)
        pipe.delete(board.hidden)
        if hidden:
            pipe.zadd(board.hidden, hidden)
        await pipe.execute()
    return count, len(hidden), max_seq


async def _flush(redis: RedisClient, zbatch: dict[str, int],
                 hbatch: dict[EncodableT, EncodableT],
                 mbatch: dict[EncodableT, EncodableT]) -> None:
    async with redis.pipeline(transaction=False) as pipe:
        if zbatch:
            pipe.zadd(TMP_SCORES, zbatch)
        if mbatch:
            pipe.hset(TMP_META, mapping=mbatch)
        pipe.hset(TMP_MEMBER, mapping=hbatch)
        await pipe.execute()

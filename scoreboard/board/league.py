"""A league season's end: promotion and relegation, written once with the archive.

The archive (``seasons.py``) ranks an ended season in PostgreSQL. For a league board
it also needs where each player played: the placements stay in the season's Redis
keys until the archive is done (nothing writes to them after the cut), and are copied
into the archive's transaction. The same statement that writes the final standings
ranks each bucket and sets each player's next tier by the rule update.lua applies to a
player who comes back before the archive (``outcome`` in common.lua):

- the top ``promote`` of a bucket move up a tier (not past the top);
- of the others, the bottom ``relegate`` of those ranked move down (not past the
  bottom); in a bucket smaller than ``promote + relegate`` promotion wins;
- the rest, and players who did not play, keep their tier.

``league_tiers`` gets the players whose tier changed, in the same transaction. After
the COMMIT, Redis's copy (``{lb}:b:<id>:tiers`` and ``:tiers:through``) is written and
``board_seasons.tiers_shown_at`` set; until then the step is redone (it is
idempotent) and the season's keys stay, so a player placed meanwhile still gets the
right tier from them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from ..store import keys
from ..store.client import RedisClient, as_text
from .definitions import League

SCAN_COUNT = 2_000  # placements read per HSCAN: each call a short moment of Redis's time
CHUNK = 5_000  # tiers written, keys dropped, per call

_PLACE = """
CREATE TEMP TABLE IF NOT EXISTS league_place (user_id UUID, bucket INTEGER, tier SMALLINT)
ON COMMIT DROP"""

# $1 board, $2 season, $3 sign, $4 promote, $5 relegate, $6 number of tiers
STANDINGS = """
INSERT INTO season_standings (board_id, season, rank, user_id, score, reached_seq, metadata,
                              bucket, tier, bucket_rank, next_tier)
SELECT $1, $2, rank, user_id, score, reached_seq, metadata, bucket, tier, bucket_rank,
       CASE WHEN bucket IS NULL THEN NULL
            WHEN bucket_rank <= $4 THEN LEAST(tier + 1, $6 - 1)
            WHEN bucket_rank > GREATEST($4, in_bucket - $5) THEN GREATEST(tier - 1, 0)
            ELSE tier END
FROM (
    SELECT row_number() OVER (ORDER BY s.score * $3 DESC, s.reached_seq, s.user_id) AS rank,
           s.user_id, s.score, s.reached_seq, s.metadata, p.bucket, p.tier,
           row_number() OVER (PARTITION BY p.bucket
                              ORDER BY s.score * $3 DESC, s.reached_seq, s.user_id)
               AS bucket_rank,
           count(*) OVER (PARTITION BY p.bucket) AS in_bucket
    FROM board_scores s JOIN users u ON u.id = s.user_id
    LEFT JOIN league_place p ON p.user_id = s.user_id
    WHERE s.board_id = $1 AND s.season = $2 AND u.banned_at IS NULL
) ranked"""

TIERS = """
INSERT INTO league_tiers (board_id, user_id, tier, season)
SELECT board_id, user_id, next_tier, season FROM season_standings
WHERE board_id = $1 AND season = $2 AND next_tier IS DISTINCT FROM tier
ON CONFLICT (board_id, user_id) DO UPDATE SET tier = EXCLUDED.tier, season = EXCLUDED.season
WHERE league_tiers.season < EXCLUDED.season"""

_MOVED = ("SELECT user_id, next_tier FROM season_standings WHERE board_id = $1"
          " AND season = $2 AND next_tier IS DISTINCT FROM tier")


def tiers_key(board_id: str) -> str:
    return f"{{lb}}:b:{board_id}:tiers"


def _prefix(board_id: str, season: int) -> str:
    return keys.season_key(board_id, season, "").removesuffix(":")


async def _placements(redis: RedisClient, board_id: str,
                      season: int) -> AsyncIterator[tuple[str, int, int]]:
    """(user id, bucket, the bucket's tier) of every player placed in the season."""
    p = _prefix(board_id, season)
    tiers = {as_text(k)[1:]: int(v) for k, v in (await redis.hgetall(f"{p}:league")).items()
             if as_text(k).startswith("t")}
    cursor = 0
    while True:
        cursor, part = await redis.hscan(f"{p}:placed", cursor, count=SCAN_COUNT)
        assert isinstance(part, dict)  # HSCAN without NOVALUES: field -> value
        for uid, bucket in part.items():
            b = as_text(bucket)
            yield as_text(uid), int(b), tiers.get(b, 0)
        if cursor == 0:
            return


async def write_standings(conn: asyncpg.Connection, redis: RedisClient, board_id: str,
                          season: int, sign: int, league: League, statement_s: float) -> None:
    """The season's standings with each player's bucket, tier, bucket rank and next
    tier, and ``league_tiers`` for the players who move; in the caller's transaction."""
    await conn.execute(_PLACE)
    rows = [(uid, bucket, tier) async for uid, bucket, tier in
            _placements(redis, board_id, season)]
    await conn.copy_records_to_table("league_place", records=_as_uuids(rows),
                                     columns=["user_id", "bucket", "tier"])
    await conn.execute("ANALYZE league_place")
    await conn.execute(STANDINGS, board_id, season, sign, league.promote, league.relegate,
                       len(league.tiers), timeout=statement_s)
    await conn.execute(TIERS, board_id, season, timeout=statement_s)


def _as_uuids(rows: list[tuple[str, int, int]]) -> list[tuple[Any, int, int]]:
    import uuid

    return [(uuid.UUID(u), b, t) for u, b, t in rows]


async def show_tiers(pool: asyncpg.Pool, redis: RedisClient, board_id: str,
                     season: int) -> None:
    """Redis's copy of the tiers an archived season set (idempotent: redone until
    ``tiers_shown_at`` is set)."""
    async with pool.acquire() as conn:
        moved = await conn.fetch(_MOVED, board_id, season)
    key = tiers_key(board_id)
    for start in range(0, len(moved), CHUNK):
        await redis.hset(key, mapping={
            str(r["user_id"]): r["next_tier"] for r in moved[start:start + CHUNK]})
    through = f"{key}:through"
    # never back: an older season redone after a newer one was shown
    shown = int(await redis.get(through) or 0)
    if season > shown:
        await redis.set(through, season)
    await pool.execute("UPDATE board_seasons SET tiers_shown_at = now()"
                       " WHERE board_id = $1 AND season = $2", board_id, season)


async def drop(redis: RedisClient, board_id: str, season: int) -> None:
    """A competition season's own Redis keys, once PostgreSQL has it whole."""
    p = _prefix(board_id, season)
    buckets = int(await redis.hget(f"{p}:league", "n") or 0)
    # the bucket count is read from :league, so it goes last
    names = [f"{p}:joined", f"{p}:attempts", f"{p}:placed"]
    names += [f"{p}:bk:{n}" for n in range(1, buckets + 1)] + [f"{p}:league"]
    for start in range(0, len(names), CHUNK):
        await redis.unlink(*names[start:start + CHUNK])


async def restore(pool: asyncpg.Pool, redis: RedisClient) -> int:
    """Every league's tiers from PostgreSQL into Redis (a Redis that lost them, or
    ``scoreboard reseed``). Returns how many players' tiers were written."""
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT board_id, user_id, tier FROM league_tiers")
        shown = await conn.fetch(
            "SELECT board_id, max(season) AS season FROM board_seasons"
            " WHERE tiers_shown_at IS NOT NULL GROUP BY board_id")
    by_board: dict[str, dict[str, int]] = {}
    for r in rows:
        by_board.setdefault(r["board_id"], {})[str(r["user_id"])] = r["tier"]
    for board_id, tiers in by_board.items():
        items = list(tiers.items())
        for start in range(0, len(items), CHUNK):
            await redis.hset(tiers_key(board_id),
                             mapping=dict(items[start:start + CHUNK]))
    for r in shown:
        await redis.set(f"{tiers_key(r['board_id'])}:through", r["season"])
    return len(rows)

"""A league season's end: promotion and relegation, then the archive.

After the cut a season's Redis keys no longer change, and they stay until the
archive is done. Promotion runs on them at once (it does not wait for Worker 1):
``promote.lua`` walks the buckets a few at a time (each call a short moment of
Redis's time) and writes each mover's new tier to the board's ``tiers`` hash; the
movers go to ``league_tiers`` in PostgreSQL in one transaction that also sets
``board_seasons.tiers_shown_at``, and then ``tiers:through`` reaches the season. The
rule (``next_tier`` in common.lua; the same in the archive's SQL):

- the top ``promote`` of a bucket move up a tier (not past the top);
- of the others, the bottom ``relegate`` of those ranked move down (not past the
  bottom); in a bucket smaller than ``promote + relegate`` promotion wins;
- the rest, and players who did not play, keep their tier.

Exactly once: a process that dies midway leaves ``tiers_shown_at`` null and the step
is redone whole (the keys have not changed, so neither has the result); two
processes take turns on the season's row. A player who comes back before it is done
is placed by the same rule worked out in update.lua (``tier_for``).

The archive (once Worker 1 has persisted the season) then writes the final standings
with each player's bucket, the bucket's tier, the rank in it and the next tier, the
placements copied from Redis in chunks, so no step holds the event loop.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg

from ..store import keys, scripts
from ..store.client import RedisClient, as_text
from .definitions import League

log = logging.getLogger(__name__)

SCAN_COUNT = 5_000  # placements read (and copied) per HSCAN: a short moment each
CHUNK = 5_000  # tiers restored, keys dropped, per call

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

_MOVERS = """
CREATE TEMP TABLE IF NOT EXISTS league_moved (user_id UUID, tier SMALLINT) ON COMMIT DROP"""
TIERS = """
INSERT INTO league_tiers (board_id, user_id, tier, season)
SELECT $1, user_id, tier, $2 FROM league_moved
ON CONFLICT (board_id, user_id) DO UPDATE SET tier = EXCLUDED.tier, season = EXCLUDED.season
WHERE league_tiers.season < EXCLUDED.season"""
BUCKETS_PER_CALL = 25  # promote.lua: about 25 x 30 players per call (a few ms)


def tiers_key(board_id: str) -> str:
    return f"{{lb}}:b:{board_id}:tiers"


def _prefix(board_id: str, season: int) -> str:
    return keys.season_key(board_id, season, "").removesuffix(":")


async def promote(pool: asyncpg.Pool, redis: RedisClient, script: Any, board_id: str,
                  season: int, rules: str) -> bool:
    """Promotion and relegation of an ended league season, once (see above). Returns
    whether this call did it (False: done already, or another process is on it)."""
    async with pool.acquire() as conn, conn.transaction():
        todo = await conn.fetchval(
            "SELECT 1 FROM board_seasons WHERE board_id = $1 AND season = $2"
            " AND tiers_shown_at IS NULL FOR UPDATE SKIP LOCKED", board_id, season)
        if not todo:
            return False
        moved: list[tuple[str, int]] = []
        first, buckets = 1, 1
        while first <= buckets:
            reply = scripts.parse_promote(await script(
                keys=scripts.PromoteKeys(tiers_key(board_id)),
                args=scripts.PromoteArgs(board_id, season, rules, first,
                                         first + BUCKETS_PER_CALL - 1)))
            buckets = reply.buckets
            moved += reply.moved
            first += BUCKETS_PER_CALL
        await conn.execute(_MOVERS)
        await conn.copy_records_to_table("league_moved", records=moved,
                                         columns=["user_id", "tier"])
        await conn.execute(TIERS, board_id, season)
        await conn.execute("UPDATE board_seasons SET tiers_shown_at = clock_timestamp()"
                           " WHERE board_id = $1 AND season = $2", board_id, season)
    await shown_through(redis, board_id, season)
    log.info("board %s: season %d, %d players promoted or relegated", board_id, season,
             len(moved))
    return True


async def shown_through(redis: RedisClient, board_id: str, season: int) -> None:
    """The tiers hash holds season ``season``'s moves (never moved back)."""
    through = f"{tiers_key(board_id)}:through"
    if season > int(await redis.get(through) or 0):
        await redis.set(through, season)


async def write_standings(conn: asyncpg.Connection, redis: RedisClient, board_id: str,
                          season: int, sign: int, league: League, statement_s: float) -> None:
    """The season's standings with each player's bucket, tier, bucket rank and next
    tier; in the caller's transaction. The placements are copied from Redis a chunk
    at a time."""
    await conn.execute(_PLACE)
    p = _prefix(board_id, season)
    tiers = {as_text(k)[1:]: int(v) for k, v in (await redis.hgetall(f"{p}:league")).items()
             if as_text(k).startswith("t")}
    cursor = 0
    while True:
        cursor, part = await redis.hscan(f"{p}:placed", cursor, count=SCAN_COUNT)
        assert isinstance(part, dict)  # HSCAN without NOVALUES: field -> value
        records = [(as_text(uid), int(b), tiers.get(as_text(b), 0)) for uid, b in part.items()]
        await conn.copy_records_to_table("league_place", records=records,
                                         columns=["user_id", "bucket", "tier"])
        if cursor == 0:
            break
    await conn.execute("ANALYZE league_place")
    await conn.execute(STANDINGS, board_id, season, sign, league.promote, league.relegate,
                       len(league.tiers), timeout=statement_s)


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

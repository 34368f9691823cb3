"""Ending a board's season: on its schedule, or now (admin), exactly once.

A reset is two idempotent steps, each keyed by board and season:

1. **The cut** (``reset``). Under the board's locks in PostgreSQL: the season
   grows by one there and in Redis's copy of the definitions (written before the
   COMMIT, as every board change), and a ``board_seasons`` row records the season
   that ended with ``cut_id``, the last stream entry Redis had applied. Each season
   has its own Redis keys, so the new one starts empty at once; a batch-mode update
   still holding the old definitions is refused as STALE and retried in the new
   season, and a direct-mode commit (which holds the board's season lock shared,
   which the cut takes alone) counts in the season PostgreSQL shows it. Two
   processes due at once both ask for "season N ends"; the second finds N+1 and
   does nothing. A process that dies between the Redis write and the COMMIT leaves
   Redis one season ahead; the next check sees that and completes the step.
2. **The archive** (``archive_pending``). Once Worker 1 has persisted the stream up
   to ``cut_id`` (batch mode), PostgreSQL holds the season whole: its final standings
   are written to ``season_standings``, the season row gets its players and winner,
   and only then are the season's Redis keys dropped. Until then nothing is deleted.

Every process runs ``check`` every few seconds: it resets each board whose next
instant has passed (once, however many were missed) and archives what is ready.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg

from .. import errors
from ..locks import LOCK_SEASON
from ..obs import metrics
from ..players.moderation import audit
from ..store import keys, scripts, stream
from ..store.client import RedisClient
from ..store.events import encode_boards
from . import competition, league
from .definitions import GLOBAL, Board, League, decode, from_row
from .registry import RECORD_ENDED, Boards, store
from .schedule import is_due

log = logging.getLogger(__name__)

# Direct mode: a commit of the ended season may still be showing itself in Redis (its
# settle step) this long after the end; the season's keys are dropped after that.
DIRECT_GRACE_S = 60.0

_STANDINGS = """
INSERT INTO season_standings (board_id, season, rank, user_id, score, reached_seq, metadata)
SELECT $1, $2, row_number() OVER (ORDER BY s.score * $3 DESC, s.reached_seq, s.user_id),
       s.user_id, s.score, s.reached_seq, s.metadata
FROM board_scores s JOIN users u ON u.id = s.user_id
WHERE s.board_id = $1 AND s.season = $2 AND u.banned_at IS NULL"""
_SUMMARY = """
UPDATE board_seasons SET archived_at = clock_timestamp(),
    players = (SELECT count(*) FROM season_standings WHERE board_id = $1 AND season = $2),
    (winner_id, winner_score) = (SELECT user_id, score FROM season_standings
                                 WHERE board_id = $1 AND season = $2 AND rank = 1)
WHERE board_id = $1 AND season = $2"""
ARCHIVE_TIMEOUT_S = 600.0  # one statement writes a whole season (a million rows: seconds)


def stream_pos(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class Seasons:
    def __init__(self, pool: asyncpg.Pool, redis: RedisClient, boards: Boards, *,
                 batch: bool = True, grace_s: float = DIRECT_GRACE_S,
                 replayed: Callable[[], Awaitable[bool]] | None = None) -> None:
        self.pool = pool
        self.redis = redis
        self.boards = boards
        self.batch = batch  # Worker 1 persists the stream (else: direct mode)
        self.grace_s = grace_s
        # has Worker 1 persisted the stream to the server PostgreSQL is now? After a
        # standby's promotion it first writes the retention window there again; a season
        # archived before that would be ranked on what the new server lacks, for good
        self.replayed = replayed
        self._promote = scripts.load("promote", redis)

    # the cut -------------------------------------------------------------------
    async def reset(self, board_id: str, *, season: int | None = None,
                    actor_id: str | None = None, at: datetime | None = None) -> Board:
        """End season ``season`` of the board (None: whichever is live) at ``at``
        (default: now). Returns the board as it is after; if that season had already
        ended, changes nothing."""
        return (await self._end(board_id, season, actor_id, at))[0]

    async def _end(self, board_id: str, season: int | None, actor_id: str | None,
                   at: datetime | None) -> tuple[Board, bool]:
        """``reset``; also says whether this call ended the season."""
        if board_id == GLOBAL:
            raise errors.Conflict("`global` has no seasons to end")
        async with self.pool.acquire() as conn, conn.transaction():
            # the season lock first: direct commits under way hold it shared and still
            # need the board row (their foreign keys); then the row, without blocking
            # those key checks (NO KEY UPDATE: the id does not change)
            await conn.execute(LOCK_SEASON, board_id)
            row = await conn.fetchrow(
                "SELECT * FROM boards WHERE id = $1 AND retired_at IS NULL"
                " FOR NO KEY UPDATE", board_id)
            if row is None:
                raise errors.NotFound(f"No board {board_id!r}")
            ending = from_row(row)
            if season is not None and ending.season != season:
                await self._show(ending)  # ended by someone else: Redis shows it too
                return ending, False
            row = await conn.fetchrow(
                "UPDATE boards SET season = season + 1,"
                " season_started_at = COALESCE($2, now()) WHERE id = $1 RETURNING *",
                board_id, at)
            board = from_row(row)
            cut_id = await store(self.redis, board)  # Redis moves to the new season
            await conn.execute(RECORD_ENDED, board_id, ending.season,
                               row_time(ending.season_started_at), row["season_started_at"],
                               cut_id)
            if actor_id is not None:
                await audit(conn, actor_id, "reset_board", None,
                            {"board": board_id, "season": ending.season})
        log.info("board %s: season %d ended, season %d started", board_id, ending.season,
                 board.season)
        await self.redis.publish(keys.CHANNEL, encode_boards(board_id))
        await self.boards.load()
        return board, True

    async def _show(self, board: Board) -> None:
        shown = await self.redis.hget(keys.BOARDS, board.id)
        if shown is None or decode(shown).season < board.season:
            await store(self.redis, board)
            await self.redis.publish(keys.CHANNEL, encode_boards(board.id))

    # the check every process runs -----------------------------------------------
    async def check(self, now: datetime | None = None) -> list[str]:
        """Reset every board that is due (or that Redis shows ahead of PostgreSQL),
        then archive what is ready. Returns the boards reset."""
        now = now or datetime.now(UTC)
        rows = await self.pool.fetch(
            "SELECT * FROM boards WHERE retired_at IS NULL AND id <> $1", GLOBAL)
        # what Redis shows: a reload reads the definitions only when their version moved
        # (and keeps unchanged boards as they are); it also catches this process up on a
        # change whose Pub/Sub message it missed
        await self.boards.load()
        done = []
        for row in rows:
            board = from_row(row)
            cached = self.boards.cached(board.id)
            shown = cached.season if cached is not None else None
            at = now
            if board.ends_at is not None:  # a tournament's season ends with its window
                closes = competition.last_close(board, now)
                due = closes is not None
                at = closes if closes is not None else now
            else:
                due = is_due(board.reset, board.timezone, row["season_started_at"], now)
            if shown is not None and shown > board.season and cached is not None:
                # a cut a process died in the middle of: Redis shows when it began
                due, at = True, row_time(cached.season_started_at)
            if due:
                try:
                    _, ended = await self._end(board.id, board.season, None, at)
                except errors.NotFound:  # retired meanwhile
                    continue
                if ended:
                    done.append(board.id)
        await self.archive_pending()
        return done

    async def job(self) -> None:
        await metrics.guarded("season check", self.check)

    # the archive ----------------------------------------------------------------
    async def archive_pending(self) -> int:
        """Archive every ended season PostgreSQL now holds whole. Returns how many."""
        await self._promote_pending()
        # a league season is archived once its promotion is done (it reads the keys)
        rows = await self.pool.fetch(
            "SELECT s.board_id, s.season, s.cut_id, s.ended_at, b.sort_order, b.league"
            " FROM board_seasons s"
            " JOIN boards b ON b.id = s.board_id WHERE s.archived_at IS NULL"
            " AND (b.league IS NULL OR s.tiers_shown_at IS NOT NULL)"
            " ORDER BY s.board_id, s.season")
        if not rows:
            return 0
        if self.batch and self.replayed is not None and not await self.replayed():
            log.info("archives wait for the stream's replay to the PostgreSQL server now "
                     "primary")
            return 0
        group = await stream.group_state(self.redis) if self.batch else None
        archived = 0
        for row in rows:
            if self._persisted(group, row["cut_id"], row["ended_at"]):
                sign = -1 if row["sort_order"] == "asc" else 1
                archived += await self._archive(row["board_id"], row["season"], sign,
                                                League.of(row["league"]))
        return archived

    async def _promote_pending(self) -> None:
        """Promotion and relegation of every ended league season not done yet: at once
        in batch mode (the season's keys no longer change after the cut); in direct
        mode after the grace time (a commit may still be showing itself)."""
        rows = await self.pool.fetch(
            "SELECT s.board_id, s.season, s.ended_at, b.league FROM board_seasons s"
            " JOIN boards b ON b.id = s.board_id"
            " WHERE s.tiers_shown_at IS NULL AND b.league IS NOT NULL"
            " ORDER BY s.board_id, s.season")
        for row in rows:
            if not self.batch and not self._persisted(None, None, row["ended_at"]):
                continue
            rules = League.of(row["league"])
            assert rules is not None
            await league.promote(self.pool, self.redis, self._promote, row["board_id"],
                                 row["season"], competition.league_rules(rules))

    def _persisted(self, group: stream.GroupState | None, cut_id: str | None,
                   ended_at: datetime) -> bool:
        """Does PostgreSQL hold the season whole? Batch mode: has Worker 1 written every
        stream entry up to ``cut_id`` (``group``: where the persist group stood when this
        pass began)? Direct mode: every commit of it is in; past the grace time none of
        them is still writing to its Redis keys."""
        if not self.batch:
            return (datetime.now(UTC) - ended_at).total_seconds() >= self.grace_s
        if cut_id is None:
            return True
        cut = stream_pos(cut_id)
        if group is None or stream_pos(group.last_delivered) < cut:
            return False
        return not group.pending or stream_pos(group.oldest_pending) > cut

    async def _archive(self, board_id: str, season: int, sign: int,
                       rules: League | None = None) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            todo = await conn.fetchval(
                "SELECT 1 FROM board_seasons WHERE board_id = $1 AND season = $2"
                " AND archived_at IS NULL FOR UPDATE", board_id, season)
            if not todo:  # another process archived it
                return 0
            if rules is not None:  # with each player's bucket and next tier
                await league.write_standings(conn, self.redis, board_id, season, sign, rules,
                                             ARCHIVE_TIMEOUT_S)
            else:
                await conn.execute(_STANDINGS, board_id, season, sign,
                                   timeout=ARCHIVE_TIMEOUT_S)
            await conn.execute(_SUMMARY, board_id, season, timeout=ARCHIVE_TIMEOUT_S)
        if rules is not None:  # a process that died after the promotion's COMMIT
            await league.shown_through(self.redis, board_id, season)
        await self._drop(board_id, season)
        log.info("board %s: season %d archived", board_id, season)
        return 1

    async def _drop(self, board_id: str, season: int) -> None:
        """An archived season's Redis keys: PostgreSQL holds it whole."""
        ended = keys.board_keys(board_id, season)
        await league.drop(self.redis, board_id, season)
        await self.redis.unlink(ended.scores, ended.member, ended.hidden, ended.top10,
                                ended.meta)


def row_time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)

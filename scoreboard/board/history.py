"""Past seasons, in the shapes of the live reads.

An ended season reads as it ended from the moment of its reset: until it is archived
its Redis keys are kept whole (nothing writes to them after the cut), so it is read
there, as the live season is; once archived, from its final standings in PostgreSQL
(``season_standings``, a page by its primary key). Nothing ranks a season per request.

History reads share the PostgreSQL pool with persistence, direct-mode commits and
season ends, so they take at most ``slots`` connections at once (half the pool, at
least one) and wait at most ``timeout_s`` for one; past that they answer 503 rather
than queue. A retired board's seasons stay readable: its definition is read from
PostgreSQL when the live boards do not have it.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from .. import errors
from ..store.autopipe import AutoPipeline
from ..store.client import RedisClient
from .definitions import ID_PATTERN, Board, from_row
from .reader import Ranking, Reader, Slice

_PAGE_SQL = """
SELECT s.season, s.started_at, s.ended_at, s.players, s.archived_at, s.winner_id,
       s.winner_score, u.username AS winner_name
FROM board_seasons s LEFT JOIN users u ON u.id = s.winner_id
WHERE s.board_id = $1 AND s.season < $2 ORDER BY s.season DESC LIMIT $3"""
_STANDINGS = ("SELECT s.rank, s.user_id, u.username, u.avatar_url, s.score, s.metadata,"
              " s.bucket, s.tier, s.bucket_rank"
              " FROM season_standings s JOIN users u ON u.id = s.user_id"
              " WHERE s.board_id = $1 AND s.season = $2")


@dataclass(frozen=True, slots=True)
class PastSeason:
    board_id: str
    season: int
    started_at: datetime
    ended_at: datetime
    players: int | None  # None until archived
    archived: bool


def _entry(row: Any) -> dict[str, Any]:
    return {"rank": int(row["rank"]), "user_id": str(row["user_id"]),
            "username": row["username"], "score": int(row["score"]),
            "avatar_url": row["avatar_url"],
            "metadata": orjson.loads(row["metadata"]) if row["metadata"] is not None else None}


class ArchiveReader:
    """An archived season's final standings (the methods of ``Reader`` the season reads
    use)."""

    def __init__(self, history: History, board: Board, past: PastSeason) -> None:
        self.history = history
        self.board = board
        self.past = past
        self._args = (board.id, past.season)

    async def _fetch(self, tail: str, *args: Any) -> list[Any]:
        async with self.history.connection() as conn:
            return list(await conn.fetch(f"{_STANDINGS} {tail}", *self._args, *args,
                                         timeout=self.history.timeout_s))

    @property
    def _total(self) -> int:
        return self.past.players or 0

    async def page(self, offset: int, limit: int) -> Slice:
        rows = await self._fetch("AND s.rank > $3 ORDER BY s.rank LIMIT $4", offset, limit)
        return Slice(self._total, None, None, [_entry(r) for r in rows])

    async def around(self, user_id: str, window: int) -> Slice:
        """The player alone (the season reads ask with ``window`` 0)."""
        rows = await self._fetch("AND s.user_id = $3", uuid.UUID(user_id))
        if not rows:
            return Slice(self._total, None, None, [])
        return Slice(self._total, int(rows[0]["rank"]), int(rows[0]["score"]),
                     [_entry(rows[0])])

    async def members(self, user_ids: list[str]) -> Slice:
        rows = await self._fetch("AND s.user_id = ANY($3::uuid[]) ORDER BY s.rank",
                                 [uuid.UUID(u) for u in user_ids])
        return Slice(self._total, None, None, [_entry(r) for r in rows])

    async def top(self) -> list[dict[str, Any]]:
        return (await self.page(0, 10)).entries

    async def bucket(self, number: int) -> tuple[int, list[dict[str, Any]]] | None:
        """A league bucket's final standings: its tier (an index) and entries ranked in
        it; None when the season had no such bucket."""
        rows = await self._fetch("AND s.bucket = $3 ORDER BY s.bucket_rank", number)
        if not rows:
            return None
        return int(rows[0]["tier"]), [{**_entry(r), "rank": int(r["bucket_rank"])}
                                      for r in rows]

    async def place(self, user_id: str) -> tuple[int, int, int] | None:
        """Where the player finished in a league season: tier, bucket, bucket rank."""
        rows = await self._fetch("AND s.user_id = $3", uuid.UUID(user_id))
        if not rows or rows[0]["bucket"] is None:
            return None
        return int(rows[0]["tier"]), int(rows[0]["bucket"]), int(rows[0]["bucket_rank"])


class EndedReader:
    """A season that ended and is not archived yet, read from its Redis keys as it ended.
    The archive drops those keys once PostgreSQL has the standings: a read that finds
    them gone looks at the archive."""

    def __init__(self, history: History, board: Board, past: PastSeason) -> None:
        self.history = history
        self.board = board
        self.past = past
        self._redis = Reader(history.redis, history.pipe, board)

    async def _read(self, read: Callable[[Ranking], Awaitable[Slice]]) -> Slice:
        """``read`` on the Redis keys; on the archive if they turn out to be gone."""
        got = await read(self._redis)
        if got.total == 0:
            past = await self.history.past(self.board.id, self.past.season)
            if past is not None and past.archived:
                return await read(ArchiveReader(self.history, self.board, past))
        return got

    async def page(self, offset: int, limit: int) -> Slice:
        return await self._read(lambda r: r.page(offset, limit))

    async def around(self, user_id: str, window: int) -> Slice:
        return await self._read(lambda r: r.around(user_id, window))

    async def members(self, user_ids: list[str]) -> Slice:
        return await self._read(lambda r: r.members(user_ids))

    async def top(self) -> list[dict[str, Any]]:
        return (await self.page(0, 10)).entries


SeasonReader = ArchiveReader | EndedReader


class History:
    def __init__(self, pool: asyncpg.Pool, redis: RedisClient, pipe: AutoPipeline | None = None,
                 *, timeout_s: float = 2.0, slots: int = 5) -> None:
        self.pool = pool
        self.redis = redis
        self.pipe = pipe
        self.timeout_s = timeout_s
        self._slots = asyncio.Semaphore(max(1, slots))

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection for one history read: 503 after ``timeout_s`` without one."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        try:
            async with asyncio.timeout_at(deadline):
                await self._slots.acquire()
        except TimeoutError:
            raise errors.ServiceUnavailable("History reads are busy; retry") from None
        try:
            try:
                conn = await self.pool.acquire(timeout=max(0.001, deadline - loop.time()))
            except TimeoutError:
                raise errors.ServiceUnavailable("History reads are busy; retry") from None
            try:
                yield conn
            finally:
                await self.pool.release(conn)
        finally:
            self._slots.release()

    async def board(self, board_id: str) -> Board:
        """A board as PostgreSQL keeps it, retired or not (for its history)."""
        row = None
        if ID_PATTERN.fullmatch(board_id):
            async with self.connection() as conn:
                row = await conn.fetchrow("SELECT * FROM boards WHERE id = $1", board_id,
                                          timeout=self.timeout_s)
        if row is None:
            raise errors.NotFound(f"No board {board_id!r}")
        return from_row(row)

    async def past(self, board_id: str, season: int) -> PastSeason | None:
        async with self.connection() as conn:
            row = await conn.fetchrow(
                "SELECT * FROM board_seasons WHERE board_id = $1 AND season = $2", board_id,
                season, timeout=self.timeout_s)
        return _past(row) if row is not None else None

    async def reader(self, board: Board, season: int) -> SeasonReader | None:
        past = await self.past(board.id, season)
        if past is None:
            return None
        as_then = board.with_changes(season=season)
        return (ArchiveReader if past.archived else EndedReader)(self, as_then, past)

    async def seasons(self, board: Board, below: int, limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` ended seasons of the board numbered below ``below``, newest
        first: started_at, ended_at, players and the winner (rank 1). One query; a
        season not archived yet is counted from its Redis keys."""
        async with self.connection() as conn:
            rows = await conn.fetch(_PAGE_SQL, board.id, below, limit, timeout=self.timeout_s)
        out = []
        for row in rows:
            if row["archived_at"] is not None:
                players = row["players"]
                winner = None if row["winner_id"] is None else {
                    "user_id": str(row["winner_id"]), "username": row["winner_name"],
                    "score": int(row["winner_score"])}
            else:
                first = await EndedReader(self, board.with_changes(season=row["season"]),
                                          _past_of(board.id, row)).page(0, 1)
                players = first.total
                winner = ({k: first.entries[0][k] for k in ("user_id", "username", "score")}
                          if first.entries else None)
            out.append({"season": row["season"], "started_at": row["started_at"].isoformat(),
                        "ended_at": row["ended_at"].isoformat(), "players": players,
                        "winner": winner})
        return out


def _past_of(board_id: str, row: Any) -> PastSeason:
    return PastSeason(board_id, row["season"], row["started_at"], row["ended_at"],
                      row["players"], row["archived_at"] is not None)


def _past(row: Any) -> PastSeason:
    return _past_of(row["board_id"], row)

"""Past seasons, read from PostgreSQL in the shapes of the live reads.

An archived season reads its final standings (``season_standings``, written when it
was archived); one that ended a moment ago and is not archived yet is ranked on the
fly by the same rule (score by the board's order, then who reached it first;
banned players hidden).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from .definitions import Board
from .reader import Slice

_FROM = " FROM board_scores s JOIN users u ON u.id = s.user_id WHERE s.board_id = $1" \
        " AND s.season = $2"
_COLUMNS = "s.user_id, u.username, u.avatar_url, s.score"


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
            "avatar_url": row["avatar_url"]}


class SeasonReader:
    """A past season's standings; the methods of ``Reader`` the season reads use."""

    def __init__(self, pool: asyncpg.Pool, board: Board, past: PastSeason) -> None:
        self.pool = pool
        self.board = board
        self.past = past
        if past.archived:
            self._ranked = ("SELECT s.rank, s.user_id, u.username, u.avatar_url, s.score"
                            " FROM season_standings s JOIN users u ON u.id = s.user_id"
                            " WHERE s.board_id = $1 AND s.season = $2")
            self._args: tuple[Any, ...] = (board.id, past.season)
        else:
            self._ranked = (f"SELECT row_number() OVER (ORDER BY s.score * $3 DESC,"
                            f" s.reached_seq, s.user_id) AS rank, {_COLUMNS}{_FROM}"
                            " AND u.banned_at IS NULL")
            self._args = (board.id, past.season, board.sign)

    async def _fetch(self, conn: Any, tail: str, *args: Any) -> list[Any]:
        """The ranked rows, filtered by ``tail`` whose ``{}`` take ``args`` in order."""
        n = len(self._args)
        where = tail.format(*(f"${n + i}" for i in range(1, len(args) + 1)))
        return list(await conn.fetch(f"SELECT * FROM ({self._ranked}) r {where}",
                                     *self._args, *args))

    async def _total(self, conn: Any) -> int:
        if self.past.players is not None:
            return self.past.players
        return int(await conn.fetchval(f"SELECT count(*) FROM ({self._ranked}) r", *self._args))

    async def page(self, offset: int, limit: int) -> Slice:
        async with self.pool.acquire() as conn:
            rows = await self._fetch(conn, "WHERE rank > {} ORDER BY rank LIMIT {}", offset,
                                     limit)
            return Slice(await self._total(conn), None, None, [_entry(r) for r in rows])

    async def around(self, user_id: str, window: int) -> Slice:
        """The player alone (the season reads ask with ``window`` 0)."""
        async with self.pool.acquire() as conn:
            rows = await self._fetch(conn, "WHERE user_id = {}", uuid.UUID(user_id))
            total = await self._total(conn)
        if not rows:
            return Slice(total, None, None, [])
        return Slice(total, int(rows[0]["rank"]), int(rows[0]["score"]), [_entry(rows[0])])

    async def members(self, user_ids: list[str]) -> Slice:
        async with self.pool.acquire() as conn:
            rows = await self._fetch(conn, "WHERE user_id = ANY({}::uuid[]) ORDER BY rank",
                                     [uuid.UUID(u) for u in user_ids])
            return Slice(await self._total(conn), None, None, [_entry(r) for r in rows])

    async def top(self) -> list[dict[str, Any]]:
        return (await self.page(0, 10)).entries


class History:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def past(self, board: Board, season: int) -> PastSeason | None:
        row = await self.pool.fetchrow(
            "SELECT * FROM board_seasons WHERE board_id = $1 AND season = $2", board.id, season)
        return _past(row) if row is not None else None

    async def reader(self, board: Board, season: int) -> SeasonReader | None:
        past = await self.past(board, season)
        if past is None:
            return None
        return SeasonReader(self.pool, board.with_changes(season=season), past)

    async def seasons(self, board: Board) -> list[dict[str, Any]]:
        """Every ended season of the board, oldest first: started_at, ended_at, players
        and the winner (rank 1)."""
        rows = await self.pool.fetch(
            "SELECT * FROM board_seasons WHERE board_id = $1 ORDER BY season", board.id)
        out = []
        for row in rows:
            reader = SeasonReader(self.pool, board.with_changes(season=row["season"]),
                                  _past(row))
            first = await reader.page(0, 1)
            winner = first.entries[0] if first.entries else None
            out.append({"season": row["season"], "started_at": row["started_at"].isoformat(),
                        "ended_at": row["ended_at"].isoformat(), "players": first.total,
                        "winner": None if winner is None else {
                            "user_id": winner["user_id"], "username": winner["username"],
                            "score": winner["score"]}})
        return out


def _past(row: Any) -> PastSeason:
    return PastSeason(row["board_id"], row["season"], row["started_at"], row["ended_at"],
                      row["players"], row["archived_at"] is not None)

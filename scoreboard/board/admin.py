"""Creating, changing and retiring boards (admin), each recorded in ``admin_audit``.

PostgreSQL is written first, under a row lock, and Redis's copy is changed before
the COMMIT: if Redis refuses, nothing changed; two admins changing one board
reach Redis in the order they reach PostgreSQL. Each change bumps
``{lb}:boards:version`` (so every process's next write sees it) and tells every
process on Pub/Sub.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import asyncpg

from .. import errors
from ..live.events import encode_boards
from ..players.moderation import audit
from ..store import keys
from ..store.client import RedisClient
from .definitions import GLOBAL, Board, from_row
from .registry import Boards, store

_INSERT = """
INSERT INTO boards (id, title, sort_order, operator, actions, reset, timezone)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (id) DO NOTHING
RETURNING *"""
_COLUMNS = {"title": "title", "order": "sort_order", "operator": "operator",
            "actions": "actions", "reset": "reset", "timezone": "timezone"}


class BoardAdmin:
    def __init__(self, pool: asyncpg.Pool, redis: RedisClient, boards: Boards,
                 catalogue: Collection[str]) -> None:
        self.pool = pool
        self.redis = redis
        self.boards = boards
        self.catalogue = catalogue

    def _check_actions(self, actions: list[str] | None) -> None:
        unknown = sorted(set(actions or ()) - set(self.catalogue))
        if unknown:
            raise errors.ValidationFailed(fields={"actions": [
                f"Not in the action catalogue: {', '.join(unknown)}."]})

    async def _publish(self, board: Board, *, retired: bool = False) -> None:
        await store(self.redis, board, retired=retired)
        # apart from the MULTI: the channel is not under {lb} (one slot in a cluster)
        await self.redis.publish(keys.CHANNEL, encode_boards(board.id))

    async def create(self, actor_id: str, data: dict[str, Any]) -> Board:
        self._check_actions(data["actions"])
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(_INSERT, data["id"], data["title"], data["order"],
                                      data["operator"], data["actions"], data["reset"],
                                      data["timezone"])
            if row is None:
                raise errors.Conflict(f"Board {data['id']!r} exists (or existed: ids of "
                                      "retired boards are not reused)")
            board = from_row(row)
            await audit(conn, actor_id, "create_board", None, {"board": board.id, **data})
            await self._publish(board)
        await self.boards.load()
        return board

    async def _has_scores(self, board: Board) -> bool:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zcard(board.keys.scores)
            pipe.zcard(board.keys.hidden)
            return sum(await pipe.execute()) > 0

    async def change(self, actor_id: str, board_id: str, data: dict[str, Any]) -> Board:
        if "actions" in data:
            self._check_actions(data["actions"])
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT * FROM boards WHERE id = $1 AND retired_at IS NULL FOR UPDATE", board_id)
            if row is None:
                raise errors.NotFound(f"No board {board_id!r}")
            board = from_row(row)
            if board_id == GLOBAL and data.get("reset") is not None:
                raise errors.Conflict("`global` has no reset schedule")
            rules = {f for f in ("order", "operator") if f in data and
                     data[f] != getattr(board, f)}
            if rules and (board.season > 1 or await self._has_scores(board)):
                raise errors.Conflict(f"{' and '.join(sorted(rules))} cannot change while "
                                      "the board has scores (or past seasons)")
            if data:
                sets = ", ".join(f"{_COLUMNS[f]} = ${i}" for i, f in enumerate(data, start=2))
                row = await conn.fetchrow(f"UPDATE boards SET {sets} WHERE id = $1 RETURNING *",
                                          board_id, *data.values())
            changed = from_row(row)
            await audit(conn, actor_id, "change_board", None, {"board": board_id, **data})
            await self._publish(changed)
        await self.boards.load()
        return changed

    async def retire(self, actor_id: str, board_id: str) -> Board:
        if board_id == GLOBAL:
            raise errors.Conflict("`global` cannot be deleted")
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "UPDATE boards SET retired_at = now() WHERE id = $1 AND retired_at IS NULL"
                " RETURNING *", board_id)
            if row is None:
                raise errors.NotFound(f"No board {board_id!r}")
            board = from_row(row)
            await audit(conn, actor_id, "retire_board", None, {"board": board_id})
            await self._publish(board, retired=True)
        await self.boards.load()
        return board

"""Admin actions: creating players and banning cheaters (hidden from every board,
their updates refused, their history kept), each recorded in ``admin_audit``."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import orjson

from .. import errors
from ..store import keys, scripts, stream
from ..store.client import RedisClient
from . import users


async def audit(conn: Any, actor_id: str, action: str, target_id: str | None,
                detail: dict[str, Any] | None = None) -> None:
    await conn.execute(
        "INSERT INTO admin_audit (actor_id, action, target_id, detail) VALUES ($1, $2, $3, $4)",
        uuid.UUID(actor_id), action, uuid.UUID(target_id) if target_id else None,
        orjson.dumps(detail or {}).decode(),
    )


STALE_RETRIES = 5


class Moderation:
    def __init__(self, pool: asyncpg.Pool, redis: RedisClient) -> None:
        self.pool = pool
        self.redis = redis
        self._ban = scripts.load("ban", redis)

    async def _live_boards(self) -> tuple[int, list[tuple[str, int]]]:
        """The live boards (id, season) and the version of their definitions."""
        version, raw = await stream.definitions(self.redis)
        boards = [(k, int(orjson.loads(v).get("season", 1))) for k, v in raw.items()]
        return version, boards or [(keys.GLOBAL, 1)]

    async def create_player(self, actor_id: str, data: dict[str, Any]) -> dict[str, Any]:
        user = await users.create(self.pool, self.redis, data["username"], data["email"],
                                  data["avatar_url"])
        await audit(self.pool, actor_id, "create_user", user["id"], {"username": user["username"]})
        return user

    async def set_banned(self, actor_id: str, user_id: str, banned: bool) -> dict[str, Any]:
        """Record the ban in PostgreSQL (with an audit row), then apply it to Redis."""
        action = "ban" if banned else "unban"
        if banned and uuid.UUID(user_id) == uuid.UUID(actor_id):
            async with self.pool.acquire() as conn:  # the attempt is on record
                await audit(conn, actor_id, "ban_refused", user_id, {"reason": "self"})
            raise errors.Conflict("An admin cannot ban themselves")
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "UPDATE users SET banned_at = CASE WHEN $2 THEN COALESCE(banned_at, now()) END,"
                " updated_at = CURRENT_TIMESTAMP WHERE id = $1 RETURNING id, banned_at",
                uuid.UUID(user_id), banned,
            )
            if row is None:
                raise errors.NotFound("No such user")
            await audit(conn, actor_id, action, user_id)
        for _ in range(STALE_RETRIES):
            version, boards = await self._live_boards()
            reply = await self._ban(
                keys=scripts.with_boards(
                    scripts.BanKeys(banned=keys.BANNED, version=keys.BOARDS_VERSION),
                    [scripts.BanBoardKeys(*keys.board_keys(b, season)[:4])
                     for b, season in boards]),
                args=scripts.with_boards(
                    scripts.BanArgs(action=action, uid=user_id, channel=keys.CHANNEL,
                                    top_n=keys.TOP_N, version=version),
                    [scripts.BanBoardArgs(b, season) for b, season in boards]))
            if scripts.parse_status(reply) != "STALE":
                break
        else:
            raise errors.ServiceUnavailable("Boards are being changed; retry")
        return {"user_id": user_id, "banned": banned,
                "banned_at": row["banned_at"].isoformat() if row["banned_at"] else None}

"""Players: PostgreSQL rows, and their profiles cached in Redis for the hot path."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import asyncpg
import orjson
from redis.typing import EncodableT

from .. import errors
from ..store import keys
from ..store.client import RedisClient

PROFILE_CHUNK = 1000


def profile_json(row: Any) -> bytes:
    return orjson.dumps({"username": row["username"], "avatar_url": row["avatar_url"]})


def user_json(row: Any) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "username": row["username"],
        "email": row["email"],
        "avatar_url": row["avatar_url"],
        "created_at": row["created_at"].isoformat() if row["created_at"] else None,
    }


def parse_user_id(raw: str) -> str:
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise errors.ValidationFailed(fields={"id": ["Not a valid UUID."]}) from None


async def create(pool: asyncpg.Pool, redis: RedisClient, username: str, email: str,
                 avatar_url: str | None) -> dict[str, Any]:
    """Insert a player and publish their profile to Redis (so their tokens work at once)."""
    try:
        row = await pool.fetchrow(
            "INSERT INTO users (username, email, avatar_url) VALUES ($1, $2, $3)"
            " RETURNING id, username, email, avatar_url, created_at",
            username, email, avatar_url,
        )
    except asyncpg.UniqueViolationError as exc:
        field = "username" if "username" in (exc.constraint_name or "") else "email"
        raise errors.Conflict(f"That {field} is taken",
                              fields={field: ["Already taken."]}) from None
    await redis.hset(keys.PROFILES, str(row["id"]), profile_json(row))
    return user_json(row)


async def load_profiles(pool: asyncpg.Pool, redis: RedisClient,
                        ids: Iterable[str] | None = None) -> int:
    """Copy profiles (all, or the given ids) from PostgreSQL to Redis; returns how many."""
    count = 0
    async with pool.acquire() as conn, conn.transaction():
        if ids is None:
            cursor = conn.cursor("SELECT id, username, avatar_url FROM users")
        else:
            cursor = conn.cursor("SELECT id, username, avatar_url FROM users WHERE id = ANY($1)",
                                 [uuid.UUID(i) for i in ids])
        batch: dict[EncodableT, EncodableT] = {}
        async for row in cursor:
            batch[str(row["id"])] = profile_json(row)
            if len(batch) >= PROFILE_CHUNK:
                await redis.hset(keys.PROFILES, mapping=batch)
                count += len(batch)
                batch = {}
        if batch:
            await redis.hset(keys.PROFILES, mapping=batch)
            count += len(batch)
    return count


async def ensure_profiles(pool: asyncpg.Pool, redis: RedisClient) -> None:
    """At start: a new or wiped Redis gets every profile, so existing tokens keep working."""
    if not await redis.exists(keys.PROFILES):
        await load_profiles(pool, redis)
        banned = await pool.fetch("SELECT id FROM users WHERE banned_at IS NOT NULL")
        if banned:
            await redis.sadd(keys.BANNED, *[str(r["id"]) for r in banned])

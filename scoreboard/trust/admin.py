"""Creating, listing and revoking server keys (admin), each recorded in ``admin_audit``.

PostgreSQL holds the keys (a hash of each secret, never the secret); Redis holds the
grants every process reads (``keys.mirror``). Each change writes PostgreSQL, then
Redis before the COMMIT: if Redis refuses, nothing changed.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

import asyncpg

from .. import errors
from ..players.moderation import audit
from ..store.client import RedisClient
from .keys import KeyRing, digest, grant_of, mirror, new_secret

MAX_KEYS = 1000  # live keys: each process holds every grant in memory
_COLUMNS = "id, name, actions, created_at, last_used_at, revoked_at"


def public(row: Any) -> dict[str, Any]:
    """A key as the API lists it: never its secret or its hash."""
    def iso(at: datetime | None) -> str | None:
        return at.isoformat() if at is not None else None

    return {"id": str(row["id"]), "name": row["name"],
            "actions": list(row["actions"]) if row["actions"] is not None else None,
            "created_at": iso(row["created_at"]), "last_used_at": iso(row["last_used_at"]),
            "revoked_at": iso(row["revoked_at"])}


async def deployment_tag(conn: Any) -> str:
    tag: str = await conn.fetchval("SELECT tag FROM deployment")
    return tag


class KeyAdmin:
    def __init__(self, pool: asyncpg.Pool, redis: RedisClient, catalogue: Collection[str],
                 ring: KeyRing | None = None) -> None:
        self.pool = pool
        self.redis = redis
        self.catalogue = catalogue
        self.ring = ring  # this process's copy: brought up to date after each change

    async def _changed(self) -> None:
        if self.ring is not None:
            await self.ring.load()

    def _check_actions(self, actions: list[str] | None) -> None:
        unknown = sorted(set(actions or ()) - set(self.catalogue))
        if unknown:
            raise errors.ValidationFailed(
                fields={"actions": [f"Not in the catalogue: {', '.join(unknown)}."]})

    async def create(self, actor_id: str, name: str, actions: list[str] | None
                     ) -> dict[str, Any]:
        """A new key: its listing fields and ``key``, the secret, shown this once."""
        self._check_actions(actions)
        actions = sorted(set(actions)) if actions is not None else None
        key_id = uuid.uuid4()
        async with self.pool.acquire() as conn, conn.transaction():
            live = await conn.fetchval(
                "SELECT count(*) FROM server_keys WHERE revoked_at IS NULL")
            if live >= MAX_KEYS:
                raise errors.Conflict(f"At most {MAX_KEYS} live server keys; revoke one first")
            tag = await deployment_tag(conn)
            secret = new_secret(tag)
            row = await conn.fetchrow(
                f"INSERT INTO server_keys (id, name, actions, secret_hash)"
                f" VALUES ($1, $2, $3, $4) RETURNING {_COLUMNS}, secret_hash",
                key_id, name, actions, bytes.fromhex(digest(secret)))
            await audit(conn, actor_id, "create_key", str(key_id),
                        {"name": name, "actions": actions})
            await mirror(self.redis, tag, [grant_of(row)])
        await self._changed()
        return {**public(row), "key": secret}

    async def list(self) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            f"SELECT {_COLUMNS} FROM server_keys ORDER BY created_at, id")
        return [public(r) for r in rows]

    async def revoke(self, actor_id: str, key_id: str) -> dict[str, Any]:
        """Revoke a key (again: no change, the same answer); 404 if there is none."""
        try:
            uid = uuid.UUID(key_id)
        except ValueError:
            raise errors.NotFound("No such server key") from None
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"UPDATE server_keys SET revoked_at = coalesce(revoked_at, now())"
                f" WHERE id = $1 RETURNING {_COLUMNS}, secret_hash", uid)
            if row is None:
                raise errors.NotFound("No such server key")
            await audit(conn, actor_id, "revoke_key", key_id, {"name": row["name"]})
            await mirror(self.redis, await deployment_tag(conn), [grant_of(row)])
        await self._changed()
        return public(row)


async def sync(pool: asyncpg.Pool, redis: RedisClient) -> int:
    """Copy every key's grant from PostgreSQL to Redis (a new or wiped Redis, a failover
    that lost a recent change). Returns how many."""
    async with pool.acquire() as conn:
        tag = await deployment_tag(conn)
        rows = await conn.fetch("SELECT id, actions, secret_hash, revoked_at FROM server_keys")
    await mirror(redis, tag, [grant_of(r) for r in rows])
    return len(rows)

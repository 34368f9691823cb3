"""The review queue: flags listed (paged, newest first), resolved as dismissed or banned
(the existing ban), and a player's latest events with who wrote each."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson

from .. import errors
from ..persist.sql import parse_boards
from ..players.moderation import Moderation, audit
from ..store import keys
from ..store.client import RedisClient

STATUSES = ("open", "dismissed", "banned", "all")
RESOLUTIONS = {"dismiss": "dismissed", "ban": "banned"}
# a player's latest events are looked for in these windows, widening until enough are
# found (the BRIN index on created_at finds a window's pages; sql/011_flags.sql)
EVENT_WINDOWS = (timedelta(minutes=10), timedelta(hours=6), timedelta(days=7), None)

_COLUMNS = """f.id, f.seq, f.user_id, u.username, f.board, f.detector, f.value, f.threshold,
    f.evidence, f.created_at, f.status, f.resolved_at, f.resolved_by"""


def iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def public(row: Any) -> dict[str, Any]:
    return {"id": str(row["id"]), "user_id": str(row["user_id"]),
            "username": row["username"], "board": row["board"],
            "detector": row["detector"], "value": row["value"],
            "threshold": row["threshold"], "evidence": orjson.loads(row["evidence"]),
            "created_at": iso(row["created_at"]), "status": row["status"],
            "resolved_at": iso(row["resolved_at"]),
            "resolved_by": str(row["resolved_by"]) if row["resolved_by"] else None}


class Review:
    def __init__(self, pool: asyncpg.Pool, redis: RedisClient, moderation: Moderation, *,
                 timeout_s: float = 2.0) -> None:
        self.pool = pool
        self.redis = redis
        self.moderation = moderation
        self.timeout_s = timeout_s

    async def page(self, status: str, limit: int, cursor: int | None
                   ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of flags, newest first, and the cursor of the next (None: the last)."""
        where: list[str] = ["f.seq < $1"]
        args: list[Any] = [cursor or 2**62]
        if status != "all":
            where.append("f.status = $2")
            args.append(status)
        rows = await self.pool.fetch(
            f"SELECT {_COLUMNS} FROM flags f JOIN users u ON u.id = f.user_id"
            f" WHERE {' AND '.join(where)} ORDER BY f.seq DESC LIMIT {limit + 1}", *args,
            timeout=self.timeout_s)
        more = len(rows) > limit
        rows = rows[:limit]
        return [public(r) for r in rows], (str(rows[-1]["seq"]) if more else None)

    async def resolve(self, actor_id: str, flag_id: str, resolution: str) -> dict[str, Any]:
        """Dismiss a flag, or ban its player (the existing ban); 404 for no such flag,
        409 for one already resolved."""
        try:
            fid = uuid.UUID(flag_id)
        except ValueError:
            raise errors.NotFound("No such flag") from None
        status = RESOLUTIONS[resolution]
        async with self.pool.acquire() as conn:
            current = await conn.fetchrow("SELECT user_id, status FROM flags WHERE id = $1",
                                          fid)
            if current is None:
                raise errors.NotFound("No such flag")
            if current["status"] != "open":
                raise errors.Conflict(f"This flag was already resolved ({current['status']})")
        if status == "banned":  # the ban first: a refused ban (oneself) resolves nothing
            await self.moderation.set_banned(actor_id, str(current["user_id"]), True)
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "UPDATE flags SET status = $2, resolved_at = now(), resolved_by = $3"
                " WHERE id = $1 AND status = 'open' RETURNING board, detector, user_id",
                fid, status, uuid.UUID(actor_id))
            if row is None:  # resolved meanwhile by another admin
                raise errors.Conflict("This flag was already resolved")
            await audit(conn, actor_id, f"flag_{status}", str(row["user_id"]),
                        {"flag": flag_id, "detector": row["detector"], "board": row["board"]})
            shown = await conn.fetchrow(
                f"SELECT {_COLUMNS} FROM flags f JOIN users u ON u.id = f.user_id"
                " WHERE f.id = $1", fid)
        # the player may be flagged again by that detector on that board
        await self.redis.delete(keys.flag_marker(row["detector"], row["board"],
                                                 str(row["user_id"])))
        return public(shown)

    async def events(self, user_id: str, limit: int) -> list[dict[str, Any]]:
        """A player's latest events, newest first: when, what, which boards, and who
        wrote each (``player`` or the server key's id)."""
        uid = uuid.UUID(user_id)
        async with self.pool.acquire() as conn:
            if await conn.fetchval("SELECT 1 FROM users WHERE id = $1", uid) is None:
                raise errors.NotFound("No such user")
            now = datetime.now(UTC)
            rows: list[Any] = []
            for window in EVENT_WINDOWS:
                since = now - window if window is not None else datetime(1970, 1, 1, tzinfo=UTC)
                rows = await conn.fetch(
                    "SELECT created_at, action_type, score_increment, boards, key_id"
                    " FROM score_events WHERE user_id = $1 AND created_at >= $2"
                    " ORDER BY created_at DESC, seq DESC LIMIT $3", uid, since, limit,
                    timeout=self.timeout_s)
                if len(rows) >= limit:
                    break
        return [{"at": iso(r["created_at"]), "action_type": r["action_type"],
                 "value": int(r["score_increment"]),
                 "boards": [f.board for f in parse_boards(r["boards"])],
                 "via": str(r["key_id"]) if r["key_id"] else "player"} for r in rows]

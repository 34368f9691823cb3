"""What the admin console reads about players and admins: players by username prefix,
and the audit log, both paged."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson


def _escaped(prefix: str) -> str:
    """A LIKE pattern's literal text: its wildcards and escape character escaped."""
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def search(pool: asyncpg.Pool, prefix: str, limit: int, cursor: str | None,
                 timeout_s: float) -> tuple[list[dict[str, Any]], str | None]:
    """Players whose username starts with ``prefix`` (any case), by username (byte order,
    the same under any collation); a page and the next one's cursor (the last username,
    lower-cased; None: the last page). The prefix is found through the
    ``text_pattern_ops`` index (sql/012_console.sql)."""
    rows = await pool.fetch(
        "SELECT id, username, avatar_url, banned_at, created_at FROM users"
        " WHERE lower(username) LIKE $1 || '%' AND lower(username) COLLATE \"C\" > $2"
        " ORDER BY lower(username) COLLATE \"C\" LIMIT $3",
        _escaped(prefix.lower()), (cursor or "").lower(), limit + 1, timeout=timeout_s)
    more = len(rows) > limit
    rows = rows[:limit]
    users = [{"id": str(r["id"]), "username": r["username"], "avatar_url": r["avatar_url"],
              "banned": r["banned_at"] is not None,
              "created_at": r["created_at"].isoformat() if r["created_at"] else None}
             for r in rows]
    return users, (rows[-1]["username"].lower() if more else None)


async def audit_page(pool: asyncpg.Pool, limit: int, cursor: int | None,
                     timeout_s: float) -> tuple[list[dict[str, Any]], str | None]:
    """The audit log, newest first: who did what to what, when."""
    rows = await pool.fetch(
        "SELECT id, actor_id, action, target_id, detail, created_at FROM admin_audit"
        " WHERE id < $1 ORDER BY id DESC LIMIT $2", cursor or 2**62, limit + 1,
        timeout=timeout_s)
    more = len(rows) > limit
    rows = rows[:limit]
    entries = []
    for r in rows:
        details = orjson.loads(r["detail"]) if isinstance(r["detail"], str) else r["detail"]
        target = str(r["target_id"]) if r["target_id"] else (
            details.get("board") or details.get("flag") or None)
        entries.append({"at": r["created_at"].isoformat(), "actor": str(r["actor_id"]),
                        "action": r["action"], "target": target, "details": details})
    return entries, (str(rows[-1]["id"]) if more else None)

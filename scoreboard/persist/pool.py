"""The PostgreSQL connection pool, and which server it reaches."""

from __future__ import annotations

from typing import Any, cast

import asyncpg

COMMAND_TIMEOUT_S = 10
# A server, told apart from any other and from itself before a restart: a promoted
# standby answers on another address, and its postmaster started at another time.
IDENTITY = ("SELECT coalesce(host(inet_server_addr()), 'local') || ':'"
            " || coalesce(inet_server_port(), 0) || '@' || pg_postmaster_start_time()")


class ServerWatch:
    """Remembers the server the pool's newest connection reached. With a DSN listing
    several hosts (``target_session_attrs=read-write``) the pool reconnects to a
    promoted standby by itself; this is how the service notices it did."""

    def __init__(self) -> None:
        self.current: str | None = None

    async def init(self, conn: asyncpg.Connection) -> None:
        self.current = str(await conn.fetchval(IDENTITY))


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10,
                      watch: ServerWatch | None = None) -> asyncpg.Pool:
    kwargs: dict[str, Any] = {"init": watch.init} if watch is not None else {}
    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, command_timeout=COMMAND_TIMEOUT_S, **kwargs
    )
    return cast(asyncpg.Pool, pool)

"""The PostgreSQL connection pool."""

from __future__ import annotations

from typing import cast

import asyncpg

COMMAND_TIMEOUT_S = 10


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, command_timeout=COMMAND_TIMEOUT_S
    )
    return cast(asyncpg.Pool, pool)

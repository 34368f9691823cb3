"""PostgreSQL: the pool and the numbered migrations in ``sql/``."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import cast

import asyncpg

log = logging.getLogger(__name__)

MIGRATION_LOCK = 0x5C0B0A4D  # pg_advisory_xact_lock key: one migrator at a time
_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


def sql_dir() -> Path:
    override = os.environ.get("SCOREBOARD_SQL_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parent.parent / "sql"


def migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) for every numbered file, in order."""
    out = []
    for path in sorted(sql_dir().glob("*.sql")):
        match = _NAME.match(path.name)
        if match:
            out.append((int(match.group(1)), path.name, path.read_text()))
    return out


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply what is missing, each file in its own transaction. Returns the names applied."""
    applied: list[str] = []
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    for version, name, sql in migrations():
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
            done = await conn.fetchval(
                "SELECT 1 FROM schema_migrations WHERE version = $1", version
            )
            if done:
                continue
            await conn.execute(sql)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, name
            )
            applied.append(name)
            log.info("migration applied: %s", name)
    return applied


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, command_timeout=10
    )
    return cast(asyncpg.Pool, pool)

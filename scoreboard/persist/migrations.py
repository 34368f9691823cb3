"""The numbered schema migrations: the top-level ``sql/`` folder, shipped inside the
package as ``scoreboard/sql`` (a link in the source tree, files in a wheel)."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)

MIGRATION_LOCK = 0x5C0B0A4D  # pg_advisory_xact_lock key: one migrator at a time
_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


def sql_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "sql"


def migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) for every numbered file, in order."""
    out = []
    for path in sorted(sql_dir().glob("*.sql")):
        match = _NAME.match(path.name)
        if match:
            out.append((int(match.group(1)), path.name, path.read_text()))
    return out


async def migrate(conn: asyncpg.Connection, upto: int | None = None) -> list[str]:
    """Apply what is missing (up to version ``upto``, default all), each file in its own
    transaction. Returns the names applied."""
    applied: list[str] = []
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
        " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    for version, name, sql in migrations():
        if upto is not None and version > upto:
            break
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

"""Migrations on a real PostgreSQL: the seed's tables, applied once."""

from __future__ import annotations

import asyncpg

from scoreboard.persist.migrations import migrate, migrations


async def test_migrate_twice_is_a_noop(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        # the fixture already migrated this database: nothing is left to apply
        assert await migrate(conn) == []
        versions = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
        assert [r["version"] for r in versions] == [v for v, _, _ in migrations()]
        assert await migrate(conn) == []
    finally:
        await conn.close()


async def test_seed_tables_exactly(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        cols = await conn.fetch(
            "SELECT table_name, column_name, data_type FROM information_schema.columns"
            " WHERE table_name IN ('users', 'scores') ORDER BY table_name, ordinal_position"
        )
        got = {(r["table_name"], r["column_name"]): r["data_type"] for r in cols}
        assert got[("users", "id")] == "uuid"
        assert got[("users", "username")] == "character varying"
        assert got[("scores", "total_score")] == "bigint"
        assert got[("scores", "version")] == "integer"
        indexes = {r["indexname"] for r in await conn.fetch("SELECT indexname FROM pg_indexes")}
        assert {"idx_users_username", "idx_scores_total_desc", "idx_scores_user_id"} <= indexes
        # a fresh user gets a generated UUID and the seed's defaults
        uid = await conn.fetchval(
            "INSERT INTO users (username, email) VALUES ('m1', 'm1@x.io') RETURNING id")
        await conn.execute("INSERT INTO scores (user_id) VALUES ($1)", uid)
        row = await conn.fetchrow("SELECT total_score, version FROM scores WHERE user_id=$1", uid)
        assert (row["total_score"], row["version"]) == (0, 1)
    finally:
        await conn.close()

"""Migrations on a real PostgreSQL: the seed's tables, applied once."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import pytest

from scoreboard.persist.migrations import migrate, migrations
from scoreboard.persist.sql import write_lines
from tests.conftest import _admin_dsn, create_database


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
        assert {"idx_users_username", "idx_scores_total_desc"} <= indexes
        # the seed's second index on scores(user_id) is dropped (009): its UNIQUE's serves
        assert "idx_scores_user_id" not in indexes and "scores_user_id_key" in indexes
        # a fresh user gets a generated UUID and the seed's defaults
        uid = await conn.fetchval(
            "INSERT INTO users (username, email) VALUES ('m1', 'm1@x.io') RETURNING id")
        await conn.execute("INSERT INTO scores (user_id) VALUES ($1)", uid)
        row = await conn.fetchrow("SELECT total_score, version FROM scores WHERE user_id=$1", uid)
        assert (row["total_score"], row["version"]) == (0, 1)
    finally:
        await conn.close()


async def test_events_follow_their_player(database_url: str) -> None:
    """score_events has no foreign key of its own (008): the player is checked through
    the totals row written in the same transaction, and a deleted player's events go
    with it."""
    conn = await asyncpg.connect(database_url)
    try:
        uid = await conn.fetchval(
            "INSERT INTO users (username, email) VALUES ('ev1', 'ev1@x.io') RETURNING id")
        tail = "1700000000000\t\\N\t\\N\t\\N\n"  # no key, no metadata, `global` only
        await write_lines(conn, [f"1-1\t{uid}\tkill\t5\t1\t{tail}".encode(),
                                 f"1-2\t{uid}\tkill\t2\t2\t{tail}".encode()])
        assert await conn.fetchval("SELECT total_score FROM scores WHERE user_id = $1",
                                   uid) == 7
        ghost = uuid.uuid4()
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await write_lines(conn, [f"1-3\t{ghost}\tkill\t1\t3\t{tail}".encode()])
        assert await conn.fetchval("SELECT count(*) FROM score_events WHERE id = '1-3'") == 0
        await conn.execute("DELETE FROM users WHERE id = $1", uid)
        assert await conn.fetchval("SELECT count(*) FROM score_events WHERE user_id = $1",
                                   uid) == 0
        assert await conn.fetchval("SELECT count(*) FROM scores WHERE user_id = $1", uid) == 0
    finally:
        await conn.close()


SCHEMA = {
    "columns": "SELECT table_name, column_name, data_type, is_nullable, column_default"
               " FROM information_schema.columns WHERE table_schema = 'public'",
    "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes"
               " WHERE schemaname = 'public'",
    "constraints": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)"
                   " FROM pg_constraint WHERE connamespace = 'public'::regnamespace",
}


async def _schema(conn: asyncpg.Connection) -> dict[str, set[tuple[Any, ...]]]:
    return {what: {tuple(r) for r in await conn.fetch(sql)} for what, sql in SCHEMA.items()}


async def test_the_stairway_one_migration_at_a_time(pg_server: Any) -> None:
    """Each migration applied alone, in order, on a database holding rows written at the
    first step, ends on exactly the schema of all of them applied at once, with those
    rows intact (no migration has a down step: none is reverted)."""
    whole = await create_database(_admin_dsn(pg_server))
    stairs = await create_database(_admin_dsn(pg_server), migrated=False)
    conn = await asyncpg.connect(stairs)
    try:
        for i, (version, name, _) in enumerate(migrations()):
            assert await migrate(conn, upto=version) == [name]
            if i == 0:  # the seed's rows, carried up every later step
                uid = await conn.fetchval("INSERT INTO users (username, email)"
                                          " VALUES ('Early', 'early@x.io') RETURNING id")
                await conn.execute("INSERT INTO scores (user_id, total_score) VALUES ($1, 42)",
                                   uid)
        assert await migrate(conn) == []
        other = await asyncpg.connect(whole)
        try:
            assert await _schema(conn) == await _schema(other)
        finally:
            await other.close()
        assert await conn.fetchval("SELECT total_score FROM scores s JOIN users u"
                                   " ON u.id = s.user_id WHERE u.username = 'Early'") == 42
        with pytest.raises(asyncpg.UniqueViolationError):  # 004: names case-insensitive
            await conn.execute("INSERT INTO users (username, email) VALUES ('early', 'e2@x.io')")
    finally:
        await conn.close()

"""Fixtures: a real Redis and a real PostgreSQL for the session (or REDIS_URL /
DATABASE_URL when set), a fresh database per test module, clean state per test."""

from __future__ import annotations

import asyncio
import os
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis

from scoreboard import auth, users
from scoreboard.app import create_app
from scoreboard.config import Config
from scoreboard.pg import migrate

from .servers import PostgresServer, RedisServer

SECRET = "test-secret-" + "x" * 60


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer | None]:
    if os.environ.get("DATABASE_URL"):
        yield None
        return
    server = PostgresServer(tmp_path_factory.mktemp("pg"))
    server.init()
    server.start()
    try:
        yield server
    finally:
        server.stop("immediate")


def _admin_dsn(pg_server: PostgresServer | None) -> str:
    return pg_server.url if pg_server else os.environ["DATABASE_URL"]


def _with_database(dsn: str, name: str) -> str:
    base, _, query = dsn.partition("?")
    base = base.rsplit("/", 1)[0] + "/" + name
    return base + ("?" + query if query else "")


async def create_database(admin_dsn: str) -> str:
    name = "sb_" + uuid.uuid4().hex[:12]
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    dsn = _with_database(admin_dsn, name)
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    return dsn


@pytest.fixture(scope="module")
def database_url(pg_server: PostgresServer | None) -> str:
    """A fresh, migrated database for each test module."""
    return asyncio.run(create_database(_admin_dsn(pg_server)))


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    await client.flushdb()
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    await p.execute("TRUNCATE users, scores, score_events, admin_audit CASCADE")
    try:
        yield p
    finally:
        await p.close()


@pytest.fixture
def config(redis_url: str, database_url: str, tmp_path: Path) -> Config:
    return Config(
        redis_url=redis_url,
        database_url=database_url,
        jwt_secret=SECRET,
        persist_interval_s=3600,  # tests flush explicitly unless they say otherwise
        cache_refresh_interval_s=3600,
        ws_coalesce_ms=20,
        data_dir=tmp_path,
    )


AppFactory = Callable[..., Awaitable[Any]]


@pytest.fixture
def make_client(aiohttp_client: Any, config: Config, redis: Redis,
                pool: asyncpg.Pool) -> AppFactory:
    """A test client for an app built by create_app; keyword arguments override the config."""

    async def make(**overrides: Any) -> Any:
        app = create_app(replace(config, **overrides))
        return await aiohttp_client(app)

    return make


@pytest.fixture
async def client(make_client: AppFactory) -> Any:
    return await make_client()


@pytest.fixture
def make_player(pool: asyncpg.Pool, redis: Redis, config: Config) -> Callable[..., Awaitable[Any]]:
    """Create a player in PostgreSQL (and their profile in Redis); returns (id, token)."""

    async def make(username: str | None = None, *, admin: bool = False,
                   avatar_url: str | None = None) -> tuple[str, str]:
        name = username or "p_" + secrets.token_hex(4)
        user = await users.create(pool, redis, name, f"{name}@example.com", avatar_url)
        return user["id"], auth.mint(config, user["id"], admin=admin)

    return make


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def post_score(client: Any, token: str, increment: int = 10,
                     action: str = "level_complete", *, key: str | None = None,
                     status: int = 200) -> dict[str, Any]:
    """POST an update and check the status and the seed's envelope."""
    headers = bearer(token)
    if key is not None:
        headers["Idempotency-Key"] = key
    resp = await client.post("/api/v1/scores/update", headers=headers,
                             json={"action_type": action, "score_increment": increment})
    body = await resp.json()
    assert resp.status == status, body
    assert body["success"] is (status == 200)
    assert isinstance(body["timestamp"], int) if status == 200 else "error" in body
    return dict(body)


async def eventually(check: Callable[[], Awaitable[Any]], *, within: float = 15.0,
                     what: str = "the condition") -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(0.02)

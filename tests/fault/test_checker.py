"""The checker is shown to catch broken guarantees: the same load as the fault
scenarios, against a service broken on purpose in a throwaway step."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from scoreboard import appkeys
from scoreboard.actions import Action
from scoreboard.persist.sql import write_lines
from scoreboard.persist.worker import event_line
from scoreboard.store import keys
from scoreboard.testing.chaos import ACTION, Load, check, settle

TAP = {ACTION: Action(ACTION, 5, 10**6)}


async def loaded(make_client: Any, make_player: Any) -> tuple[Any, Load]:
    client = await make_client(actions=TAP)
    tokens = dict([await make_player() for _ in range(4)])
    load = Load([str(client.make_url("")).rstrip("/")], tokens, watchers=1)
    return client, load


async def read_pending(redis: Redis, consumer: str) -> list[Any]:
    with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists already
        await redis.xgroup_create(keys.EVENTS, keys.PERSIST_GROUP, id="0", mkstream=True)
    reply = await redis.xreadgroup(keys.PERSIST_GROUP, consumer, {keys.EVENTS: ">"})
    return list(reply[0][1]) if reply else []


async def problems_after(make_client: Any, make_player: Any, pool: asyncpg.Pool,
                         redis: Redis, step: Callable[[Any], Awaitable[Any]],
                         within: float) -> list[str]:
    """Load, stop, run ``step`` (the breakage, or the honest flush), settle, check."""
    client, load = await loaded(make_client, make_player)
    async with load:
        await load.until(60)
        history = await load.stop()
        await step(client)
        await settle(pool, redis, history, within=within)
        return await check(history, pool, redis, lambda: _top10(client), within=within)


async def test_checker_catches_ack_before_commit(make_client: Any, make_player: Any,
                                                 pool: asyncpg.Pool, redis: Redis) -> None:
    lost: list[Any] = []

    async def careless(client: Any) -> None:
        # the bug: events acknowledged to the stream before PostgreSQL has them, then lost
        lost.extend(await read_pending(redis, "careless"))
        await redis.xack(keys.EVENTS, keys.PERSIST_GROUP, *[entry_id for entry_id, _ in lost])
        await client.app[appkeys.PERSISTER].flush()  # persists only what came after

    problems = await problems_after(make_client, make_player, pool, redis, careless, within=1)
    assert lost
    assert any("PostgreSQL holds" in p and "acknowledged" in p for p in problems), problems
    assert any("Redis holds" in p for p in problems), problems


async def test_checker_catches_a_doubled_batch(make_client: Any, make_player: Any,
                                               pool: asyncpg.Pool, redis: Redis) -> None:
    doubled: list[Any] = []

    async def doubler(client: Any) -> None:
        # the bug: a batch written twice under new ids (no dedupe by the stream id)
        entries = await read_pending(redis, "doubler")
        doubled.extend(event_line(i, f) for i, f in entries)
        async with pool.acquire() as conn:
            await write_lines(conn, doubled)
            await write_lines(conn, [b"x" + line for line in doubled])
        await redis.xack(keys.EVENTS, keys.PERSIST_GROUP, *[i for i, _ in entries])

    problems = await problems_after(make_client, make_player, pool, redis, doubler, within=1)
    assert doubled
    assert any("PostgreSQL holds" in p for p in problems), problems


async def test_checker_passes_a_healthy_run(make_client: Any, make_player: Any,
                                            pool: asyncpg.Pool, redis: Redis) -> None:
    """The control: the same steps without the bug find nothing."""

    async def flush(client: Any) -> None:
        await client.app[appkeys.PERSISTER].flush()

    assert await problems_after(make_client, make_player, pool, redis, flush, within=10) == []


async def _top10(client: Any) -> list[Any]:
    resp = await client.get("/api/v1/leaderboard/top10")
    return list((await resp.json())["data"]["leaderboard"])

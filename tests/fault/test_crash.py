"""kill -9 of a serving process under load, then a restart: nothing acknowledged is lost."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections import Counter
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from redis.asyncio import Redis

from scoreboard.auth.tokens import mint
from scoreboard.players import users
from scoreboard.settings import Config
from tests.support import eventually, pg_totals, redis_totals, serve, wait_ready


async def play(base: str, token: str, uid: str, acked: Counter[str],
               unanswered: Counter[str], stop: asyncio.Event) -> None:
    """One player posting increments of 1 until told to stop or the server goes away."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
        while not stop.is_set():
            try:
                async with s.post(base + "/api/v1/scores/update",
                                  json={"action_type": "tap", "score_increment": 1},
                                  timeout=aiohttp.ClientTimeout(total=10)) as r:
                    if r.status == 200:
                        acked[uid] += 1
                    else:
                        unanswered[uid] += 1
            except (aiohttp.ClientError, TimeoutError):
                unanswered[uid] += 1
                return


@pytest.mark.timeout(180)
async def test_kill_9_under_load_loses_nothing(config: Config, pool: asyncpg.Pool,
                                               redis: Redis, tmp_path: Path) -> None:
    made = [await users.create(pool, redis, f"crash{i}", f"crash{i}@x.io", None)
            for i in range(8)]
    tokens = {u["id"]: mint(config, u["id"]) for u in made}
    acked: Counter[str] = Counter()
    unanswered: Counter[str] = Counter()
    stop = asyncio.Event()

    with serve(config, tmp_path) as (proc, base):
        await wait_ready(base)
        tasks = [asyncio.create_task(play(base, t, uid, acked, unanswered, stop))
                 for uid, t in tokens.items()]

        async def some_load() -> bool:
            return sum(acked.values()) >= 400

        await eventually(some_load, within=60, what="load building up")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        stop.set()
        await asyncio.gather(*tasks)
    assert sum(acked.values()) >= 400

    with serve(config, tmp_path) as (_, base):
        await wait_ready(base)

        async def settled() -> bool:
            return await pg_totals(pool) == await redis_totals(redis)

        await eventually(settled, within=60, what="the restarted process persisting the rest")
    pg = await pg_totals(pool)
    for uid in tokens:
        assert acked[uid] <= pg.get(uid, 0) <= acked[uid] + unanswered[uid], uid
    # one row per increment of 1: the rows add up to the totals, so none is doubled
    assert await pool.fetchval("SELECT count(*) FROM score_events") == sum(pg.values())
    assert await pool.fetchval(
        "SELECT count(*) FROM (SELECT id FROM score_events GROUP BY id HAVING count(*) > 1) d"
    ) == 0



@pytest.mark.timeout(180)
async def test_sigterm_under_load_loses_nothing(config: Config, pool: asyncpg.Pool,
                                                redis: Redis, tmp_path: Path) -> None:
    """SIGTERM: stop accepting, finish what is in flight, flush Worker 1 once, exit 0."""
    made = [await users.create(pool, redis, f"term{i}", f"term{i}@x.io", None) for i in range(6)]
    tokens = {u["id"]: mint(config, u["id"]) for u in made}
    acked: Counter[str] = Counter()
    unanswered: Counter[str] = Counter()
    stop = asyncio.Event()

    # a long persist interval: only the flush at shutdown can have written the events
    with serve(config, tmp_path, PERSIST_INTERVAL_S="3600") as (proc, base):
        await wait_ready(base)
        tasks = [asyncio.create_task(play(base, t, uid, acked, unanswered, stop))
                 for uid, t in tokens.items()]

        async def some_load() -> bool:
            return sum(acked.values()) >= 300

        await eventually(some_load, within=60, what="load building up")
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 30)
        stop.set()
        await asyncio.gather(*tasks)
    assert code == 0
    pg = await pg_totals(pool)
    assert pg == await redis_totals(redis)  # nothing left behind in the stream
    for uid in tokens:  # every 200 is in PostgreSQL; only an unanswered one may be too
        assert acked[uid] <= pg.get(uid, 0) <= acked[uid] + unanswered[uid]


@pytest.mark.parametrize("when", ["serving", "starting"])
async def test_workers_stop_when_their_parent_is_killed(config: Config, tmp_path: Path,
                                                        when: str) -> None:
    """kill -9 of the `--workers` parent cannot pass a signal on: each worker notices its
    parent is gone, stops cleanly, and no orphan keeps serving the port; also a worker
    still importing when its parent dies (the kill lands before any worker serves)."""
    import psutil

    with serve(config, tmp_path, args=("--workers", "2")) as (proc, base):
        parent = psutil.Process(proc.pid)
        if when == "serving":
            await wait_ready(base)

        async def both_started() -> list[psutil.Process]:
            kids = parent.children()
            return kids if len(kids) == 2 else []

        children = await eventually(both_started, what="two workers started")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)

        async def all_gone() -> bool:
            return not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE
                           for c in children)

        try:
            await eventually(all_gone, within=30, what="the orphaned workers stopping")
        finally:  # a failure leaves no orphan to consume the next test's stream
            for child in children:
                with contextlib.suppress(psutil.NoSuchProcess):
                    child.kill()


async def test_sigterm_during_start_up_stops_the_process(config: Config, tmp_path: Path) -> None:
    """A signal that lands while the start-up waits on a server is not lost: the process
    stops cleanly (exit 0) instead of finishing the start-up and serving on. Here Redis
    accepts the connection and never answers, with a 60 s command timeout, so an ignored
    signal would end in a start-up failure (exit 1) a minute later."""
    connected = asyncio.Event()
    held: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        connected.set()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with serve(config, tmp_path, REDIS_URL=f"redis://127.0.0.1:{port}/0",
                   REQUEST_TIMEOUT_S="60") as (proc, _):
            await asyncio.wait_for(connected.wait(), 60)  # start-up is waiting on Redis
            proc.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(proc.wait, 90)
    finally:
        for writer in held:
            writer.close()
        server.close()
    assert code == 0

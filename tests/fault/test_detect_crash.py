"""kill -9 of a process while its detectors are working through a backlog, then a
restart: every event is folded once (none lost, none twice) and every cheater gets
exactly one flag of each detector that caught them."""

from __future__ import annotations

import os
import random
import signal
import struct
import time
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis

from scoreboard.players import users
from scoreboard.settings import Config
from scoreboard.store import keys
from tests.support import eventually, serve, wait_ready

PLAYERS, HUGGERS, EVENTS_EACH = 400, 10, 100  # a backlog of a few passes


def _pos(entry_id: bytes | str) -> tuple[int, int]:
    ms, _, seq = (entry_id.decode() if isinstance(entry_id, bytes) else entry_id).partition("-")
    return int(ms), int(seq)


async def progress(redis: Redis) -> tuple[bool, bool]:
    """Whether the detectors' group has read some of the stream, and all of it (by the
    group's last delivered id: Redis 6.2 has no count of entries read)."""
    groups = {g["name"].decode(): g for g in await redis.xinfo_groups(keys.EVENTS)}
    group = groups.get(keys.DETECT_GROUP)
    if group is None:
        return False, False
    info = await redis.xinfo_stream(keys.EVENTS)
    first, last = _pos(info["first-entry"][0]), _pos(info["last-generated-id"])
    at = _pos(group["last-delivered-id"])
    return first <= at < last, at == last and group["pending"] == 0


@pytest.mark.timeout(240)
async def test_kill_9_mid_detection_folds_each_event_once(
        config: Config, pool: asyncpg.Pool, redis: Redis, tmp_path: Path) -> None:
    made = [await users.create(pool, redis, f"det{i}", f"det{i}@x.io", None)
            for i in range(PLAYERS)]
    huggers = {u["id"] for u in made[:HUGGERS]}
    rng = random.Random(1)
    start = int(time.time() * 1000) - 3_600_000
    async with redis.pipeline(transaction=False) as pipe:
        for n in range(EVENTS_EACH):
            for u in made:  # `tap` allows 5: the huggers post 5, the others 1-4
                value = 5 if u["id"] in huggers else rng.randint(1, 4)
                pipe.xadd(keys.EVENTS, {"u": u["id"], "a": "tap", "i": str(value), "s": "1",
                                        "t": str(start + n * 20_000 + rng.randint(0, 15_000)),
                                        "b": "global/1/incr/desc"})
        await pipe.execute()
    env = {"DETECT_INTERVAL_S": "0.05", "PERSIST_INTERVAL_S": "3600"}
    with serve(config, tmp_path, **env) as (proc, base):
        await wait_ready(base)

        async def partway() -> bool:
            return (await progress(redis))[0]

        await eventually(partway, within=60, what="the detectors partway through")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    with serve(config, tmp_path, **env) as (_, base):
        await wait_ready(base)

        async def done() -> bool:
            return (await progress(redis))[1] and not await redis.llen(keys.FLAG_QUEUE)

        await eventually(done, within=120, what="the detectors through the backlog")
        for u in made:  # each event folded exactly once
            sketch = await redis.hget(f"{{lb}}:det:u:{u['id']}", "a:tap")
            assert struct.unpack("<dddddd", sketch)[0] == EVENTS_EACH, u["username"]
    rows = await pool.fetch("SELECT user_id, detector FROM flags")
    pairs = [(str(r["user_id"]), r["detector"]) for r in rows]
    assert sorted(u for u, d in pairs if d == "at_cap") == sorted(huggers)
    # none twice; none on an honest player (the huggers' gain, twice the others',
    # may also stand out to `rate`: that is a flag of its own)
    assert len(pairs) == len(set(pairs)) and {u for u, _ in pairs} == huggers, pairs

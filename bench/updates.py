"""Score updates per second against an aiohttp hello world, measured in one run.

    python -m bench.updates [--seconds 8] [--players 1000] [--modes batch,direct]

Starts a real Redis and PostgreSQL, the service (one process), creates players,
then drives authenticated updates with wrk (a token per player, round robin) and
prints each rate as a share of hello world's, and as a multiple of a plain first
cut's (bench/first_cut.py: PyJWT, marshmallow, one Lua call) in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bench.common import (
    SECRET,
    UPDATE_BODY,
    backing_servers,
    hello_world,
    report,
    served,
    service,
    token_script,
    wrk,
)
from scoreboard.testing.servers import free_port

HELLO_SCRIPT = """
wrk.method = "POST"
wrk.body = '{"action_type": "bench", "score_increment": 1}'
wrk.headers["Content-Type"] = "application/json"
"""


@contextlib.contextmanager
def first_cut(redis_url: str) -> Iterator[str]:
    """The plain first cut (bench/first_cut.py) in a subprocess, on a free port."""
    port = free_port()
    with served(["-m", "bench.first_cut", SECRET, str(port), redis_url], port, "/readyz",
                "first cut") as url:
        yield url


async def make_players(redis_url: str, db_url: str, n: int) -> list[str]:
    from redis.asyncio import Redis

    from scoreboard.auth import tokens as auth
    from scoreboard.persist.migrations import migrate
    from scoreboard.persist.pool import create_pool
    from scoreboard.players import users
    from scoreboard.settings import Config

    pool = await create_pool(db_url)
    redis = Redis.from_url(redis_url)
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
        cfg = Config(jwt_secret=SECRET)
        tokens: list[str] = []
        for i in range(n):
            user = await users.create(pool, redis, f"bench_{i}_{id(tokens) % 9999}",
                                      f"bench{i}_{id(tokens) % 9999}@x.io", None)
            tokens.append(auth.mint(cfg, user["id"]))
        return tokens
    finally:
        await redis.aclose()
        await pool.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--players", type=int, default=1000)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--modes", default="batch")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        actions = Path(tmp) / "actions.json"
        actions.write_text(json.dumps({"bench": {"max_increment": 1000,
                                                 "rate_per_minute": 10**9}}))
        def hello() -> dict[str, float]:
            with hello_world() as url:
                return wrk(url + "/", seconds=args.seconds, connections=args.connections,
                           script=HELLO_SCRIPT)

        rows = {"hello world (before)": hello()}
        with backing_servers() as (redis_url, db_url):
            tokens = asyncio.run(make_players(redis_url, db_url, args.players))
            script = token_script(tokens, "POST", "/api/v1/scores/update", UPDATE_BODY)
            with first_cut(redis_url) as url:
                rows["plain first cut"] = wrk(url + "/", seconds=args.seconds,
                                              connections=args.connections, script=script)
            for mode in args.modes.split(","):
                with service(redis_url, db_url, ACTIONS_FILE=str(actions), PERSIST_MODE=mode,
                             PERSIST_INTERVAL_S="0.5") as url:
                    rows[f"update ({mode})"] = wrk(url + "/", seconds=args.seconds,
                                                   connections=args.connections, script=script)
        rows["hello world (after)"] = hello()
    # the baseline is measured on both sides of the run: a shared machine drifts
    rows["hello world"] = {"rps": (rows["hello world (before)"]["rps"]
                                   + rows["hello world (after)"]["rps"]) / 2}
    report("updates", rows, "hello world")
    for mode in args.modes.split(","):
        ratio = rows[f"update ({mode})"]["rps"] / rows["plain first cut"]["rps"]
        print(f"update ({mode}) / plain first cut: {ratio:.2f} (goal >= 2.0)")


if __name__ == "__main__":
    main()

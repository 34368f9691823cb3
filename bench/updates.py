"""Score updates per second against an aiohttp hello world, measured in one run.

    python -m bench.updates [--rounds 8] [--seconds 2] [--players 1000]
                            [--modes batch,direct]

Starts a real Redis and PostgreSQL, creates players, and serves at once an aiohttp
hello world, a plain first cut (bench/first_cut.py: PyJWT, marshmallow, one Lua
call, orjson) and the service (one process, as shipped). Each round drives each of
the three with wrk (authenticated updates, a token per player, round robin; hello
world gets the same POST), back to back in a turning order; after the service's
turn, the next waits until Worker 1 has persisted every event. Prints the service's
rate as a share of hello world's and as a multiple of the first cut's: the median of
the rounds' ratios, with each round's beside it.
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
    interleaved,
    medians,
    print_ratio,
    report,
    round_ratios,
    served,
    service,
    token_script,
)
from scoreboard.testing.servers import free_port, wait_until

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
    ap.add_argument("--seconds", type=int, default=2, help="each round's wrk run")
    ap.add_argument("--rounds", type=int, default=8,
                    help="interleaved rounds of hello world, the first cut and the service")
    ap.add_argument("--players", type=int, default=1000)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--modes", default="batch")
    args = ap.parse_args()
    rows: dict[str, dict[str, float]] = {}
    ratios: dict[str, float] = {}
    opts = {"rounds": args.rounds, "seconds": args.seconds, "connections": args.connections}
    with tempfile.TemporaryDirectory() as tmp, backing_servers() as (redis_url, db_url):
        actions = Path(tmp) / "actions.json"
        actions.write_text(json.dumps({"bench": {"max_increment": 1000,
                                                 "rate_per_minute": 10**9}}))
        tokens = asyncio.run(make_players(redis_url, db_url, args.players))
        script = token_script(tokens, "POST", "/api/v1/scores/update", UPDATE_BODY)

        def settle(done: str) -> None:  # after the service's turn only
            if done.startswith("update ("):
                persisted(redis_url)

        for mode in args.modes.split(","):
            label = f"update ({mode})"
            with hello_world() as hello, first_cut(redis_url) as cut, \
                    service(redis_url, db_url, ACTIONS_FILE=str(actions), PERSIST_MODE=mode,
                            PERSIST_INTERVAL_S="0.5") as url:
                runs = interleaved((("hello world", hello + "/", HELLO_SCRIPT),
                                    ("plain first cut", cut + "/", script),
                                    (label, url + "/", script)),
                                   settle=settle, **opts)
            rows.update(medians(runs))
            ratios[f"{label} / hello world"] = print_ratio(
                f"{label} / hello world", round_ratios(runs, label, "hello world"), ">= 0.30")
            ratios[f"{label} / plain first cut"] = print_ratio(
                f"{label} / plain first cut", round_ratios(runs, label, "plain first cut"),
                ">= 2.0")
    report("updates", rows, "hello world", ratios)


def persisted(redis_url: str, within: float = 120.0) -> None:
    """Returns once Worker 1 has written every event of the stream to PostgreSQL: its
    work after a round of updates must not fall into the next round's baseline."""
    from redis import Redis

    from scoreboard.store import keys

    redis = Redis.from_url(redis_url)
    try:
        def done() -> bool:
            if not redis.exists(keys.EVENTS):
                return True
            last = redis.xinfo_stream(keys.EVENTS)["last-generated-id"]
            groups = redis.xinfo_groups(keys.EVENTS)
            group = next((g for g in groups if g["name"] == keys.PERSIST_GROUP.encode()), None)
            return group is not None and group["pending"] == 0 and \
                group["last-delivered-id"] == last

        wait_until(done, timeout=within, interval=0.05, what="Worker 1 to catch up")
    finally:
        redis.close()


if __name__ == "__main__":
    main()

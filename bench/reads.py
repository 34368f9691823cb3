"""GET top10 against hello world, and how update and `me` costs grow with the board.

    python -m bench.reads [--seconds 6] [--sizes 10000,1000000]  (--sizes "": top10 only)

Prints top10's rate as a share of hello world's (same run, same wrk; the baseline
measured before and after, and averaged), then for
each board size the p50/p99 latency of updates and of `me`, and the p99 ratio
of the largest board to the smallest.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import uuid
from pathlib import Path
from typing import Any

import asyncpg

from bench.common import (
    SECRET,
    UPDATE_BODY,
    backing_servers,
    hello_world,
    report,
    service,
    token_script,
    wrk,
)


async def fill_board(redis_url: str, db_url: str, size: int, sample: int) -> list[str]:
    """``size`` ranked players straight into Redis; tokens for ``sample`` of them."""
    from redis.asyncio import Redis

    from scoreboard.auth import tokens as auth
    from scoreboard.settings import Config
    from scoreboard.store import keys as store

    redis = Redis.from_url(redis_url)
    cfg = Config(jwt_secret=SECRET)
    await redis.flushdb()
    chosen: list[str] = []
    step = 5000
    for start in range(0, size, step):
        async with redis.pipeline(transaction=False) as pipe:
            zs: dict[str, int] = {}
            members: dict[Any, Any] = {}
            profiles: dict[Any, Any] = {}
            for n in range(start, min(size, start + step)):
                uid = str(uuid.UUID(int=n + 1))
                member = store.member_for(n + 1, uid)
                zs[member] = (n * 7919) % 1_000_000
                members[uid] = member
                profiles[uid] = json.dumps({"username": f"p{n}", "avatar_url": None})
                if n % max(1, size // sample) == 0 and len(chosen) < sample:
                    chosen.append(uid)
            pipe.zadd(store.SCORES, zs)
            pipe.hset(store.MEMBER, mapping=members)
            pipe.hset(store.PROFILES, mapping=profiles)
            await pipe.execute()
    await redis.set(store.SEQ, size + 1)
    await redis.aclose()
    conn = await asyncpg.connect(db_url)
    await conn.execute("TRUNCATE users CASCADE")
    await conn.copy_records_to_table(
        "users", columns=["id", "username", "email"],
        records=((uuid.UUID(int=n + 1), f"p{n}", f"p{n}@x.io") for n in range(size)))
    await conn.close()
    return [auth.mint(cfg, uid) for uid in chosen]


async def migrate(db_url: str) -> None:
    from scoreboard.persist.migrations import migrate as apply

    conn = await asyncpg.connect(db_url)
    await apply(conn)
    await conn.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=6)
    ap.add_argument("--sizes", default="10000,1000000")
    args = ap.parse_args()
    rows: dict[str, dict[str, float]] = {}

    def hello() -> dict[str, float]:
        with hello_world() as url:
            return wrk(url + "/", seconds=args.seconds)

    rows["hello world (before)"] = hello()
    with tempfile.TemporaryDirectory() as tmp:
        actions = Path(tmp) / "actions.json"
        actions.write_text(json.dumps({"bench": {"max_increment": 10,
                                                 "rate_per_minute": 10**9}}))
        with backing_servers() as (redis_url, db_url):
            asyncio.run(migrate(db_url))
            env = {"ACTIONS_FILE": str(actions), "PERSIST_INTERVAL_S": "3600"}
            asyncio.run(fill_board(redis_url, db_url, 20, 20))
            with service(redis_url, db_url, **env) as url:
                rows["GET top10"] = wrk(url + "/api/v1/leaderboard/top10", seconds=args.seconds)
            sizes = [int(s) for s in args.sizes.split(",") if s]
            for size in sizes:
                tokens = asyncio.run(fill_board(redis_url, db_url, size, 500))
                upd = token_script(tokens, "POST", "/api/v1/scores/update", UPDATE_BODY)
                me = token_script(tokens, "GET", "/api/v1/leaderboard/me?window=5")
                with service(redis_url, db_url, **env) as url:
                    rows[f"update @{size}"] = wrk(url + "/", seconds=args.seconds, script=upd,
                                                  connections=20)
                    rows[f"me @{size}"] = wrk(url + "/", seconds=args.seconds, script=me,
                                              connections=20)
    rows["hello world (after)"] = hello()
    # the baseline is measured on both sides of the run, as in bench.updates
    rows["hello world"] = {"rps": (rows["hello world (before)"]["rps"]
                                   + rows["hello world (after)"]["rps"]) / 2}
    report("reads", rows, "hello world")
    if not sizes:  # --sizes "": GET top10 only
        return
    lo, hi = min(sizes), max(sizes)
    for kind in ("update", "me"):
        ratio = rows[f"{kind} @{hi}"]["p99_ms"] / rows[f"{kind} @{lo}"]["p99_ms"]
        print(f"{kind}: p99 at {hi} players / p99 at {lo} players = {ratio:.2f}")


if __name__ == "__main__":
    main()

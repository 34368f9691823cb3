"""GET top10 against hello world, and how update and `me` costs grow with the board.

    python -m bench.reads [--rounds 8] [--round-seconds 2] [--seconds 6]
                          [--sizes 10000,1000000]  (--sizes "": top10 only)

Prints top10's rate as a share of hello world's: both served at once and measured in
interleaved rounds (same wrk), the median of the rounds' ratios with each round's
beside it. Then for each board size the p50/p99 latency of updates and of `me`
(``--seconds`` each), and the p99 ratio of the largest board to the smallest.
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
    interleaved,
    medians,
    print_ratio,
    report,
    round_ratios,
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
    ap.add_argument("--rounds", type=int, default=8,
                    help="interleaved rounds of hello world and top10")
    ap.add_argument("--round-seconds", type=int, default=2)
    ap.add_argument("--sizes", default="10000,1000000")
    args = ap.parse_args()
    rows: dict[str, dict[str, float]] = {}
    ratios: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        actions = Path(tmp) / "actions.json"
        actions.write_text(json.dumps({"bench": {"max_increment": 10,
                                                 "rate_per_minute": 10**9}}))
        with backing_servers() as (redis_url, db_url):
            asyncio.run(migrate(db_url))
            env = {"ACTIONS_FILE": str(actions), "PERSIST_INTERVAL_S": "3600"}
            asyncio.run(fill_board(redis_url, db_url, 20, 20))
            with hello_world() as hello, service(redis_url, db_url, **env) as url:
                runs = interleaved((("hello world", hello + "/", None),
                                    ("GET top10", url + "/api/v1/leaderboard/top10", None)),
                                   rounds=args.rounds, seconds=args.round_seconds,
                                   connections=50)
            rows.update(medians(runs))
            ratios["GET top10 / hello world"] = print_ratio(
                "GET top10 / hello world", round_ratios(runs, "GET top10", "hello world"),
                ">= 0.70")
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
    report("reads", rows, "hello world", ratios)
    if not sizes:  # --sizes "": GET top10 only
        return
    lo, hi = min(sizes), max(sizes)
    for kind in ("update", "me"):
        ratio = rows[f"{kind} @{hi}"]["p99_ms"] / rows[f"{kind} @{lo}"]["p99_ms"]
        print(f"{kind}: p99 at {hi} players / p99 at {lo} players = {ratio:.2f}")


if __name__ == "__main__":
    main()

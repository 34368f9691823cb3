"""Score updates per second against an aiohttp hello world, measured in one run.

    python -m bench.updates [--rounds 8] [--seconds 2] [--players 1000]
                            [--modes batch,direct] [--no-trusted]

Starts a real Redis and PostgreSQL, creates players, and serves at once an aiohttp
hello world, a plain first cut (bench/first_cut.py: PyJWT, marshmallow, one Lua
call, orjson) and the service (one process, as shipped). Each round drives each of
the three with wrk (authenticated updates, a token per player, round robin; hello
world gets the same POST), back to back in a turning order; after the service's
turn, the next waits until Worker 1 has persisted every event. Prints the service's
rate as a share of hello world's and as a multiple of the first cut's: the median of
the rounds' ratios, with each round's beside it.

Unless ``--no-trusted``, the same rounds also drive the service with a server key
(each update naming its player), with 200 bytes of metadata per update, and with
100-item batches (a server key): the key's rate against the token's, the
metadata's against none, the batches' updates per second against single updates'
and a batch's p99 against a single update's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.common import (
    SECRET,
    UPDATE_BODY,
    backing_servers,
    ensure_tool,
    hello_world,
    interleaved,
    medians,
    posts_script,
    print_ratio,
    report,
    round_ratios,
    served,
    service,
    token_script,
    wrk,
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


BATCH = 100
METADATA = {"car": "rx-7", "track": "nordschleife", "replay": "r" + "0" * 36,
            "tyres": "soft", "fuel": 42, "pad": "x" * 80}  # 200 bytes serialized


async def make_players(redis_url: str, db_url: str, n: int) -> list[str]:
    """Players' tokens."""
    return (await make_writers(redis_url, db_url, n))[1]


async def make_writers(redis_url: str, db_url: str, n: int
                       ) -> tuple[list[str], list[str], str]:
    """Players' ids and tokens, and a server key."""
    from redis.asyncio import Redis

    from scoreboard.auth import tokens as auth
    from scoreboard.persist.migrations import migrate
    from scoreboard.persist.pool import create_pool
    from scoreboard.players import users
    from scoreboard.settings import Config
    from scoreboard.trust.admin import KeyAdmin

    pool = await create_pool(db_url)
    redis = Redis.from_url(redis_url)
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
        cfg = Config(jwt_secret=SECRET)
        uids: list[str] = []
        tokens: list[str] = []
        for i in range(n):
            user = await users.create(pool, redis, f"bench_{i}_{id(tokens) % 9999}",
                                      f"bench{i}_{id(tokens) % 9999}@x.io", None)
            uids.append(user["id"])
            tokens.append(auth.mint(cfg, user["id"]))
        key = await KeyAdmin(pool, redis, ["bench"]).create(
            "00000000-0000-0000-0000-000000000000", "bench", None)
        return uids, tokens, key["key"]
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
    ap.add_argument("--no-trusted", action="store_true",
                    help="leave out the server key, metadata and batch measures")
    args = ap.parse_args()
    rows: dict[str, dict[str, float]] = {}
    ratios: dict[str, float] = {}
    opts = {"rounds": args.rounds, "seconds": args.seconds, "connections": args.connections}
    with tempfile.TemporaryDirectory() as tmp, backing_servers() as (redis_url, db_url):
        actions = Path(tmp) / "actions.json"
        actions.write_text(json.dumps({"bench": {"max_increment": 1000,
                                                 "rate_per_minute": 10**9}}))
        uids, tokens, key = asyncio.run(make_writers(redis_url, db_url, args.players))
        script = token_script(tokens, "POST", "/api/v1/scores/update", UPDATE_BODY)
        trusted = [] if args.no_trusted else trusted_measures(uids, tokens, key)

        def settle(done: str) -> None:  # after the service's turns only
            if done not in ("hello world", "plain first cut"):
                persisted(redis_url)

        for mode in args.modes.split(","):
            label = f"update ({mode})"
            with hello_world() as hello, first_cut(redis_url) as cut, \
                    service(redis_url, db_url, ACTIONS_FILE=str(actions), PERSIST_MODE=mode,
                            PERSIST_INTERVAL_S="0.5") as url:
                runs = interleaved((("hello world", hello + "/", HELLO_SCRIPT),
                                    ("plain first cut", cut + "/", script),
                                    (label, url + "/", script),
                                    *((f"{name} ({mode})", url + "/", body)
                                      for name, body in trusted)),
                                   settle=settle, **opts)
                if mode == "batch":
                    ratios.update(redis_cost(redis_url, url, script, args.seconds,
                                             args.connections))
            rows.update(medians(runs))
            ratios[f"{label} / hello world"] = print_ratio(
                f"{label} / hello world", round_ratios(runs, label, "hello world"), ">= 0.30")
            ratios[f"{label} / plain first cut"] = print_ratio(
                f"{label} / plain first cut", round_ratios(runs, label, "plain first cut"),
                ">= 2.0")
            if trusted:
                ratios.update(trusted_ratios(runs, mode))
    report("updates", rows, "hello world", ratios)


BARE_PAIRS = 200_000  # ZINCRBY + XADD pairs redis-benchmark sends, 16 to a pipeline


def _redis_cpu_s(redis: Any) -> float:
    info = redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def redis_cost(redis_url: str, url: str, script: str, seconds: int,
               connections: int) -> dict[str, float]:
    """Redis's own CPU per single-board update at saturation (everything Redis does for
    it: the script, Worker 1's reads and acks, the pushes' reads; until Worker 1 has
    caught up), against a pipelined bare ZINCRBY + XADD pair (redis-benchmark -P 16)
    on the same server, same run."""
    from redis import Redis

    from scoreboard.store import keys

    redis = Redis.from_url(redis_url)
    try:
        redis.config_resetstat()
        cpu0, seq0 = _redis_cpu_s(redis), int(redis.get(keys.SEQ) or 0)
        wrk(url + "/", seconds=max(seconds, 4), connections=connections, script=script)
        persisted(redis_url)
        cpu1, seq1 = _redis_cpu_s(redis), int(redis.get(keys.SEQ) or 0)
        updates = max(1, seq1 - seq0)
        per_update = (cpu1 - cpu0) / updates * 1e6
        stats = redis.info("commandstats")
        shares = sorted(((v["usec"] / updates, k.removeprefix("cmdstat_"), v["calls"] / updates)
                         for k, v in stats.items()), reverse=True)[:6]
        print("Redis command time per update (us, calls per update): " + ", ".join(
            f"{name} {us:.1f} ({calls:.2f})" for us, name, calls in shares))
        host, port = redis.connection_pool.connection_kwargs["host"], \
            redis.connection_pool.connection_kwargs["port"]
        bench = [ensure_tool("redis-benchmark"), "-h", str(host), "-p", str(port), "-P", "16",
                 "-n", str(BARE_PAIRS), "-r", "100000", "-q"]
        cpu2 = _redis_cpu_s(redis)
        subprocess.run([*bench, "ZINCRBY", "bench:bare", "1", "m:__rand_int__"], check=True,
                       capture_output=True, timeout=300)
        subprocess.run([*bench, "XADD", "bench:bare:s", "MAXLEN", "~", "100000", "*", "u",
                        "__rand_int__"], check=True, capture_output=True, timeout=300)
        per_pair = (_redis_cpu_s(redis) - cpu2) / BARE_PAIRS * 1e6
        redis.delete("bench:bare", "bench:bare:s")
    finally:
        redis.close()
    ratio = per_update / per_pair
    print(f"Redis CPU per update {per_update:.1f} us; per bare ZINCRBY + XADD pair "
          f"{per_pair:.1f} us; ratio {ratio:.1f} (goal <= 3)")
    return {"redis us per update": per_update, "redis us per bare pair": per_pair,
            "redis update / bare pair": ratio}


def trusted_measures(uids: list[str], tokens: list[str], key: str) -> list[tuple[str, str]]:
    """(name, wrk script) of the server key's, the metadata's and the batches' runs."""
    def update(uid: str | None = None, **more: object) -> dict[str, object]:
        body: dict[str, object] = {"action_type": "bench", "score_increment": 1, **more}
        if uid is not None:
            body["user_id"] = uid
        return body

    meta = json.dumps(update(metadata=METADATA))
    assert len(json.dumps(METADATA, separators=(",", ":"))) == 200
    batches = [json.dumps({"updates": [update(uids[(b * BATCH + i) % len(uids)])
                                       for i in range(BATCH)]})
               for b in range(max(1, len(uids) // BATCH))]
    path = "/api/v1/scores/update"
    return [("update with a key", posts_script([key], [json.dumps(update(u)) for u in uids],
                                               path)),
            ("update with 200 B metadata", posts_script(tokens, [meta], path)),
            (f"batch of {BATCH}", posts_script([key], batches, "/api/v1/scores/batch"))]


def trusted_ratios(runs: dict[str, list[dict[str, float]]], mode: str) -> dict[str, float]:
    single = f"update ({mode})"
    out = {}
    name = f"update with a key ({mode}) / with a token"
    out[name] = print_ratio(name, round_ratios(runs, f"update with a key ({mode})", single),
                            ">= 0.95")
    name = f"update with 200 B metadata ({mode}) / without"
    out[name] = print_ratio(name, round_ratios(
        runs, f"update with 200 B metadata ({mode})", single), ">= 0.91 (at most 10% more)")
    batch = f"batch of {BATCH} ({mode})"
    name = f"updates/s in batches of {BATCH} ({mode}) / single"
    out[name] = print_ratio(name, [BATCH * r for r in round_ratios(runs, batch, single)],
                            ">= 5")
    name = f"batch of {BATCH} p99 ({mode}) / single update p99"
    out[name] = print_ratio(name, [b["p99_ms"] / s["p99_ms"]
                                   for b, s in zip(runs[batch], runs[single], strict=True)],
                            "< 10")
    return out


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

"""What waiting for a replica costs, and what not waiting loses in a Redis failover.

    python -m bench.failover [--seconds 5] [--after 15]

Starts a Redis master, a replica and three Sentinels, a PostgreSQL, and the
service (one process, found through Sentinel). Then:
1. the update rate with REDIS_WAIT_REPLICAS=1 as a share of REDIS_WAIT_REPLICAS=0,
   two wrk rounds each (one token per player);
2. for each setting, on a fresh group: players post increments of 1 under load,
   ``SENTINEL FAILOVER`` moves the master, the load runs ``--after`` seconds more,
   and the acknowledged increments are compared with what the new master holds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import redis
from redis.asyncio import Redis

from bench.common import UPDATE_BODY, service, token_script, wrk
from bench.updates import make_players
from scoreboard.store import keys
from scoreboard.testing.servers import PostgresServer, SentinelGroup, wait_until


@contextlib.contextmanager
def group_and_service(root: Path, db_url: str, wait: int, actions: Path
                      ) -> Iterator[tuple[SentinelGroup, str]]:
    group = SentinelGroup(root)
    group.start()
    try:
        sentinels = ",".join(f"{h}:{p}" for h, p in group.addresses)
        with service("", db_url, ACTIONS_FILE=str(actions), REDIS_SENTINELS=sentinels,
                     REDIS_SENTINEL_MASTER=group.name, REDIS_WAIT_REPLICAS=str(wait),
                     REQUEST_TIMEOUT_S="1") as url:
            yield group, url
    finally:
        group.stop()


async def failover_loss(group: SentinelGroup, url: str, tokens: dict[str, str],
                        after_s: float) -> dict[str, Any]:
    acked: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    warmed = asyncio.Event()
    running = True

    async def player(session: aiohttp.ClientSession, uid: str, token: str) -> None:
        while running:
            try:
                async with session.post(url + "/api/v1/scores/update", data=UPDATE_BODY,
                                        headers={"Authorization": f"Bearer {token}",
                                                 "Content-Type": "application/json"}) as r:
                    await r.read()
                    statuses[r.status] += 1
                    if sum(statuses.values()) >= 500:
                        warmed.set()
                    if r.status == 200:
                        acked[uid] += 1
            except aiohttp.ClientError:
                statuses[0] += 1

    async with aiohttp.ClientSession() as session:
        tasks = [asyncio.create_task(player(session, u, t)) for u, t in tokens.items()]
        await warmed.wait()
        old = group.master_address()
        await asyncio.to_thread(group.failover)
        await asyncio.to_thread(wait_until, lambda: group.master_address() != old, 30)
        await asyncio.sleep(after_s)
        running = False
        await asyncio.gather(*tasks)
    # Sentinel turns the old master into a replica, which drops what it took alone
    old_master = redis.Redis(host=old[0], port=old[1])
    await asyncio.to_thread(wait_until, lambda: old_master.role()[0] == b"slave", 60)
    host, port = group.master_address()
    master = Redis(host=host, port=port)
    kept = int(sum(s for _, s in await master.zrange(keys.SCORES, 0, -1, withscores=True)))
    await master.aclose()
    return {"acked": sum(acked.values()), "kept": kept,
            "503": statuses[503], "other": sum(v for k, v in statuses.items()
                                                if k not in (200, 503))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--after", type=float, default=15.0)
    ap.add_argument("--players", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sb-bench-") as tmp:
        root = Path(tmp)
        root.chmod(0o755)
        actions = root / "actions.json"
        actions.write_text(json.dumps({"bench": {"max_increment": 1000,
                                                 "rate_per_minute": 10**9}}))
        pg = PostgresServer(root / "pg")
        pg.init()
        pg.start()
        try:
            rates: dict[int, list[float]] = {0: [], 1: []}
            losses: dict[int, dict[str, Any]] = {}
            for i, wait in enumerate((0, 1)):
                with group_and_service(root / f"rate{i}", pg.url, wait, actions) as (g, url):
                    tokens = asyncio.run(make_players(g.master.url,  # type: ignore[union-attr]
                                                      pg.url, args.players))
                    script = token_script(tokens, "POST", "/api/v1/scores/update", UPDATE_BODY)
                    for _ in range(2):
                        rates[wait].append(wrk(url + "/", seconds=args.seconds,
                                               script=script)["rps"])
            for wait in (0, 1):
                with group_and_service(root / f"loss{wait}", pg.url, wait, actions) as (g, url):
                    uids = asyncio.run(_players(g, pg.url, 8))
                    losses[wait] = asyncio.run(failover_loss(g, url, uids, args.after))
        finally:
            pg.stop("immediate")
    print("\n== failover ==")
    for wait in (0, 1):
        print(f"REDIS_WAIT_REPLICAS={wait}: updates {sum(rates[wait]) / 2:8.0f} req/s "
              f"(rounds {', '.join(f'{r:.0f}' for r in rates[wait])})")
    print(f"WAIT 1 / WAIT 0: {sum(rates[1]) / sum(rates[0]):.2f}")
    for wait, loss in losses.items():
        lost = max(0, loss["acked"] - loss["kept"])
        extra = max(0, loss["kept"] - loss["acked"])
        print(f"REDIS_WAIT_REPLICAS={wait}: SENTINEL FAILOVER under load: "
              f"{loss['acked']} updates acknowledged, {loss['kept']} on the new master: "
              f"{lost} acknowledged updates lost; {loss['503']} answered 503, of which "
              f"{extra} counted (a 503 means unknown: retry with the Idempotency-Key)")


async def _players(group: SentinelGroup, db_url: str, n: int) -> dict[str, str]:
    import jwt

    tokens = await make_players(group.master.url, db_url, n)  # type: ignore[union-attr]
    return {jwt.decode(t, options={"verify_signature": False})["sub"]: t for t in tokens}


if __name__ == "__main__":
    main()

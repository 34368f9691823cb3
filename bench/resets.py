"""What frequent season ends cost the writes to other boards: the board definitions
carry one version, so a reset of any board sends every update in flight into a reload
(one GET of the version, one HGETALL of the definitions per process) and a retry.

    python -m bench.resets [--boards 999] [--resets-per-s 5] [--seconds 4] [--rounds 4]

Starts a real Redis and PostgreSQL and the service (one process, defaults), creates
``--boards`` boards (100 actions feeding up to 10 each: the definitions Redis holds
are as big as BOARDS_MAX allows) and runs updates of an action that feeds `global`
only (wrk, 50 connections, 500 players), in interleaved rounds: quiet, and while an
admin ends the season of another board ``--resets-per-s`` times a second. Prints the
median rate and p99 of each and the ratio of the rates (the rounds' median).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from bench.common import (
    SECRET,
    backing_servers,
    board_admin,
    medians,
    print_ratio,
    report,
    round_ratios,
    service,
    token_script,
    wrk,
)

UPDATE = '{"action_type": "bench", "score_increment": 1}'
PLAYERS = 500


def actions(n: int) -> dict[str, dict[str, int]]:
    return {"bench": {"max_increment": 10, "rate_per_minute": 10**9},
            **{f"a{i}": {"max_increment": 10, "rate_per_minute": 10**9}
               for i in range((n + 9) // 10)}}


async def fill(redis_url: str, db_url: str, boards: int,
               actions_file: Path) -> tuple[list[str], str]:
    """The boards and the players; returns the players' tokens and an admin token."""
    from scoreboard.auth import tokens as auth
    from scoreboard.players import users
    from scoreboard.settings import Config

    cfg = Config(jwt_secret=SECRET)
    async with board_admin(redis_url, db_url, actions_file) as (pool, redis, admin):
        for i in range(boards):
            await admin.create("00000000-0000-0000-0000-000000000000", {
                "id": f"b{i:04d}", "title": f"Board {i} ".ljust(100, "x"),
                "actions": [f"a{i // 10}"], "order": "desc", "operator": "incr",
                "reset": "0 0 * * *", "timezone": "Europe/Berlin"})
        made = [await users.create(pool, redis, f"r{n}", f"r{n}@x.io", None)
                for n in range(PLAYERS)]
        admin_user = await users.create(pool, redis, "bench_admin", "a@x.io", None)
        return ([auth.mint(cfg, u["id"]) for u in made],
                auth.mint(cfg, admin_user["id"], admin=True))


def resetting(url: str, admin: str, per_s: float, stop: threading.Event,
              took: list[float]) -> None:
    """Ends b0000's season ``per_s`` times a second until ``stop``; each request's ms."""
    while not stop.is_set():
        req = urllib.request.Request(f"{url}/api/v1/admin/boards/b0000/reset", method="POST",
                                     headers={"Authorization": f"Bearer {admin}"})
        t0 = time.perf_counter()
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert resp.status == 200
        took.append((time.perf_counter() - t0) * 1000)
        stop.wait(max(0.0, 1 / per_s - took[-1] / 1000))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--boards", type=int, default=999)
    ap.add_argument("--resets-per-s", type=float, default=5.0)
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, backing_servers() as (redis_url, db_url):
        actions_file = Path(tmp) / "actions.json"
        actions_file.write_text(json.dumps(actions(args.boards)))
        started = time.monotonic()
        tokens, admin = asyncio.run(fill(redis_url, db_url, args.boards, actions_file))
        print(f"{args.boards} boards and {PLAYERS} players in {time.monotonic() - started:.0f} s")
        script = token_script(tokens, "POST", "/api/v1/scores/update", UPDATE)
        runs: dict[str, list[dict[str, float]]] = {"quiet": [], "resets": []}
        resets: list[float] = []
        with service(redis_url, db_url, ACTIONS_FILE=str(actions_file)) as url:
            wrk(url + "/", seconds=2, connections=50, script=script)  # warm up
            for r in range(args.rounds):
                for kind in (("quiet", "resets") if r % 2 == 0 else ("resets", "quiet")):
                    if kind == "quiet":
                        runs[kind].append(wrk(url + "/", seconds=args.seconds, connections=50,
                                              script=script))
                        continue
                    stop = threading.Event()
                    thread = threading.Thread(target=resetting, args=(
                        url, admin, args.resets_per_s, stop, resets))
                    thread.start()
                    runs[kind].append(wrk(url + "/", seconds=args.seconds, connections=50,
                                          script=script))
                    stop.set()
                    thread.join()
    ratios = round_ratios(runs, "resets", "quiet")
    report("resets", medians(runs), "quiet",
           {"resets / quiet": statistics.median(ratios)})
    print_ratio(f"global updates, {args.resets_per_s:g} resets/s", ratios, "none")
    print(f"{len(resets)} resets, median request {statistics.median(resets):.0f} ms")


if __name__ == "__main__":
    main()

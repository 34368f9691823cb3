"""Boards cost: an update that feeds three boards against one that feeds one, and a
non-global board's top 10 against the seed's, measured in one run, interleaved.

    python -m bench.boards [--seconds 2] [--players 1000] [--rounds 16]

Starts a real Redis and PostgreSQL, the service (one process) and the aiohttp hello
world of bench.updates and bench.reads; the action `solo` feeds `global` only,
`triple` feeds `global`, `b1` and `b2`. Hello world runs in both sets of rounds, so
the goals stated against it are measured on a board fed by the same action as two
others as well: an update feeding three boards (goal: at least 0.30 of hello world,
as bench.updates' on `global`) and b1's top 10 (at least 0.70, as bench.reads'
seed top 10). Prints each median rate and the four ratios (the two between boards:
at least 0.8 and 0.9), each the median of the rounds' ratios, with every round's
ratio beside it. After each round of updates it waits for Worker 1 to persist them,
as bench.updates does, so that work falls into no later round.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path

from bench.common import (
    backing_servers,
    board_admin,
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
from bench.updates import HELLO_SCRIPT, make_players, persisted

ACTIONS = {"solo": {"max_increment": 1000, "rate_per_minute": 10**9},
           "triple": {"max_increment": 1000, "rate_per_minute": 10**9}}


async def make_boards(redis_url: str, db_url: str, actions_file: Path) -> None:
    async with board_admin(redis_url, db_url, actions_file) as (_, _, admin):
        for board in ("b1", "b2"):
            await admin.create("00000000-0000-0000-0000-000000000000", {
                "id": board, "title": board, "actions": ["triple"], "order": "desc",
                "operator": "incr", "reset": None, "timezone": "UTC"})


def body(action: str) -> str:
    return json.dumps({"action_type": action, "score_increment": 1})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=2)
    ap.add_argument("--players", type=int, default=1000)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=16)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, backing_servers() as (redis_url, db_url):
        actions = Path(tmp) / "actions.json"
        actions.write_text(json.dumps(ACTIONS))
        tokens = asyncio.run(make_players(redis_url, db_url, args.players))
        asyncio.run(make_boards(redis_url, db_url, actions))
        path = "/api/v1/scores/update"
        opts = {"rounds": args.rounds, "seconds": args.seconds, "connections": args.connections}
        def settle(done: str) -> None:  # after the service's updates only
            if done.startswith("update,"):
                persisted(redis_url)

        with hello_world() as hello, \
                service(redis_url, db_url, ACTIONS_FILE=str(actions)) as url:  # as shipped
            updates = (("hello world", hello + "/", HELLO_SCRIPT),
                       ("update, 1 board", url + "/",
                        token_script(tokens, "POST", path, body("solo"))),
                       ("update, 3 boards", url + "/",
                        token_script(tokens, "POST", path, body("triple"))))
            reads = (("hello world", hello + "/", None),
                     ("top10, seed", url + "/api/v1/leaderboard/top10", None),
                     ("top10, board b1", url + "/api/v1/boards/b1/top10", None))
            # scores on all three boards first; then the reads, on a machine not yet busy
            # with PostgreSQL's vacuum of the updates' rows
            wrk(url + "/", seconds=args.seconds, connections=args.connections,
                script=updates[2][2])
            persisted(redis_url)
            read_runs = interleaved(reads, **opts)
            update_runs = interleaved(updates, settle=settle, **opts)
    update_ratio = print_ratio("3-board update / 1-board update",
                               round_ratios(update_runs, "update, 3 boards", "update, 1 board"),
                               ">= 0.80")
    read_ratio = print_ratio("board top10 / seed top10",
                             round_ratios(read_runs, "top10, board b1", "top10, seed"), ">= 0.90")
    update_hello = print_ratio("3-board update / hello world",
                               round_ratios(update_runs, "update, 3 boards", "hello world"),
                               ">= 0.30")
    read_hello = print_ratio("board top10 / hello world",
                             round_ratios(read_runs, "top10, board b1", "hello world"),
                             ">= 0.70")
    report("boards", medians(update_runs), "update, 1 board",
           {"update, 3 boards / update, 1 board": update_ratio,
            "update, 3 boards / hello world": update_hello})
    report("boards_reads", medians(read_runs), "top10, seed",
           {"top10, board b1 / top10, seed": read_ratio,
            "top10, board b1 / hello world": read_hello})


if __name__ == "__main__":
    main()

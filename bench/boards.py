"""Boards cost: an update that feeds three boards against one that feeds one, and a
non-global board's top 10 against the seed's, measured in one run, interleaved.

    python -m bench.boards [--seconds 2] [--players 1000] [--rounds 16]

Starts a real Redis and PostgreSQL and the service (one process); the action
`solo` feeds `global` only, `triple` feeds `global`, `b1` and `b2`. Prints each
median rate and the two ratios (goals: at least 0.8 and 0.9), each the median of the
rounds' paired ratios, with every round's ratio beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
from pathlib import Path

from bench.common import backing_servers, report, service, token_script, wrk
from bench.updates import make_players

ACTIONS = {"solo": {"max_increment": 1000, "rate_per_minute": 10**9},
           "triple": {"max_increment": 1000, "rate_per_minute": 10**9}}


async def make_boards(redis_url: str, db_url: str, actions_file: Path) -> None:
    from redis.asyncio import Redis

    from scoreboard.board.admin import BoardAdmin
    from scoreboard.board.registry import Boards
    from scoreboard.persist.pool import create_pool
    from scoreboard.scoring.actions import load_actions

    pool = await create_pool(db_url)
    redis = Redis.from_url(redis_url)
    try:
        boards = Boards(redis, pool)
        await boards.ensure()
        await boards.load()
        admin = BoardAdmin(pool, redis, boards, load_actions(actions_file))
        for board in ("b1", "b2"):
            await admin.create("00000000-0000-0000-0000-000000000000", {
                "id": board, "title": board, "actions": ["triple"], "order": "desc",
                "operator": "incr", "reset": None, "timezone": "UTC"})
    finally:
        await redis.aclose()
        await pool.close()


def body(action: str) -> str:
    return json.dumps({"action_type": action, "score_increment": 1})


def paired(url: str, pair: tuple[tuple[str, str, str | None], ...], *, rounds: int,
           seconds: int, connections: int) -> tuple[dict[str, list[dict[str, float]]],
                                                    list[float]]:
    """Runs the two measures of ``pair`` (label, path, wrk script) back to back, in ABBA
    order from round to round (a shared machine drifts); returns every run and each
    round's ratio of the second to the first."""
    runs: dict[str, list[dict[str, float]]] = {label: [] for label, _, _ in pair}
    ratios = []
    for i in range(rounds):
        order = pair if i % 2 == 0 else pair[::-1]
        got = {label: wrk(url + path, seconds=seconds, connections=connections, script=script)
               for label, path, script in order}
        for label, r in got.items():
            runs[label].append(r)
        ratios.append(got[pair[1][0]]["rps"] / got[pair[0][0]]["rps"])
    return runs, ratios


def summary(runs: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, float]]:
    return {label: {key: statistics.median(r[key] for r in rs) for key in rs[0]}
            for label, rs in runs.items()}


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
        updates = (("update, 1 board", "/", token_script(tokens, "POST", path, body("solo"))),
                   ("update, 3 boards", "/", token_script(tokens, "POST", path, body("triple"))))
        reads = (("top10, seed", "/api/v1/leaderboard/top10", None),
                 ("top10, board b1", "/api/v1/boards/b1/top10", None))
        opts = {"rounds": args.rounds, "seconds": args.seconds, "connections": args.connections}
        with service(redis_url, db_url, ACTIONS_FILE=str(actions)) as url:  # as shipped
            # scores on all three boards first; then the reads, on a machine not yet busy
            # with PostgreSQL's vacuum of the updates' rows
            wrk(url + "/", seconds=args.seconds, connections=args.connections,
                script=updates[1][2])
            read_runs, read_ratios = paired(url, reads, **opts)
            update_runs, update_ratios = paired(url, updates, **opts)
    report("boards", summary(update_runs), "update, 1 board")
    report("boards_reads", summary(read_runs), "top10, seed")
    for what, ratios, goal in (("3-board update / 1-board update", update_ratios, 0.8),
                               ("board top10 / seed top10", read_ratios, 0.9)):
        spread = ", ".join(f"{r:.2f}" for r in ratios)
        print(f"{what:<32} median {statistics.median(ratios):.2f} (goal >= {goal:.2f};"
              f" rounds: {spread})")


if __name__ == "__main__":
    main()

"""Boards cost: an update that feeds three boards against one that feeds one, and a
non-global board's top 10 against the seed's, measured in one run, interleaved.

    python -m bench.boards [--seconds 6] [--players 1000] [--rounds 2]

Starts a real Redis and PostgreSQL and the service (one process); the action
`solo` feeds `global` only, `triple` feeds `global`, `b1` and `b2`. Prints each
rate and the two ratios (goals: at least 0.8 and 0.9).
"""

from __future__ import annotations

import argparse
import asyncio
import json
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=6)
    ap.add_argument("--players", type=int, default=1000)
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    runs: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp, backing_servers() as (redis_url, db_url):
        actions = Path(tmp) / "actions.json"
        actions.write_text(json.dumps(ACTIONS))
        tokens = asyncio.run(make_players(redis_url, db_url, args.players))
        asyncio.run(make_boards(redis_url, db_url, actions))
        scripts = {
            "update, 1 board": token_script(tokens, "POST", "/api/v1/scores/update",
                                            body("solo")),
            "update, 3 boards": token_script(tokens, "POST", "/api/v1/scores/update",
                                             body("triple")),
        }
        with service(redis_url, db_url, ACTIONS_FILE=str(actions),
                     PERSIST_INTERVAL_S="0.5") as url:
            for _ in range(args.rounds):  # interleaved: a shared machine drifts
                for name, script in scripts.items():
                    r = wrk(url + "/", seconds=args.seconds, connections=args.connections,
                            script=script)
                    runs.setdefault(name, []).append(r["rps"])
                for name, path in (("top10, seed", "/api/v1/leaderboard/top10"),
                                   ("top10, board b1", "/api/v1/boards/b1/top10")):
                    r = wrk(url + path, seconds=args.seconds, connections=args.connections)
                    runs.setdefault(name, []).append(r["rps"])
    rows = {name: {"rps": sum(v) / len(v)} for name, v in runs.items()}
    report("boards", {k: rows[k] for k in ("update, 1 board", "update, 3 boards")},
           "update, 1 board")
    report("boards_reads", {k: rows[k] for k in ("top10, seed", "top10, board b1")},
           "top10, seed")
    upd = rows["update, 3 boards"]["rps"] / rows["update, 1 board"]["rps"]
    top = rows["top10, board b1"]["rps"] / rows["top10, seed"]["rps"]
    print(f"\n3-board update / 1-board update: {upd:.2f} (goal >= 0.80)")
    print(f"board top10 / seed top10:         {top:.2f} (goal >= 0.90)")


if __name__ == "__main__":
    main()

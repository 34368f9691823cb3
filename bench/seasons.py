"""A season's end on a big board while updates run: the update p99 during the reset
against the quiet p99 of the same run, and how long the archive takes.

    python -m bench.seasons [--players 1000000] [--seconds 8]

Starts a real Redis and PostgreSQL and the service (one process, defaults). The board
`big` (fed by `bench`, as `global` is) holds ``--players`` players in season 1, in
Redis and in PostgreSQL. Updates from 500 of them run (wrk, 20 connections) twice
quietly, then once while an admin ends the season (one second in). Prints both p99s,
their ratio (goal: at most 2), the reset request's time and the archive's (from the
end of the season until PostgreSQL has its final ranks and Redis has let it go).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from bench.common import (
    SECRET,
    backing_servers,
    board_admin,
    report,
    service,
    token_script,
    wrk,
)

BOARD = "big"
ACTIONS = {"bench": {"max_increment": 10, "rate_per_minute": 10**9}}
UPDATE = '{"action_type": "bench", "score_increment": 1}'
CHUNK = 20_000


Chunk = Callable[[Any, list[uuid.UUID], range], None]


async def fill(redis_url: str, db_url: str, size: int, sample: int,
               actions_file: Path) -> tuple[list[str], str]:
    """``size`` players on `big`'s season 1; returns tokens of ``sample`` of them and an
    admin token."""
    async with board_admin(redis_url, db_url, actions_file) as (pool, redis, admin):
        await admin.create("00000000-0000-0000-0000-000000000000", {
            "id": BOARD, "title": "Big", "actions": ["bench"], "order": "desc",
            "operator": "incr", "reset": None, "timezone": "UTC"})
        return await populate(pool, redis, db_url, BOARD, size, sample)


async def populate(pool: Any, redis: Any, db_url: str, board: str, size: int, sample: int,
                   chunk: Chunk | None = None) -> tuple[list[str], str]:
    """``size`` players on ``board``'s season 1, in Redis (its sorted set and member
    hash; ``chunk(pipe, ids, part)`` adds to each chunk's pipeline) and in PostgreSQL
    (users and board_scores, by COPY); returns tokens of ``sample`` of them (who have
    profiles) and an admin token."""
    from scoreboard.auth import tokens as auth
    from scoreboard.players import users
    from scoreboard.settings import Config
    from scoreboard.store import keys

    cfg = Config(jwt_secret=SECRET)
    k = keys.board_keys(board, 1)
    ids = [uuid.UUID(int=n + 1) for n in range(size)]
    score = [(n * 7919) % 1_000_000 + 1 for n in range(size)]
    for start in range(0, size, CHUNK):
        part = range(start, min(size, start + CHUNK))
        async with redis.pipeline(transaction=False) as pipe:
            members = {str(ids[n]): keys.member_for(n + 1, str(ids[n])) for n in part}
            pipe.zadd(k.scores, {members[str(ids[n])]: score[n] for n in part})
            pipe.hset(k.member, mapping=members)
            if chunk is not None:
                chunk(pipe, ids, part)
            await pipe.execute()
    chosen = [str(ids[n]) for n in range(0, size, max(1, size // sample))][:sample]
    await redis.hset(keys.PROFILES, mapping={
        uid: json.dumps({"username": f"p{uid[-6:]}", "avatar_url": None}) for uid in chosen})
    await redis.set(keys.SEQ, size + 1)
    now = datetime.now(UTC)
    conn = await asyncpg.connect(db_url)  # no command timeout: a million rows
    try:
        await conn.copy_records_to_table(
            "users", columns=["id", "username", "email"],
            records=((ids[n], f"p{n}", f"p{n}@x.io") for n in range(size)))
        await conn.copy_records_to_table(
            "board_scores", columns=["board_id", "season", "user_id", "score",
                                     "reached_seq", "last_updated"],
            records=((board, 1, ids[n], score[n], n + 1, now) for n in range(size)))
    finally:
        await conn.close()
    admin_user = await users.create(pool, redis, "bench_admin", "a@x.io", None)
    return ([auth.mint(cfg, uid) for uid in chosen], auth.mint(cfg, admin_user["id"],
                                                              admin=True))


async def archive_done(db_url: str, within: float) -> dict[str, float]:
    """Waits for the season's archive; its duration from the end of the season."""
    conn = await asyncpg.connect(db_url)
    try:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            row = await conn.fetchrow(
                "SELECT players, extract(epoch FROM archived_at - ended_at) AS took"
                " FROM board_seasons WHERE board_id = $1 AND season = 1"
                " AND archived_at IS NOT NULL", BOARD)
            if row is not None:
                return {"archive_s": float(row["took"]), "archived_players": row["players"]}
            await asyncio.sleep(0.2)
        return {"archive_s": float("nan"), "archived_players": 0}
    finally:
        await conn.close()


def quiet_then_reset(url: str, script: str, admin: str, board: str, seconds: int
                     ) -> tuple[dict[str, float], dict[str, float], float]:
    """Updates (wrk with ``script``) while quiet (two runs of ``seconds``, averaged) and
    while ``board``'s season is ended (its reset asked one second into a run of
    ``seconds``), and how long the reset request took (ms)."""
    wrk(url + "/", seconds=2, connections=20, script=script)  # warm up
    quiet = [wrk(url + "/", seconds=seconds, connections=20, script=script) for _ in range(2)]
    took: dict[str, float] = {}

    def end_season() -> None:
        time.sleep(1)  # one second into the measured run
        req = urllib.request.Request(f"{url}/api/v1/admin/boards/{board}/reset", method="POST",
                                     headers={"Authorization": f"Bearer {admin}"})
        t0 = time.perf_counter()
        with urllib.request.urlopen(req, timeout=30) as resp:
            assert resp.status == 200
        took["reset_ms"] = (time.perf_counter() - t0) * 1000

    ender = threading.Thread(target=end_season)
    ender.start()
    during = wrk(url + "/", seconds=seconds, connections=20, script=script)
    ender.join()
    return {k: sum(q[k] for q in quiet) / 2 for k in quiet[0]}, during, took["reset_ms"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--players", type=int, default=1_000_000)
    ap.add_argument("--seconds", type=int, default=8)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, backing_servers() as (redis_url, db_url):
        actions = Path(tmp) / "actions.json"
        actions.write_text(json.dumps(ACTIONS))
        started = time.monotonic()
        tokens, admin = asyncio.run(fill(redis_url, db_url, args.players, 500, actions))
        print(f"{args.players} players on {BOARD!r} in {time.monotonic() - started:.0f} s")
        script = token_script(tokens, "POST", "/api/v1/scores/update", UPDATE)
        rows: dict[str, dict[str, float]] = {}
        with service(redis_url, db_url, ACTIONS_FILE=str(actions)) as url:
            rows["quiet"], rows["during the reset"], reset_ms = quiet_then_reset(
                url, script, admin, BOARD, args.seconds)
            archive = asyncio.run(archive_done(db_url, 300))
    report("seasons", rows, "quiet")
    ratio = rows["during the reset"]["p99_ms"] / rows["quiet"]["p99_ms"]
    print(f"\nupdate p99 during the reset / quiet: {ratio:.2f} (goal <= 2.00)")
    print(f"reset request: {reset_ms:.0f} ms; archive of {archive['archived_players']}"
          f" players: {archive['archive_s']:.1f} s after the season ended")


if __name__ == "__main__":
    main()

"""Competitions: what a tournament and a league cost an update, and a big league's
season end.

    python -m bench.competitions [--rounds 6] [--seconds 2] [--players 1000000]
                                 [--skip-feed] [--skip-end]

Starts a real Redis and PostgreSQL and the service (one process, as shipped).

1. **Feeding** (same run, interleaved rounds): updates of an action that feeds
   `global` alone, against updates of an action that feeds `global`, an open
   tournament (window, size and attempts limits, all far off) and a league (buckets
   of 30). Prints the second's rate over the first's (goal at least 0.8).
2. **A league's season end**: the league `ladder` holds ``--players`` players in
   buckets of 30 (1,000,000 players: 33,334 buckets) in three tiers, in Redis and in
   PostgreSQL. Updates from 500 of them run (wrk, 20 connections) twice quietly,
   then once while an admin ends the season (one second in). Prints both p99s and
   their ratio (goal at most 2), and when promotion and relegation were written
   (PostgreSQL's standings and tiers, then Redis's copy) after the season ended
   (goal within 10 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bench.common import (
    backing_servers,
    board_admin,
    interleaved,
    medians,
    print_ratio,
    report,
    round_ratios,
    service,
    token_script,
)
from bench.seasons import populate, quiet_then_reset
from bench.updates import make_writers, persisted

ACTIONS = {"plain": {"max_increment": 10, "rate_per_minute": 10**9},
           "match": {"max_increment": 10, "rate_per_minute": 10**9},
           "bench": {"max_increment": 10, "rate_per_minute": 10**9}}
ADMIN = "00000000-0000-0000-0000-000000000000"
LEAGUE = {"tiers": ["bronze", "silver", "gold"], "bucket_size": 30, "promote": 5,
          "relegate": 5}
CHUNK = 20_000


def body(action: str) -> str:
    return json.dumps({"action_type": action, "score_increment": 1})


async def competition_boards(redis_url: str, db_url: str, actions: Path) -> None:
    """A tournament open for a day and a weekly league, both fed by `match`."""
    now = datetime.now(UTC)
    async with board_admin(redis_url, db_url, actions) as (_, _, admin):
        await admin.create(ADMIN, {
            "id": "cup", "title": "Cup", "actions": ["match"], "order": "desc",
            "operator": "incr", "reset": None, "timezone": "UTC",
            "starts_at": now - timedelta(minutes=1), "ends_at": now + timedelta(days=1),
            "max_size": 10_000_000, "max_attempts": 1_000_000})
        await admin.create(ADMIN, {
            "id": "league", "title": "League", "actions": ["match"], "order": "desc",
            "operator": "incr", "reset": "0 0 * * 1", "timezone": "UTC", "league": LEAGUE})


def feeding(redis_url: str, db_url: str, actions: Path, args: argparse.Namespace) -> None:
    _, tokens, _ = asyncio.run(make_writers(redis_url, db_url, 2000))
    asyncio.run(competition_boards(redis_url, db_url, actions))
    plain = token_script(tokens, "POST", "/api/v1/scores/update", body("plain"))
    match = token_script(tokens, "POST", "/api/v1/scores/update", body("match"))
    with service(redis_url, db_url, ACTIONS_FILE=str(actions)) as url:
        runs = interleaved((("global alone", url + "/", plain),
                            ("global + tournament + league", url + "/", match)),
                           rounds=args.rounds, seconds=args.seconds, connections=50,
                           settle=lambda _: persisted(redis_url))
    rows = medians(runs)
    ratio = print_ratio("global + tournament + league / global alone",
                        round_ratios(runs, "global + tournament + league", "global alone"),
                        ">= 0.8")
    report("competitions", rows, "global alone",
           {"global + tournament + league / global alone": ratio})


async def fill_league(redis_url: str, db_url: str, size: int, sample: int,
                      actions: Path) -> tuple[list[str], str]:
    """``size`` players on `ladder`'s season 1 in buckets of 30 across the tiers, in
    Redis (scores, placements, buckets) and PostgreSQL; tokens of ``sample`` of them
    and an admin token."""
    from scoreboard.store import keys

    per_bucket = int(LEAGUE["bucket_size"])  # type: ignore[call-overload]
    buckets = (size - 1) // per_bucket + 1

    def placements(pipe: Any, ids: list[uuid.UUID], part: range) -> None:
        pipe.hset(keys.season_key("ladder", 1, "placed"),
                  mapping={str(ids[n]): n // per_bucket + 1 for n in part})
        for n in part:
            pipe.sadd(keys.season_key("ladder", 1, f"bk:{n // per_bucket + 1}"), str(ids[n]))

    async with board_admin(redis_url, db_url, actions) as (pool, redis, admin):
        await admin.create(ADMIN, {
            "id": "ladder", "title": "Ladder", "actions": ["bench"], "order": "desc",
            "operator": "incr", "reset": "0 0 * * 1", "timezone": "UTC", "league": LEAGUE})
        tokens = await populate(pool, redis, db_url, "ladder", size, sample, placements)
        league: dict[str, int] = {"n": buckets}
        for b in range(1, buckets + 1):
            league[f"t{b}"] = b % 3  # every tier has some
            league[f"c{b}"] = min(size, b * per_bucket) - (b - 1) * per_bucket
        await redis.hset(keys.season_key("ladder", 1, "league"), mapping=league)
        return tokens


async def tiers_written(db_url: str, within: float) -> dict[str, float]:
    """When promotion and relegation were written (PostgreSQL's ``league_tiers`` and
    Redis's tiers, one step) and when the season's archive was seen done, in seconds
    after the season ended; how many players moved."""
    conn = await asyncpg.connect(db_url)
    out: dict[str, float] = {}
    try:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline and "archive_s" not in out:
            row = await conn.fetchrow(
                "SELECT extract(epoch FROM tiers_shown_at - ended_at) AS tiers,"
                " archived_at IS NOT NULL AS archived,"
                " extract(epoch FROM clock_timestamp() - ended_at) AS now"
                " FROM board_seasons WHERE board_id = 'ladder' AND season = 1")
            if row is not None and row["tiers"] is not None and "tiers_s" not in out:
                out["tiers_s"] = float(row["tiers"])
                out["moved"] = await conn.fetchval(
                    "SELECT count(*) FROM league_tiers WHERE board_id = 'ladder'")
            if row is not None and row["archived"]:
                out["archive_s"] = float(row["now"])  # seen within 0.2 s of its COMMIT
            await asyncio.sleep(0.2)
        return {"tiers_s": float("nan"), "moved": 0, "archive_s": float("nan"), **out}
    finally:
        await conn.close()


def season_end(redis_url: str, db_url: str, actions: Path, args: argparse.Namespace) -> None:
    started = time.monotonic()
    tokens, admin = asyncio.run(fill_league(redis_url, db_url, args.players, 500, actions))
    print(f"{args.players} players on 'ladder' in {time.monotonic() - started:.0f} s")
    script = token_script(tokens, "POST", "/api/v1/boards/ladder/scores", body("bench"))
    rows: dict[str, dict[str, float]] = {}
    with service(redis_url, db_url, ACTIONS_FILE=str(actions)) as url:
        rows["quiet"], rows["during the season end"], reset_ms = quiet_then_reset(
            url, script, admin, "ladder", args.seconds * 4)
        written = asyncio.run(tiers_written(db_url, 300))
    report("competitions_season_end", rows, "quiet")
    ratio = rows["during the season end"]["p99_ms"] / rows["quiet"]["p99_ms"]
    print(f"\nupdate p99 during the season end / quiet: {ratio:.2f} (goal <= 2.00)")
    print(f"reset request: {reset_ms:.0f} ms; {args.players} players, "
          f"{written['moved']:.0f} promoted or relegated, written {written['tiers_s']:.1f} s "
          f"after the season ended (goal <= 10 s); the season archived "
          f"{written['archive_s']:.1f} s after it ended")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--seconds", type=int, default=2)
    ap.add_argument("--players", type=int, default=1_000_000)
    ap.add_argument("--skip-feed", action="store_true")
    ap.add_argument("--skip-end", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        actions = Path(tmp) / "actions.json"
        actions.write_text(json.dumps(ACTIONS))
        if not args.skip_feed:
            with backing_servers() as (redis_url, db_url):
                feeding(redis_url, db_url, actions, args)
        if not args.skip_end:
            with backing_servers() as (redis_url, db_url):
                season_end(redis_url, db_url, actions, args)


if __name__ == "__main__":
    main()

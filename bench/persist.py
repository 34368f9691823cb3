"""Worker 1's rate from a backlog, and update throughput in batch vs direct mode.

    python -m bench.persist [--events 200000] [--seconds 6]

The backlog's baseline, in the same run: a staged COPY + upsert of the same rows
(COPY into a staging table, insert the new events, add each player's sum to a
totals table: what Worker 1 must do, in SQL alone), into tables with a primary
key only, and again into tables built like the service's (their indexes, checks
and foreign keys: what Worker 1's writes cost PostgreSQL). A bare COPY into a
plain table is shown beside them: the least any path into PostgreSQL can cost. The
modes' baseline is hello world, as in bench.updates.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from bench.common import (
    UPDATE_BODY,
    backing_servers,
    hello_world,
    report,
    service,
    token_script,
    wrk,
)
from bench.updates import HELLO_SCRIPT, make_players

LIKE_SERVICE = "staged COPY + upsert, service's tables"


async def backlog(redis_url: str, db_url: str, events: int) -> dict[str, dict[str, float]]:
    from scoreboard.persist.migrations import migrate
    from scoreboard.persist.pool import create_pool
    from scoreboard.persist.worker import Persister
    from scoreboard.store import keys as store

    pool = await create_pool(db_url)
    redis = Redis.from_url(redis_url)
    async with pool.acquire() as conn:
        await migrate(conn)
    users = [uuid.uuid4() for _ in range(1000)]
    await pool.copy_records_to_table(
        "users", columns=["id", "username", "email"],
        records=[(u, f"bp{u.hex[:12]}", f"{u.hex[:12]}@x.io") for u in users])
    now = int(time.time() * 1000)
    for start in range(0, events, 10_000):
        async with redis.pipeline(transaction=False) as pipe:
            for n in range(start, min(events, start + 10_000)):
                pipe.xadd(store.EVENTS, {"u": str(users[n % 1000]), "a": "kill", "i": "1",
                                         "s": str(n + 1), "t": str(now)})
            await pipe.execute()

    # baseline: the same rows, COPYed into a bare table
    rows = [(f"{now}-{n}", users[n % 1000], "kill", 1, n + 1, datetime.now(UTC))
            for n in range(events)]
    await pool.execute("CREATE TABLE bare (id text, user_id uuid, action_type text,"
                       " score_increment bigint, seq bigint, created_at timestamptz)")
    t0 = time.perf_counter()
    for start in range(0, events, 5000):
        await pool.copy_records_to_table("bare", records=rows[start:start + 5000])
    bare = events / (time.perf_counter() - t0)
    staged = await staged_upsert(pool, rows)
    staged_like = await staged_upsert_like_service(pool, rows)

    worker = Persister(redis, pool, batch_size=5000)
    t0 = time.perf_counter()
    done = await worker.flush()
    rate = done / (time.perf_counter() - t0)
    total = await pool.fetchval("SELECT sum(total_score) FROM scores")
    assert total == events, (total, events)
    await redis.aclose()
    await pool.close()
    return {"bare COPY": {"rps": bare}, "staged COPY + upsert": {"rps": staged},
            LIKE_SERVICE: {"rps": staged_like},
            "Worker 1 (persist)": {"rps": rate}}


async def _timed_batches(pool: Any, rows: list[tuple[Any, ...]], staging_ddl: str,
                         staging: str, statement: str) -> float:
    """Events per second of: per batch of 5000, one transaction that COPYs into the
    temporary ``staging`` table and runs ``statement``."""
    t0 = time.perf_counter()
    for start in range(0, len(rows), 5000):
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(staging_ddl)
            await conn.copy_records_to_table(staging, records=rows[start:start + 5000])
            await conn.execute(statement)
    return len(rows) / (time.perf_counter() - t0)


async def staged_upsert(pool: Any, rows: list[tuple[Any, ...]]) -> float:
    """What Worker 1 must do at least, in SQL alone: per batch of 5000, one transaction
    that COPYs into a staging table, inserts the new events (a primary key refuses a
    second copy) and adds each player's sum to a totals table. Events per second."""
    await pool.execute("CREATE TABLE stage_events (id text PRIMARY KEY, user_id uuid,"
                       " action_type text, score_increment bigint, seq bigint,"
                       " created_at timestamptz)")
    await pool.execute("CREATE TABLE stage_totals (user_id uuid PRIMARY KEY, total bigint,"
                       " reached_seq bigint)")
    return await _timed_batches(
        pool, rows, "CREATE TEMP TABLE IF NOT EXISTS staging (LIKE stage_events)"
        " ON COMMIT DELETE ROWS", "staging",
        "WITH fresh AS (INSERT INTO stage_events SELECT * FROM staging"
        " ON CONFLICT (id) DO NOTHING RETURNING user_id, score_increment, seq)"
        " INSERT INTO stage_totals SELECT user_id, sum(score_increment), max(seq)"
        " FROM fresh GROUP BY user_id ON CONFLICT (user_id) DO UPDATE SET"
        " total = stage_totals.total + EXCLUDED.total,"
        " reached_seq = GREATEST(stage_totals.reached_seq, EXCLUDED.reached_seq)")


async def staged_upsert_like_service(pool: Any, rows: list[tuple[Any, ...]]) -> float:
    """The same staged SQL into tables built like the service's own (``LIKE ...
    INCLUDING ALL``: the same indexes and checks) with the same foreign key to
    ``users`` (the totals table's; the events table has none, sql/008): what Worker 1's
    writes cost PostgreSQL, without Worker 1. Events per second."""
    await pool.execute("CREATE TABLE like_events (LIKE score_events INCLUDING ALL)")
    await pool.execute("CREATE TABLE like_scores (LIKE scores INCLUDING ALL)")
    await pool.execute("ALTER TABLE like_scores ADD FOREIGN KEY (user_id) REFERENCES users(id)")
    return await _timed_batches(
        pool, rows, "CREATE TEMP TABLE IF NOT EXISTS like_staging (id text, user_id uuid,"
        " action_type text, score_increment bigint, seq bigint, created_at timestamptz)"
        " ON COMMIT DELETE ROWS", "like_staging",
        "WITH fresh AS (INSERT INTO like_events (id, user_id, action_type,"
        " score_increment, seq, created_at) SELECT * FROM like_staging"
        " ON CONFLICT (id) DO NOTHING RETURNING user_id, score_increment, seq,"
        " created_at)"
        " INSERT INTO like_scores AS s (user_id, total_score, last_updated, version,"
        " reached_seq) SELECT user_id, sum(score_increment), max(created_at), count(*),"
        " max(seq) FROM fresh GROUP BY user_id ON CONFLICT (user_id) DO UPDATE SET"
        " total_score = s.total_score + EXCLUDED.total_score,"
        " version = s.version + EXCLUDED.version,"
        " last_updated = GREATEST(s.last_updated, EXCLUDED.last_updated),"
        " reached_seq = GREATEST(s.reached_seq, EXCLUDED.reached_seq)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--seconds", type=int, default=6)
    args = ap.parse_args()
    with backing_servers() as (redis_url, db_url):
        rows = asyncio.run(backlog(redis_url, db_url, args.events))
    report("persist", rows, "staged COPY + upsert")
    worker = rows["Worker 1 (persist)"]["rps"]
    like = rows[LIKE_SERVICE]["rps"]
    print(f"Worker 1: {worker:.0f} events/s from a backlog of {args.events}:"
          f" {worker / rows['staged COPY + upsert']['rps']:.2f} of a staged COPY + upsert of"
          f" the same rows (goal >= 0.60); {worker / like:.2f} of the same SQL on tables with"
          " the service's indexes and foreign keys")

    modes: dict[str, dict[str, float]] = {}
    with hello_world() as url:
        modes["hello world"] = wrk(url + "/", seconds=args.seconds, script=HELLO_SCRIPT)
    with tempfile.TemporaryDirectory() as tmp, backing_servers() as (redis_url, db_url):
        actions = Path(tmp) / "actions.json"
        actions.write_text(json.dumps({"bench": {"max_increment": 1000,
                                                 "rate_per_minute": 10**9}}))
        tokens = asyncio.run(make_players(redis_url, db_url, 1000))
        script = token_script(tokens, "POST", "/api/v1/scores/update", UPDATE_BODY)
        for mode in ("batch", "direct"):
            with service(redis_url, db_url, ACTIONS_FILE=str(actions), PERSIST_MODE=mode) as url:
                modes[f"update ({mode})"] = wrk(url + "/", seconds=args.seconds, script=script)
    report("modes", modes, "hello world")
    ratio = modes["update (direct)"]["rps"] / modes["update (batch)"]["rps"]
    print(f"direct mode serves {ratio:.0%} of batch mode's update rate")


if __name__ == "__main__":
    main()
